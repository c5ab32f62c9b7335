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
	"github.com/powersync-jwks/jwks/keyring"
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

// envKEK holds the key-encryption keys of the key ring (see envOnly).
const envKEK = "POWERSYNC_AUTH_KEY_ENCRYPTION_KEY"

// flagEnv names the environment variable of each flag. A flag on the
// command line wins over its variable, which wins over the default; an
// empty variable counts as unset. PORT, as hosting platforms set it, stands
// in for -listen when neither the flag nor its variable is set.
var flagEnv = map[string]string{
	"listen":           "POWERSYNC_AUTH_LISTEN",
	"powersync-url":    envPowerSyncURL,
	"supabase-url":     envSupabaseURL,
	"supabase-strict":  "POWERSYNC_AUTH_SUPABASE_STRICT",
	"supabase-issuer":  "POWERSYNC_AUTH_SUPABASE_ISSUER",
	"anonymous":        "POWERSYNC_AUTH_ANONYMOUS",
	"anonymous-unique": "POWERSYNC_AUTH_ANONYMOUS_UNIQUE",
	"anonymous-burst":  "POWERSYNC_AUTH_ANONYMOUS_BURST",
	"anonymous-every":  "POWERSYNC_AUTH_ANONYMOUS_EVERY",
	"trusted-proxies":  "POWERSYNC_AUTH_TRUSTED_PROXIES",
	"cors-origins":     "POWERSYNC_AUTH_CORS_ORIGINS",
	"token-lifetime":   "POWERSYNC_AUTH_TOKEN_LIFETIME",
	"issuer":           "POWERSYNC_AUTH_ISSUER",
	"key-file":         "POWERSYNC_AUTH_KEY_FILE",
	"store":            "POWERSYNC_AUTH_STORE",
	"rotate-every":     "POWERSYNC_AUTH_ROTATE_EVERY",
	"publish-ahead":    "POWERSYNC_AUTH_PUBLISH_AHEAD",
	"jwks-max-age":     "POWERSYNC_AUTH_JWKS_MAX_AGE",
	"verifier-refresh": "POWERSYNC_AUTH_VERIFIER_REFRESH",
	"store-poll":       "POWERSYNC_AUTH_STORE_POLL",
	"log-format":       "POWERSYNC_AUTH_LOG_FORMAT",
	"log-level":        "POWERSYNC_AUTH_LOG_LEVEL",
	"access-log":       "POWERSYNC_AUTH_ACCESS_LOG",
	"metrics-listen":   "POWERSYNC_AUTH_METRICS_LISTEN",
	"functions-paths":  "POWERSYNC_AUTH_FUNCTIONS_PATHS",
	"create-key":       "POWERSYNC_AUTH_CREATE_KEY",
}

// config is the server's configuration, read from the command line and the
// environment by parseConfig. It holds secrets: it is never printed or
// logged.
type config struct {
	listen string // host:port

	from map[string]string // where each flag not at its default got its value (see setFromEnv)

	powersyncURL        string // the token audience and "powersync_url"
	powersyncURLDefault bool   // powersyncURL is defaultPowerSyncURL, not configured

	signingKey *jwks.Key   // from POWERSYNC_PRIVATE_KEY
	published  []*jwks.Key // from POWERSYNC_PUBLIC_KEY
	keyFile    string

	// The key ring (see mode). storeArg is -store as given, which may hold
	// a password: it is never printed; store is what it names.
	storeArg        string
	store           storeSpec
	rotateEvery     time.Duration // 0: by hand only
	publishAhead    time.Duration // 0: the safe minimum
	jwksMaxAge      time.Duration
	verifierRefresh time.Duration
	storePoll       time.Duration
	keks            [][]byte // POWERSYNC_AUTH_KEY_ENCRYPTION_KEY; the first seals

	supabaseURL    string // empty: no /powersync-auth
	anonKey        string // SUPABASE_ANON_KEY
	jwtSecret      string // SUPABASE_JWT_SECRET
	supabaseStrict bool
	// supabaseIssuer is -supabase-issuer: "" for the project's own issuer
	// (SUPABASE_URL/auth/v1), anyIssuer to accept tokens whatever their
	// "iss" (and without one), or the issuer the tokens carry.
	supabaseIssuer string

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
	accessLog bool

	metricsListen  string // host:port of /metrics; "" for none
	functionsPaths bool   // also serve the routes under /functions/v1/
	createKey      bool   // make the first key of an empty key ring
	version        bool   // -version: print the version and exit

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
			"whose X-Forwarded-For names the client for the rate limit and the access\n"+
			"log (default none: the client is the peer address)", c.addTrustedProxies)
	fs.Func("cors-origins",
		"comma-separated `origins` (https://app.example.com, or * for any) whose\n"+
			"web pages may call the token routes (default none)", c.addCORSOrigins)
	fs.StringVar(&c.supabaseIssuer, "supabase-issuer", "",
		"the `iss` the Supabase access tokens carry, when it is not SUPABASE_URL\n"+
			"followed by /auth/v1 (a self-hosted Supabase reached on an internal URL);\n"+
			"\"any\" accepts tokens whatever their iss, and tokens without one, as\n"+
			"self-hosted Supabase's own compose file makes them (default: the project's)")
	fs.BoolVar(&c.functionsPaths, "functions-paths", false,
		"also serve /powersync-jwks, /powersync-auth and /powersync-auth-anonymous\n"+
			"under the Edge Functions' prefix, /functions/v1/, for a proxy or Kong\n"+
			"that routes that prefix here")
	fs.StringVar(&c.issuer, "issuer", "",
		"the `iss` claim of the tokens (default none; -issuer \"$SUPABASE_URL\" makes\n"+
			"the tokens of the PowerSync Edge Functions example)")
	c.addRingFlags(fs)
	fs.StringVar(&c.logFormat, "log-format", "text", "log `format`: text or json")
	fs.TextVar(&c.logLevel, "log-level", slog.LevelInfo, "the least `level` logged: debug, info, warn or error")
	fs.BoolVar(&c.accessLog, "access-log", false,
		"log each request at INFO: method, route, status, duration, bytes and\n"+
			"client (through -trusted-proxies); never a header or a token")
	fs.StringVar(&c.metricsListen, "metrics-listen", "",
		"`address` (host:port) of a listener of its own for /metrics, in the\n"+
			"Prometheus text format (default none: no metrics)")
	fs.BoolVar(&c.createKey, "create-key", true,
		"make the first signing key of an empty key ring; with false the server\n"+
			"refuses to start on an empty ring, so that replicas never each make a\n"+
			"key of their own (give them POWERSYNC_PRIVATE_KEY, or keys import or\n"+
			"keys stage once)")
	fs.BoolVar(&c.version, "version", false, "print the version and exit")

	addEnvNames(fs)
	fs.Usage = func() { printUsage(fs) }
	return fs
}

// addRingFlags adds the flags of the key ring, which the server and the
// keys subcommands share (the subcommands must see the servers' ring and
// policy), and -token-lifetime, the policy's longest token lifetime.
func (c *config) addRingFlags(fs *flag.FlagSet) {
	fs.DurationVar(&c.lifetime, "token-lifetime", 5*time.Minute,
		"how long tokens are valid: a `duration` of whole seconds, 1s to 24h\n"+
			"(PowerSync's limit); clients fetch a new one before it ends")
	fs.StringVar(&c.keyFile, "key-file", defaultKeyFile,
		"`file` of the key ring when -store is not set: made (mode 0600) on first\n"+
			"start with an ES256 key, reused on restart; a key file of an earlier\n"+
			"version (one private key) is read as a ring of that key")
	fs.StringVar(&c.storeArg, "store", "",
		"where the key ring is kept: file:PATH or a PATH (one machine), or a\n"+
			"postgres:// or postgresql:// `URL` that every replica shares (default:\n"+
			"the file -key-file); with POWERSYNC_PRIVATE_KEY set and no -store, the\n"+
			"server signs with that key alone and keeps no ring")
	fs.DurationVar(&c.rotateEvery, "rotate-every", 0,
		"rotate the signing key every `duration` (whole seconds); 0, the default,\n"+
			"rotates by hand only (powersync-auth keys stage, keys promote)")
	fs.DurationVar(&c.publishAhead, "publish-ahead", 0,
		"how long a next key is published before it signs (whole seconds); 0, the\n"+
			"default, is the safe minimum: -store-poll + -jwks-max-age +\n"+
			"-verifier-refresh, 10m30s with their defaults. Less is refused")
	fs.DurationVar(&c.jwksMaxAge, "jwks-max-age", keyring.DefaultJWKSMaxAge,
		"the JWKS's Cache-Control max-age: how long CDNs and clients may cache it")
	fs.DurationVar(&c.verifierRefresh, "verifier-refresh", keyring.DefaultVerifierRefresh,
		"how stale a verifier's copy of the JWKS may be while it sees traffic\n"+
			"(PowerSync refreshes 5 minutes after its last fetch)")
	fs.DurationVar(&c.storePoll, "store-poll", keyring.DefaultStorePoll,
		"how often each replica re-reads the store besides its notifications\n"+
			"(PostgreSQL notifies; a file does not): bounds how long a change takes\n"+
			"to reach every replica")
}

// addEnvNames adds the name of its variable to the usage of each flag that
// has one.
func addEnvNames(fs *flag.FlagSet) {
	fs.VisitAll(func(f *flag.Flag) {
		if env := flagEnv[f.Name]; env != "" {
			f.Usage += "\n(env " + env + ")"
		}
	})
}

// printUsage prints the usage text of -h to the output of fs.
func printUsage(fs *flag.FlagSet) {
	w := fs.Output()
	fmt.Fprintf(w, "Usage: %s [flags]\n       %s keys list|stage|promote|revoke|import|rewrap [flags] [arguments]\n\n", program, program)
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
	fmt.Fprintf(w, "\nExamples:\n")
	for _, ex := range [][2]string{
		{"-anonymous", "local development, no set-up"},
		{`-anonymous -issuer "$SUPABASE_URL"`, "the Edge Functions' tokens, iss included"},
		{"-store postgres://… -rotate-every 720h", "replicas sharing one key ring"},
		{"keys -h", "the key ring's subcommands"},
	} {
		fmt.Fprintf(w, "  %s %-38s # %s\n", program, ex[0], ex[1])
	}
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
	if fs.NArg() > 0 && fs.Arg(0) == "keys" {
		return nil, configErrorf("the keys subcommand comes first, its flags after it: %s keys list -store …", program)
	}
	if fs.NArg() > 0 {
		return nil, configErrorf("unexpected argument %q: %s takes flags only, or the keys subcommand first", fs.Arg(0), program)
	}
	if c.version {
		return c, nil // the version, whatever the rest of the configuration
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
		{"metrics-listen", ifSet(c.metricsListen, checkListen)},
		{"supabase-issuer", errorUnless(c.supabaseIssuer == strings.TrimSpace(c.supabaseIssuer), "has surrounding spaces")},
		{"anonymous-burst", errorUnless(c.anonymousBurst >= 0,
			"%d is below 0 (0 turns the limit off)", c.anonymousBurst)},
		{"anonymous-every", errorUnless(c.anonymousEvery > 0,
			"%v is not a positive duration, such as 1s or 500ms", c.anonymousEvery)},
		{"issuer", errorUnless(c.issuer == strings.TrimSpace(c.issuer), "has surrounding spaces")},
		{"log-format", errorUnless(c.logFormat == "text" || c.logFormat == "json",
			"%q is neither text nor json", c.logFormat)},
	} {
		if ch.err != nil {
			return configErrorf("%s %v", c.source(ch.flag), ch.err)
		}
	}
	if c.metricsListen != "" && sameListener(c.listen, c.metricsListen) {
		return configErrorf("%s is the address of %s: /metrics needs a listener of its own",
			c.source("metrics-listen"), c.source("listen"))
	}
	c.supabaseURL = strings.TrimRight(c.supabaseURL, "/")
	return c.checkRingFlags()
}

// checkRingFlags checks the flags of addRingFlags, one by one and then
// together: the policy's safety relations, naming the flags.
func (c *config) checkRingFlags() error {
	for _, ch := range []struct {
		flag string
		err  error
	}{
		{"token-lifetime", checkLifetime(c.lifetime)},
		{"key-file", errorUnless(c.keyFile != "", "is empty")},
		{"rotate-every", checkPeriod(c.rotateEvery, true)},
		{"publish-ahead", checkPeriod(c.publishAhead, true)},
		{"jwks-max-age", checkPeriod(c.jwksMaxAge, false)},
		{"verifier-refresh", checkPeriod(c.verifierRefresh, false)},
		{"store-poll", checkPeriod(c.storePoll, false)},
	} {
		if ch.err != nil {
			return configErrorf("%s %v", c.source(ch.flag), ch.err)
		}
	}
	// -store may hold a password: its errors never quote it.
	store, err := parseStore(c.storeArg, c.keyFile)
	if err != nil {
		return configErrorf("%s: %v", c.source("store"), err)
	}
	c.store = store
	return c.checkPolicy()
}

// policy is the key ring's policy, from the flags.
func (c *config) policy() keyring.Policy {
	return keyring.Policy{
		RotateEvery:      c.rotateEvery,
		PublishAhead:     c.publishAhead,
		JWKSMaxAge:       c.jwksMaxAge,
		VerifierRefresh:  c.verifierRefresh,
		StorePoll:        c.storePoll,
		MaxTokenLifetime: c.lifetime,
	}
}

// checkPolicy checks the relations between the policy's periods that keep
// every token verifiable, and names the flags that break one.
func (c *config) checkPolicy() error {
	p := c.policy()
	safe := p.SafePublishAhead()
	ahead := cmp.Or(c.publishAhead, safe)
	if ahead < safe {
		return configErrorf("%s is below the safe minimum %v = %s + %s + %s: verifiers could meet tokens "+
			"of a key they have not fetched yet; raise -publish-ahead (or leave it unset for the minimum), "+
			"or lower the others",
			c.named("publish-ahead", c.publishAhead), safe,
			c.named("store-poll", c.storePoll), c.named("jwks-max-age", c.jwksMaxAge),
			c.named("verifier-refresh", c.verifierRefresh))
	}
	if c.rotateEvery > 0 && c.rotateEvery <= ahead {
		what := c.named("publish-ahead", ahead)
		if c.publishAhead == 0 {
			what = fmt.Sprintf("-publish-ahead %v (the safe minimum: -store-poll + -jwks-max-age + -verifier-refresh)", ahead)
		}
		return configErrorf("%s must exceed %s: a next key is staged -publish-ahead before each rotation",
			c.named("rotate-every", c.rotateEvery), what)
	}
	// What else the key ring checks, in the flags' names.
	if err := p.Validate(); err != nil {
		return configErrorf("%s", ringNames.Replace(strings.TrimPrefix(err.Error(), "keyring: policy: ")))
	}
	return nil
}

// named names a duration flag with its value, and where the value came from
// when it is not the command line: "-store-poll 30s (default)",
// "-publish-ahead 5m (POWERSYNC_AUTH_PUBLISH_AHEAD)".
func (c *config) named(flag string, v time.Duration) string {
	s := fmt.Sprintf("-%s %v", flag, v)
	switch from := c.from[flag]; from {
	case "":
		s += " (default)"
	case "-" + flag:
	default:
		s += " (" + from + ")"
	}
	return s
}

// checkPeriod accepts a period of the key ring: whole seconds, at least 1s,
// or 0 when zero is allowed (it then means the flag's default behaviour).
func checkPeriod(d time.Duration, zero bool) error {
	switch {
	case d == 0 && zero:
		return nil
	case d < time.Second:
		if zero {
			return fmt.Errorf("%v is neither 0 nor at least 1s", d)
		}
		return fmt.Errorf("%v is less than 1s", d)
	case d%time.Second != 0:
		return fmt.Errorf("%v is not a whole number of seconds", d)
	}
	return nil
}

// static reports whether the server signs with POWERSYNC_PRIVATE_KEY alone
// and keeps no key ring: the key is set, and -store is not.
func (c *config) static() bool { return c.signingKey != nil && !c.store.explicit }

// check looks at the settings together.
func (c *config) check() error {
	if c.static() {
		for _, name := range []string{"rotate-every", "publish-ahead", "store-poll"} {
			if c.from[name] != "" {
				c.warnings = append(c.warnings, fmt.Sprintf("%s has no effect: %s is set and -store is not, "+
					"so the server signs with that key alone and rotates nothing", c.source(name), envPrivateKey))
			}
		}
		if len(c.keks) > 0 {
			c.warnings = append(c.warnings, fmt.Sprintf("%s is set but not used: %s is set and -store is not, "+
				"so there is no key ring to seal", envKEK, envPrivateKey))
		}
	} else {
		var ignored []string
		for _, k := range c.published {
			if c.signingKey == nil || k.KeyID() != c.signingKey.KeyID() {
				ignored = append(ignored, k.KeyID())
			}
		}
		if len(ignored) > 0 {
			c.warnings = append(c.warnings, fmt.Sprintf("%s is not used with a key ring (kids %s): the ring publishes "+
				"its own keys; bring a signing key in with powersync-auth keys import", envPublicKey, strings.Join(ignored, ", ")))
		}
		if c.store.explicit && c.from["key-file"] != "" {
			c.warnings = append(c.warnings, fmt.Sprintf("%s is not used: %s names the key ring's store",
				c.source("key-file"), c.source("store")))
		}
	}
	if c.supabaseStrict && c.supabaseURL == "" {
		return configErrorf("-supabase-strict needs %s", envSupabaseURL)
	}
	if c.supabaseStrict && c.anonKey == "" {
		return configErrorf("-supabase-strict needs %s: Supabase's /auth/v1/user wants the project's API key", envAnonKey)
	}
	if c.supabaseURL == "" && c.supabaseIssuer != "" {
		c.warnings = append(c.warnings, fmt.Sprintf("%s is set but %s is not: it is not used", c.source("supabase-issuer"), envSupabaseURL))
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
	if c.accessLog && c.logLevel > slog.LevelInfo {
		c.warnings = append(c.warnings, fmt.Sprintf("%s is on, but its lines are INFO and %s leaves them out",
			c.source("access-log"), c.source("log-level")))
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

// sameListener reports whether listeners on a and b (host:port, checked)
// would clash: the same port, not 0 (a free port of the kernel's choosing,
// another for each listener), on the same host or where one of them is
// every address of the machine ("", 0.0.0.0, ::).
func sameListener(a, b string) bool {
	hostA, portA, errA := net.SplitHostPort(a)
	hostB, portB, errB := net.SplitHostPort(b)
	if errA != nil || errB != nil {
		return a == b
	}
	pa, _ := strconv.Atoi(portA)
	pb, _ := strconv.Atoi(portB)
	if pa != pb || pa == 0 {
		return false
	}
	wildcard := func(h string) bool { return h == "" || h == "0.0.0.0" || h == "::" }
	if wildcard(hostA) || wildcard(hostB) {
		return true
	}
	ia, errA := netip.ParseAddr(hostA)
	ib, errB := netip.ParseAddr(hostB)
	if errA == nil && errB == nil {
		return ia.Unmap() == ib.Unmap()
	}
	return strings.EqualFold(hostA, hostB)
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
