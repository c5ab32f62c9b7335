package main

import (
	"cmp"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
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

// The environment variables of the PowerSync Edge Functions example, read
// as its functions read them.
const (
	envPrivateKey   = "POWERSYNC_PRIVATE_KEY"
	envPublicKey    = "POWERSYNC_PUBLIC_KEY"
	envPowerSyncURL = "POWERSYNC_URL"
	envSupabaseURL  = "SUPABASE_URL"
	envAnonKey      = "SUPABASE_ANON_KEY"
	envJWTSecret    = "SUPABASE_JWT_SECRET"
	envPort         = "PORT"
)

// flagEnv names the environment variable of each flag. A flag on the
// command line wins over its variable, which wins over the default; an
// empty variable counts as unset. PORT, as hosting platforms set it, stands
// in for -listen when neither the flag nor its variable is set.
var flagEnv = map[string]string{
	"listen":           "POWERSYNC_AUTH_LISTEN",
	"powersync-url":    envPowerSyncURL,
	"supabase-url":     envSupabaseURL,
	"supabase-strict":  "POWERSYNC_AUTH_SUPABASE_STRICT",
	"anonymous":        "POWERSYNC_AUTH_ANONYMOUS",
	"anonymous-unique": "POWERSYNC_AUTH_ANONYMOUS_UNIQUE",
	"anonymous-burst":  "POWERSYNC_AUTH_ANONYMOUS_BURST",
	"anonymous-every":  "POWERSYNC_AUTH_ANONYMOUS_EVERY",
	"trusted-proxies":  "POWERSYNC_AUTH_TRUSTED_PROXIES",
	"cors-origins":     "POWERSYNC_AUTH_CORS_ORIGINS",
	"token-lifetime":   "POWERSYNC_AUTH_TOKEN_LIFETIME",
	"issuer":           "POWERSYNC_AUTH_ISSUER",
	"key-file":         "POWERSYNC_AUTH_KEY_FILE",
	"log-format":       "POWERSYNC_AUTH_LOG_FORMAT",
	"log-level":        "POWERSYNC_AUTH_LOG_LEVEL",
}

// config is the server's configuration, read from the command line and the
// environment by parseConfig. It holds secrets: it is never printed or
// logged.
type config struct {
	listen string // host:port

	from map[string]string // where each flag not at its default got its value (see setFromEnv)

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

// newFlagSet returns the command's flags, each bound to its field of c and
// holding its default. A flag checks only its syntax when set; its other
// checks run after parsing (see checkFlags).
func newFlagSet(c *config) *flag.FlagSet {
	fs := flag.NewFlagSet(program, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // run reports errors; -h prints the usage
	fs.StringVar(&c.listen, "listen", defaultListen,
		"`address` to listen on, host:port; when neither the flag nor its variable\n"+
			"is set, PORT=n (as hosting platforms set it) means :n")
	fs.StringVar(&c.powersyncURL, "powersync-url", defaultPowerSyncURL,
		"`URL` of the PowerSync instance: the audience of the tokens, and the\n"+
			"powersync_url of the responses; the default is a local PowerSync Service")
	fs.StringVar(&c.supabaseURL, "supabase-url", "",
		"`URL` of the Supabase project, https://<ref>.supabase.co; serves\n"+
			"/powersync-auth for its signed-in users (default none: that route is off)")
	fs.BoolVar(&c.supabaseStrict, "supabase-strict", false,
		"ask Supabase's /auth/v1/user about every signed-in caller, to notice\n"+
			"sign-outs and bans before the access token expires (one Supabase call\n"+
			"per token; needs SUPABASE_ANON_KEY)")
	fs.BoolVar(&c.anonymous, "anonymous", false,
		"serve /powersync-auth-anonymous: a token for anyone, with subject \"anonymous\"")
	fs.BoolVar(&c.anonymousUnique, "anonymous-unique", false,
		"give each anonymous token a subject of its own, anon-<random UUID>,\n"+
			"instead of \"anonymous\"")
	fs.IntVar(&c.anonymousBurst, "anonymous-burst", 10,
		"`number` of anonymous tokens a client IP may have at once before the\n"+
			"rate limit; 0 turns the limit off")
	fs.DurationVar(&c.anonymousEvery, "anonymous-every", time.Second,
		"after the burst, one anonymous token per client IP every `interval`")
	fs.Func("trusted-proxies",
		"comma-separated `CIDRs` or addresses of the proxies (load balancer, CDN)\n"+
			"whose X-Forwarded-For names the client for the rate limit (default none:\n"+
			"the client is the peer address)", c.addTrustedProxies)
	fs.Func("cors-origins",
		"comma-separated `origins` (https://app.example.com, or * for any) whose\n"+
			"web pages may call the token routes (default none)", c.addCORSOrigins)
	fs.DurationVar(&c.lifetime, "token-lifetime", 5*time.Minute,
		"how long tokens are valid: a `duration` of whole seconds, 1s to 24h\n"+
			"(PowerSync's limit); clients fetch a new one before it ends")
	fs.StringVar(&c.issuer, "issuer", "",
		"the `iss` claim of the tokens (default none; -issuer \"$SUPABASE_URL\" makes\n"+
			"the tokens of the PowerSync Edge Functions example)")
	fs.StringVar(&c.keyFile, "key-file", defaultKeyFile,
		"`file` that keeps the signing key when POWERSYNC_PRIVATE_KEY is not set:\n"+
			"made (ES256, mode 0600) on first start, reused on restart")
	fs.StringVar(&c.logFormat, "log-format", "text", "log `format`: text or json")
	fs.TextVar(&c.logLevel, "log-level", slog.LevelInfo, "the least `level` logged: debug, info, warn or error")

	fs.VisitAll(func(f *flag.Flag) { f.Usage += "\n(env " + flagEnv[f.Name] + ")" })
	fs.Usage = func() { printUsage(fs) }
	return fs
}

// printUsage prints the usage text of -h to the output of fs.
func printUsage(fs *flag.FlagSet) {
	w := fs.Output()
	fmt.Fprintf(w, "Usage: %s [flags]\n\n", program)
	fmt.Fprintf(w, "%s publishes a JWKS and gives out PowerSync tokens, for signed-in\n"+
		"Supabase users and, with -anonymous, for anyone: the powersync-jwks,\n"+
		"powersync-auth and powersync-auth-anonymous functions of the PowerSync Edge\n"+
		"Functions example in one server.\n\n", program)
	fmt.Fprintf(w, "Environment (variables without a flag):\n")
	for _, v := range envOnly {
		fmt.Fprintf(w, "  %s\n    \t%s\n", v.name, strings.ReplaceAll(v.usage, "\n", "\n    \t"))
	}
	fmt.Fprintf(w, "\nFlags (a flag wins over its variable, which wins over the default;\n"+
		"an empty variable counts as unset):\n")
	fs.PrintDefaults()
	fmt.Fprintf(w, "\nExamples:\n"+
		"  %[1]s -anonymous                         # local development, no set-up\n"+
		"  %[1]s -anonymous -issuer \"$SUPABASE_URL\" # the Edge Functions' tokens, iss included\n", program)
}

// parseConfig reads the configuration from the command line and the
// environment (through getenv). For -h it prints the usage text on stdout
// and returns flag.ErrHelp; any other mistake is a *configError.
func parseConfig(args []string, getenv func(string) string, stdout io.Writer) (*config, error) {
	c := &config{}
	fs := newFlagSet(c)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(stdout)
			fs.Usage()
			return nil, err
		}
		return nil, &configError{msg: err.Error()}
	}
	if fs.NArg() > 0 {
		return nil, configErrorf("unexpected argument %q: %s takes flags only", fs.Arg(0), program)
	}
	from, err := setFromEnv(fs, getenv)
	if err != nil {
		return nil, err
	}
	c.from = from
	if err := c.checkFlags(from, getenv(envPort)); err != nil {
		return nil, err
	}
	if err := c.readSecrets(getenv); err != nil {
		return nil, err
	}
	return c, c.check()
}

// setFromEnv sets each flag that the command line did not set from its
// environment variable, when that is not empty. It returns where each flag
// that is not at its default got its value, for messages: "-name" for the
// command line, the variable's name for the environment.
//
// A refused value is quoted, as the flag package quotes it: no flag holds a
// secret. A flag whose value may hold a password (a URL) therefore takes
// any text, and is checked after parsing without repeating it.
func setFromEnv(fs *flag.FlagSet, getenv func(string) string) (map[string]string, error) {
	from := make(map[string]string)
	fs.Visit(func(f *flag.Flag) { from[f.Name] = "-" + f.Name })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		name := flagEnv[f.Name]
		v := getenv(name)
		if err != nil || from[f.Name] != "" || v == "" {
			return
		}
		if serr := fs.Set(f.Name, v); serr != nil {
			err = configErrorf("%s: invalid value %q: %v", name, v, serr)
		}
		from[f.Name] = name
	})
	return from, err
}

// checkFlags checks the flags' values, naming where a bad one came from
// (see setFromEnv). It fills in -listen from port, the PORT variable, when
// neither the flag nor its variable is set.
func (c *config) checkFlags(from map[string]string, port string) error {
	if from["listen"] == "" && port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return configErrorf("%s=%q is not a port number (1 to 65535)", envPort, port)
		}
		c.listen, from["listen"] = ":"+port, envPort
	}
	c.powersyncURLDefault = from["powersync-url"] == ""

	for _, ch := range []struct {
		flag string
		err  error
	}{
		{"listen", checkListen(c.listen)},
		{"anonymous-burst", errorUnless(c.anonymousBurst >= 0,
			"%d is below 0 (0 turns the limit off)", c.anonymousBurst)},
		{"anonymous-every", errorUnless(c.anonymousEvery > 0,
			"%v is not a positive duration, such as 1s or 500ms", c.anonymousEvery)},
		{"token-lifetime", checkLifetime(c.lifetime)},
		{"issuer", errorUnless(c.issuer == strings.TrimSpace(c.issuer), "has surrounding spaces")},
		{"key-file", errorUnless(c.keyFile != "", "is empty")},
		{"log-format", errorUnless(c.logFormat == "text" || c.logFormat == "json",
			"%q is neither text nor json", c.logFormat)},
	} {
		if ch.err != nil {
			return configErrorf("%s %v", c.source(ch.flag), ch.err)
		}
	}
	c.supabaseURL = strings.TrimRight(c.supabaseURL, "/")
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
		if len(c.corsOrigins) > 0 {
			c.warnings = append(c.warnings, c.source("cors-origins")+" is set, but there is no token route to use it")
		}
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

// source names where the value of flag came from, for messages: "-flag",
// its variable's name, or "the default -flag".
func (c *config) source(flag string) string {
	return cmp.Or(c.from[flag], "the default -"+flag)
}

// reason is the text of a library error without its package prefix, to
// follow a variable's name.
func reason(err error) string {
	msg := err.Error()
	for _, prefix := range []string{"jwks: ", "supabase: ", "ratelimit: "} {
		msg = strings.TrimPrefix(msg, prefix)
	}
	return msg
}

// errorUnless returns nil when ok holds, and otherwise the error of format.
func errorUnless(ok bool, format string, args ...any) error {
	if ok {
		return nil
	}
	return fmt.Errorf(format, args...)
}

// ifSet checks v when it is not empty.
func ifSet(v string, check func(string) error) error {
	if v == "" {
		return nil
	}
	return check(v)
}

// checkLifetime accepts a token lifetime of whole seconds, 1s to
// [jwks.MaxTokenLifetime].
func checkLifetime(d time.Duration) error {
	switch {
	case d < time.Second || d > jwks.MaxTokenLifetime:
		return fmt.Errorf("%v is outside 1s to 24h", d)
	case d%time.Second != 0:
		return fmt.Errorf("%v is not a whole number of seconds", d)
	}
	return nil
}

// addTrustedProxies adds the CIDRs and IP addresses of a comma-separated
// list to c.trustedProxies; an address is a prefix of itself alone.
func (c *config) addTrustedProxies(v string) error {
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
}

// addCORSOrigins adds the origins of a comma-separated list to
// c.corsOrigins.
func (c *config) addCORSOrigins(v string) error {
	// The origins are checked by jwks.NewTokenHandler.
	c.corsOrigins = append(c.corsOrigins, splitList(v)...)
	return nil
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
