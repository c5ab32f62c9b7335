package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/powersync-jwks/jwks"
)

// Defaults of the settings that have one.
const (
	// defaultListen does not clash with a PowerSync Service on the same
	// machine, which listens on 8080.
	defaultListen = ":8090"
	// defaultPowerSyncURL is a PowerSync Service run locally (its Docker
	// image and self-hosted demos listen on 8080).
	defaultPowerSyncURL = "http://localhost:8080"
	// defaultKeyFile is where the embedded default keeps its key, relative
	// to the working directory.
	defaultKeyFile = "powersync-auth.key"
)

// The environment variables of the seed project, read as it read them. The
// four that hold secrets have no flag: a command line is visible to every
// user of the machine (ps), an environment is not.
const (
	envPrivateKey   = "POWERSYNC_PRIVATE_KEY"
	envPublicKey    = "POWERSYNC_PUBLIC_KEY"
	envPowerSyncURL = "POWERSYNC_URL"
	envSupabaseURL  = "SUPABASE_URL"
	envAnonKey      = "SUPABASE_ANON_KEY"
	envJWTSecret    = "SUPABASE_JWT_SECRET"
	envPort         = "PORT"
)

// config is the server's configuration, read from the command line and the
// environment by parseConfig. It holds secrets: it is never printed or
// logged.
type config struct {
	listen string // host:port

	powersyncURL        string // the token audience and "powersync_url"
	powersyncURLDefault bool   // powersyncURL is defaultPowerSyncURL, not configured

	signingKey *jwks.Key   // from POWERSYNC_PRIVATE_KEY; nil: use keyFile
	published  []*jwks.Key // from POWERSYNC_PUBLIC_KEY
	keyFile    string

	supabaseURL    string // empty: no /powersync-auth
	anonKey        string // SUPABASE_ANON_KEY
	jwtSecret      string // SUPABASE_JWT_SECRET
	supabaseStrict bool

	anonymous       bool
	anonymousUnique bool
	anonymousBurst  int // 0: no rate limit
	anonymousEvery  time.Duration
	trustedProxies  []netip.Prefix

	corsOrigins []string
	lifetime    time.Duration
	issuer      string

	logFormat string // text or json
	logLevel  slog.Level

	// warnings are said once the logger exists: configuration that works
	// but is probably not what was meant.
	warnings []string
}

// configError is a configuration the server cannot run with: a bad flag, a
// bad environment variable, an unusable key. The command exits with status
// 2. Its message names the setting and never holds a secret.
type configError struct{ msg string }

func (e *configError) Error() string { return e.msg }

func configErrorf(format string, args ...any) error {
	return &configError{msg: fmt.Sprintf(format, args...)}
}

// A setting is one configuration value that has a flag: the flag's name,
// the environment variable that stands in for it, its default, and how its
// text is read into a config. A flag given on the command line wins over the
// variable, which wins over the default; an empty variable counts as unset.
type setting struct {
	flag    string
	env     string
	def     string
	isBool  bool
	usage   string
	apply   func(c *config, v string) error
	envNote string // how the usage text names the variables, when not just env
}

// settings are the flags, in the order the usage text lists them.
var settings = []setting{
	{
		flag: "listen", env: "POWERSYNC_AUTH_LISTEN", def: defaultListen,
		envNote: "POWERSYNC_AUTH_LISTEN, or :$PORT when PORT is set",
		usage:   "`address` to listen on, host:port",
		apply: func(c *config, v string) error {
			if err := checkListen(v); err != nil {
				return err
			}
			c.listen = v
			return nil
		},
	},
	{
		flag: "powersync-url", env: envPowerSyncURL, def: defaultPowerSyncURL,
		usage: "`URL` of the PowerSync instance: the audience of the tokens, and the\n" +
			"powersync_url of the responses (default a local PowerSync Service)",
		apply: func(c *config, v string) error {
			if err := checkURL(v); err != nil {
				return err
			}
			c.powersyncURL = v
			return nil
		},
	},
	{
		flag: "supabase-url", env: envSupabaseURL,
		usage: "`URL` of the Supabase project, https://<ref>.supabase.co; serves\n" +
			"/powersync-auth for its signed-in users (default: that route is off)",
		apply: func(c *config, v string) error {
			if v == "" {
				return nil
			}
			if err := checkURL(v); err != nil {
				return err
			}
			c.supabaseURL = strings.TrimRight(v, "/")
			return nil
		},
	},
	{
		flag: "supabase-strict", env: "POWERSYNC_AUTH_SUPABASE_STRICT", def: "false", isBool: true,
		usage: "ask Supabase's /auth/v1/user about every signed-in caller, as the seed's\n" +
			"getUser() did, to notice sign-outs and bans before the access token\n" +
			"expires (one Supabase call per token; needs SUPABASE_ANON_KEY)",
		apply: boolSetting(func(c *config) *bool { return &c.supabaseStrict }),
	},
	{
		flag: "anonymous", env: "POWERSYNC_AUTH_ANONYMOUS", def: "false", isBool: true,
		usage: "serve /powersync-auth-anonymous: a token for anyone, with subject\n" +
			"\"anonymous\", as the seed's powersync-auth-anonymous function",
		apply: boolSetting(func(c *config) *bool { return &c.anonymous }),
	},
	{
		flag: "anonymous-unique", env: "POWERSYNC_AUTH_ANONYMOUS_UNIQUE", def: "false", isBool: true,
		usage: "give each anonymous token a subject of its own, anon-<random UUID>,\n" +
			"instead of \"anonymous\"",
		apply: boolSetting(func(c *config) *bool { return &c.anonymousUnique }),
	},
	{
		flag: "anonymous-burst", env: "POWERSYNC_AUTH_ANONYMOUS_BURST", def: "10",
		usage: "`number` of anonymous tokens a client IP may have at once before the\n" +
			"rate limit; 0 turns the limit off",
		apply: func(c *config, v string) error {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return fmt.Errorf("%q is not a whole number of 0 or more", v)
			}
			c.anonymousBurst = n
			return nil
		},
	},
	{
		flag: "anonymous-every", env: "POWERSYNC_AUTH_ANONYMOUS_EVERY", def: "1s",
		usage: "after the burst, one anonymous token per client IP every `interval`",
		apply: func(c *config, v string) error {
			d, err := time.ParseDuration(v)
			if err != nil || d <= 0 {
				return fmt.Errorf("%q is not a positive duration, such as 1s or 500ms", v)
			}
			c.anonymousEvery = d
			return nil
		},
	},
	{
		flag: "trusted-proxies", env: "POWERSYNC_AUTH_TRUSTED_PROXIES",
		usage: "comma-separated `CIDRs` or addresses of the proxies (load balancer, CDN)\n" +
			"whose X-Forwarded-For names the client for the rate limit (default none:\n" +
			"the client is the peer address)",
		apply: func(c *config, v string) error {
			for _, item := range splitList(v) {
				p, err := netip.ParsePrefix(item)
				if err != nil {
					a, aerr := netip.ParseAddr(item)
					if aerr != nil {
						return fmt.Errorf("%q is not a CIDR (10.0.0.0/8) or an IP address", item)
					}
					p = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
				}
				c.trustedProxies = append(c.trustedProxies, p.Masked())
			}
			return nil
		},
	},
	{
		flag: "cors-origins", env: "POWERSYNC_AUTH_CORS_ORIGINS",
		usage: "comma-separated `origins` (https://app.example.com, or * for any) whose\n" +
			"web pages may call the token routes (default none)",
		apply: func(c *config, v string) error {
			for _, item := range splitList(v) {
				if err := checkOrigin(item); err != nil {
					return err
				}
				c.corsOrigins = append(c.corsOrigins, item)
			}
			return nil
		},
	},
	{
		flag: "token-lifetime", env: "POWERSYNC_AUTH_TOKEN_LIFETIME", def: "5m",
		usage: "how long tokens are valid: a `duration` of whole seconds, 1s to 24h\n" +
			"(PowerSync's limit); clients fetch a new one before it ends",
		apply: func(c *config, v string) error {
			d, err := time.ParseDuration(v)
			switch {
			case err != nil:
				return fmt.Errorf("%q is not a duration, such as 5m or 1h", v)
			case d < time.Second || d > jwks.MaxTokenLifetime:
				return fmt.Errorf("%v is outside 1s to 24h", d)
			case d%time.Second != 0:
				return fmt.Errorf("%v is not a whole number of seconds", d)
			}
			c.lifetime = d
			return nil
		},
	},
	{
		flag: "issuer", env: "POWERSYNC_AUTH_ISSUER",
		usage: "the `iss` claim of the tokens (default none; the seed wrote SUPABASE_URL:\n" +
			"-issuer \"$SUPABASE_URL\" does the same)",
		apply: func(c *config, v string) error {
			if v != strings.TrimSpace(v) {
				return errors.New("has surrounding spaces")
			}
			c.issuer = v
			return nil
		},
	},
	{
		flag: "key-file", env: "POWERSYNC_AUTH_KEY_FILE", def: defaultKeyFile,
		usage: "`file` that keeps the signing key when POWERSYNC_PRIVATE_KEY is not set:\n" +
			"made (ES256, mode 0600) on first start, reused on restart",
		apply: func(c *config, v string) error {
			if v == "" {
				return errors.New("is empty")
			}
			c.keyFile = v
			return nil
		},
	},
	{
		flag: "log-format", env: "POWERSYNC_AUTH_LOG_FORMAT", def: "text",
		usage: "log `format`: text or json",
		apply: func(c *config, v string) error {
			if v != "text" && v != "json" {
				return fmt.Errorf("%q is neither text nor json", v)
			}
			c.logFormat = v
			return nil
		},
	},
	{
		flag: "log-level", env: "POWERSYNC_AUTH_LOG_LEVEL", def: "info",
		usage: "the least `level` logged: debug, info, warn or error",
		apply: func(c *config, v string) error {
			if err := c.logLevel.UnmarshalText([]byte(v)); err != nil {
				return fmt.Errorf("%q is not debug, info, warn or error", v)
			}
			return nil
		},
	},
}

// boolSetting reads a boolean setting (1, t, true, 0, f, false, any case)
// into the field that field returns.
func boolSetting(field func(*config) *bool) func(*config, string) error {
	return func(c *config, v string) error {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("%q is neither true nor false", v)
		}
		*field(c) = b
		return nil
	}
}

// flagValue is the flag.Value of a setting: it keeps the text given on the
// command line, and whether there was one.
type flagValue struct {
	value  string
	set    bool
	isBool bool
}

func (f *flagValue) String() string {
	if f == nil {
		return ""
	}
	return f.value
}

func (f *flagValue) Set(v string) error {
	f.value, f.set = v, true
	return nil
}

// IsBoolFlag lets a boolean setting be given as -name, without a value.
func (f *flagValue) IsBoolFlag() bool { return f.isBool }

// parseConfig reads the configuration from the command line and the
// environment (through getenv). For -h it prints the usage text on stdout
// and returns flag.ErrHelp; any other mistake is a *configError.
func parseConfig(args []string, getenv func(string) string, stdout io.Writer) (*config, error) {
	fs := flag.NewFlagSet(program, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // run reports errors; -h prints the usage
	values := make([]*flagValue, len(settings))
	for i, s := range settings {
		values[i] = &flagValue{value: s.def, isBool: s.isBool}
		if s.isBool {
			values[i].value = "" // the usage text says no "(default false)"
		}
		note := s.envNote
		if note == "" {
			note = s.env
		}
		fs.Var(values[i], s.flag, s.usage+"\n(env "+note+")")
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(stdout)
			printUsage(fs)
			return nil, err
		}
		return nil, &configError{msg: err.Error()}
	}
	if fs.NArg() > 0 {
		return nil, configErrorf("unexpected argument %q: %s takes flags only", fs.Arg(0), program)
	}

	c := &config{}
	for i, s := range settings {
		v, source := s.def, ""
		switch {
		case values[i].set:
			v, source = values[i].value, "-"+s.flag
		case getenv(s.env) != "":
			v, source = getenv(s.env), s.env
		case s.flag == "listen" && getenv(envPort) != "":
			port := getenv(envPort)
			if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
				return nil, configErrorf("%s=%q is not a port number (1 to 65535)", envPort, port)
			}
			v, source = ":"+port, envPort
		}
		if err := s.apply(c, v); err != nil {
			if source == "" {
				source = "the default -" + s.flag
			}
			return nil, configErrorf("%s %v", source, err)
		}
		if s.flag == "powersync-url" {
			c.powersyncURLDefault = source == ""
		}
	}

	if err := c.readSecrets(getenv); err != nil {
		return nil, err
	}
	return c, c.check()
}

// readSecrets reads the environment variables that hold keys and secrets.
// Its errors name the variable and the reason, never the value.
func (c *config) readSecrets(getenv func(string) string) error {
	if v := getenv(envPrivateKey); v != "" {
		k, err := jwks.ParseKey([]byte(v))
		if err != nil {
			return configErrorf("%s: %s", envPrivateKey, reason(err))
		}
		if !k.CanSign() {
			return configErrorf("%s holds a public key (kid %q); it must be the private key, and the public key goes in %s",
				envPrivateKey, k.KeyID(), envPublicKey)
		}
		c.signingKey = k
	}
	if v := getenv(envPublicKey); v != "" {
		items := splitKeys(v)
		for i, item := range items {
			k, err := jwks.ParseKey([]byte(item))
			if err != nil {
				which := envPublicKey
				if len(items) > 1 {
					which = fmt.Sprintf("%s, key %d of %d,", envPublicKey, i+1, len(items))
				}
				return configErrorf("%s: %s", which, reason(err))
			}
			if k.CanSign() && !(c.signingKey != nil && k.Equal(c.signingKey)) {
				c.warnings = append(c.warnings, fmt.Sprintf(
					"%s holds the private key %q: only its public half is published, but a private key does not belong in that variable",
					envPublicKey, k.KeyID()))
			}
			c.published = append(c.published, k)
		}
		if c.signingKey == nil {
			c.warnings = append(c.warnings, fmt.Sprintf(
				"%s is set but %s is not: signing with the key of the key file, and publishing the other keys beside it",
				envPublicKey, envPrivateKey))
		}
	}

	c.anonKey = getenv(envAnonKey)
	if strings.ContainsAny(c.anonKey, " \t\r\n") {
		return configErrorf("%s holds whitespace (a stray line break?)", envAnonKey)
	}
	c.jwtSecret = getenv(envJWTSecret)
	switch {
	case c.jwtSecret != "" && c.jwtSecret != strings.TrimSpace(c.jwtSecret):
		return configErrorf("%s has surrounding whitespace (a stray line break?)", envJWTSecret)
	case c.jwtSecret != "" && len(c.jwtSecret) < 32:
		return configErrorf("%s is shorter than 32 characters: it is not a Supabase JWT secret", envJWTSecret)
	}
	return nil
}

// check looks at the settings together.
func (c *config) check() error {
	if c.supabaseStrict && c.supabaseURL == "" {
		return configErrorf("-supabase-strict needs %s", envSupabaseURL)
	}
	if c.supabaseStrict && c.anonKey == "" {
		return configErrorf("-supabase-strict needs %s: Supabase's /auth/v1/user wants the project's API key", envAnonKey)
	}
	if c.supabaseURL == "" && c.anonKey != "" {
		c.warnings = append(c.warnings, fmt.Sprintf("%s is set but %s is not: it is not used", envAnonKey, envSupabaseURL))
	}
	if c.supabaseURL == "" && c.jwtSecret != "" {
		c.warnings = append(c.warnings, fmt.Sprintf("%s is set but %s is not: it is not used", envJWTSecret, envSupabaseURL))
	}
	if c.supabaseURL == "" && !c.anonymous {
		c.warnings = append(c.warnings, fmt.Sprintf(
			"no token route: set %s for signed-in Supabase users, or -anonymous; only the JWKS is served", envSupabaseURL))
	}
	if strings.HasSuffix(c.powersyncURL, "/") {
		c.warnings = append(c.warnings, fmt.Sprintf(
			"%s ends with a slash: tokens carry it in \"aud\" as given, and PowerSync compares audiences byte for byte "+
				"(a PowerSync Cloud instance URL has none)", envPowerSyncURL))
	}
	if strings.Contains(c.issuer, "supabase.co") {
		c.warnings = append(c.warnings,
			"the issuer contains supabase.co: PowerSync's diagnostics will call these tokens Supabase tokens")
	}
	if c.anonymous && c.anonymousBurst == 0 {
		c.warnings = append(c.warnings, "the anonymous rate limit is off (-anonymous-burst 0): anyone may mint any number of tokens")
	}
	return nil
}

// reason is the text of a library error without its package prefix, to
// follow a variable's name.
func reason(err error) string {
	return strings.TrimPrefix(err.Error(), "jwks: ")
}

// checkListen accepts host:port with a numeric port (0 picks a free one).
func checkListen(v string) error {
	_, port, err := net.SplitHostPort(v)
	if err != nil {
		return fmt.Errorf("%q is not host:port, such as :8090 or 127.0.0.1:8090", v)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("%q has no port number (0 to 65535)", v)
	}
	return nil
}

// checkURL accepts an absolute http or https URL with a host, without user
// information, query or fragment. Its errors do not repeat the URL, which
// may hold a password.
func checkURL(v string) error {
	if v != strings.TrimSpace(v) {
		return errors.New("has surrounding whitespace (a stray line break?)")
	}
	u, err := url.Parse(v)
	switch {
	case err != nil:
		return errors.New("is not a URL")
	case u.Scheme != "http" && u.Scheme != "https":
		return errors.New("is not an http or https URL")
	case u.Host == "":
		return errors.New("has no host")
	case u.User != nil:
		return errors.New("must not hold a user name or password")
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return errors.New("must not have a query or fragment")
	}
	return nil
}

// checkOrigin accepts "*" or an origin as browsers send it:
// scheme://host[:port], nothing after.
func checkOrigin(v string) error {
	if v == "*" {
		return nil
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		u.User != nil || u.Path != "" || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
		return fmt.Errorf("%q is not an origin, scheme://host[:port] with no path or trailing slash, nor *", v)
	}
	return nil
}

// splitList splits a comma-separated list, trimming spaces and dropping
// empty items.
func splitList(v string) []string {
	var items []string
	for item := range strings.SplitSeq(v, ",") {
		if item = strings.TrimSpace(item); item != "" {
			items = append(items, item)
		}
	}
	return items
}

// splitKeys splits the keys of POWERSYNC_PUBLIC_KEY: base64 secrets, PEM
// blocks and JWK JSON objects separated by commas, or a JSON array of JWKs.
// Commas inside a JSON object (a JWK has several) do not split it.
func splitKeys(v string) []string {
	v = strings.TrimSpace(v)
	if strings.HasPrefix(v, "[") && strings.HasSuffix(v, "]") {
		v = v[1 : len(v)-1]
	}
	var items []string
	depth, inString, escaped, start := 0, false, false, 0
	for i := 0; i < len(v); i++ {
		ch := v[i]
		switch {
		case escaped:
			escaped = false
		case inString:
			switch ch {
			case '\\':
				escaped = true
			case '"':
				inString = false
			}
		case ch == '"':
			inString = true
		case ch == '{' || ch == '[':
			depth++
		case ch == '}' || ch == ']':
			depth--
		case ch == ',' && depth == 0:
			items = append(items, v[start:i])
			start = i + 1
		}
	}
	items = append(items, v[start:])
	var out []string
	for _, item := range items {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}
