// Powersync-token tells why PowerSync refuses a token. PowerSync answers a
// token it refuses with little more than an error code (PSYNC_S2101 for most
// reasons); powersync-token decodes the token without trusting it, reads
// the JWKS PowerSync is configured with, and reports every rule of
// PowerSync's the token breaks, each with PowerSync's error code and a fix.
//
// Usage:
//
//	powersync-token check -jwks URL|FILE -audience AUD [-audience AUD2 …] [-json] [-timeout D] TOKEN|-
//
// Give it what PowerSync is configured with: its JWKS URI (or a file holding
// the document, for PowerSync's static "jwks" option) and its audiences
// (PowerSync Cloud's is the instance URL; a self-hosted PowerSync's, the
// client_auth.audience list). TOKEN is the token, or "-" to read it from
// standard input (a pasted "Bearer <token>" header works too):
//
//	go run ./cmd/powersync-token check \
//		-jwks https://auth.example.com/.well-known/jwks.json \
//		-audience https://abc123.powersync.journeyapps.com "$TOKEN"
//
// It prints the token's header and claims, the key IDs of the JWKS, then
// each problem:
//
//	PSYNC_S2105 audience
//	  the token's aud is not an audience PowerSync accepts (compared byte for byte)
//	  token aud: "https://abc123.powersync.journeyapps.com/"
//	  accepted:  "https://abc123.powersync.journeyapps.com"
//	  hint: they differ only by a trailing slash
//	  fix: make the token's aud exactly the audience PowerSync is configured with …
//
// and the verdict, "PowerSync would accept this token." or "PowerSync would
// refuse this token: N problems.".
//
// The checks are those of the jwks package's Verifier (jwks.Verifier.Problems),
// with PowerSync's settings: 60 s of clock skew, a lifetime of at most 24
// hours, the seven asymmetric algorithms, "sub", "iat", "exp" and "aud"
// required. Where the Verifier is stricter than PowerSync (an "iat" in the
// future, an empty "sub", "parameters": null, a "crit" header) the report
// says so. The JWKS is read as package remote reads it (remote.ReadDocument):
// a key PowerSync would drop ("key_ops" without "verify", "use" other than
// "sig", an oct key), a key that publishes private key material (a WARNING:
// the key is compromised), a key without "kid" or "alg", and a key PowerSync
// cannot import (which fails PowerSync's whole refresh, so that every token
// is refused) are reported too.
//
// The flags are:
//
//	-jwks URL|FILE
//		PowerSync's JWKS URI, an http or https URL (fetched once, with
//		-timeout, at most 1 MiB, without following redirects), or a file
//		holding the JWKS document.
//	-audience AUD
//		An audience PowerSync accepts, byte for byte; repeat it for each.
//	-json
//		Print the report as JSON: {"ok", "problems": [{"code", "rule",
//		"detail", "fix"}], "header", "claims", "jwks": {"kids", "skipped"}}.
//	-timeout D
//		How long the JWKS fetch may take (default 10s).
//
// Powersync-token exits with status 0 when PowerSync would accept the token,
// 1 when it would refuse it, and 2 for bad usage (no token, no -jwks, no
// -audience) or a JWKS that cannot be read.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/powersync-jwks/jwks"
	"github.com/powersync-jwks/jwks/remote"
)

const program = "powersync-token"

// Exit statuses.
const (
	exitAccepted = 0
	exitRefused  = 1
	exitUsage    = 2
)

func main() {
	c := &command{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, now: time.Now, client: http.DefaultTransport}
	os.Exit(c.run(os.Args[1:]))
}

// command is one run of the program, with what it reads and writes.
type command struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	now            func() time.Time  // the clock the token is checked against
	client         http.RoundTripper // fetches the JWKS
}

// checkConfig is what the command line of "check" asks for.
type checkConfig struct {
	jwks      string
	audiences []string
	json      bool
	timeout   time.Duration
	token     string // the argument: a token, or "-"
}

// usageError is a mistake on the command line, or a JWKS that cannot be
// read: exit status 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

const usage = `Usage: powersync-token check -jwks URL|FILE -audience AUD [-audience AUD2 …] [-json] [-timeout D] TOKEN|-

Decodes TOKEN without trusting it, reads the JWKS PowerSync is configured
with, and reports every PowerSync rule the token breaks, with PowerSync's
error code (PSYNC_S2101, PSYNC_S2103, PSYNC_S2104, PSYNC_S2105) and a fix.
TOKEN "-" reads the token from standard input.

Exit status: 0 when PowerSync would accept the token, 1 when it would refuse
it, 2 for bad usage or a JWKS that cannot be read.

Flags of check:
`

// run runs the command line args and returns the exit status.
func (c *command) run(args []string) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "-help" || args[0] == "--help" || args[0] == "help" {
		if len(args) == 0 {
			fmt.Fprintf(c.stderr, "%s: no command\n\n", program)
			c.printUsage(c.stderr)
			return exitUsage
		}
		c.printUsage(c.stdout)
		return exitAccepted
	}
	if args[0] != "check" {
		fmt.Fprintf(c.stderr, "%s: unknown command %q: the command is check\nRun '%s -h' for usage.\n", program, args[0], program)
		return exitUsage
	}
	cfg, err := parseCheck(args[1:])
	if errors.Is(err, flag.ErrHelp) {
		c.printUsage(c.stdout)
		return exitAccepted
	}
	var rep *report
	if err == nil {
		rep, err = c.check(cfg)
	}
	var ue *usageError
	switch {
	case errors.As(err, &ue):
		fmt.Fprintf(c.stderr, "%s: %v\nRun '%s -h' for usage.\n", program, err, program)
		return exitUsage
	case err != nil:
		fmt.Fprintf(c.stderr, "%s: %v\n", program, err)
		return exitUsage
	}
	if cfg.json {
		err = rep.writeJSON(c.stdout)
	} else {
		err = rep.writeText(c.stdout)
	}
	if err != nil {
		fmt.Fprintf(c.stderr, "%s: writing the report: %v\n", program, err)
		return exitUsage
	}
	if !rep.OK {
		return exitRefused
	}
	return exitAccepted
}

func (c *command) printUsage(w io.Writer) {
	fs, _ := checkFlags()
	fs.SetOutput(w)
	fmt.Fprint(w, usage)
	fs.PrintDefaults()
}

// audienceFlags collects the values of a repeated -audience.
type audienceFlags []string

func (a *audienceFlags) String() string { return strings.Join(*a, ",") }

func (a *audienceFlags) Set(s string) error {
	*a = append(*a, s)
	return nil
}

// checkFlags returns the flag set of "check" and the config it fills.
func checkFlags() (*flag.FlagSet, *checkConfig) {
	cfg := &checkConfig{}
	fs := flag.NewFlagSet(program+" check", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&cfg.jwks, "jwks", "", "PowerSync's JWKS `URI` (http or https), or a FILE holding the JWKS document")
	fs.Var((*audienceFlags)(&cfg.audiences), "audience", "an `audience` PowerSync accepts, byte for byte (repeat for more)")
	fs.BoolVar(&cfg.json, "json", false, "print the report as JSON")
	fs.DurationVar(&cfg.timeout, "timeout", 10*time.Second, "how long the JWKS fetch may take")
	return fs, cfg
}

// parseCheck reads the command line of "check". Flags may come before or
// after the token.
func parseCheck(args []string) (*checkConfig, error) {
	fs, cfg := checkFlags()
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, &usageError{msg: err.Error()}
		}
		if fs.NArg() == 0 {
			break
		}
		positional = append(positional, fs.Arg(0))
		args = fs.Args()[1:]
	}
	switch {
	case len(positional) == 0:
		return nil, usagef("no token: give it as the last argument, or - to read it from standard input")
	case len(positional) > 1:
		return nil, usagef("one token at a time (got %d arguments)", len(positional))
	case cfg.jwks == "":
		return nil, usagef("no -jwks: give PowerSync's JWKS URI, or a file holding the JWKS document")
	case len(cfg.audiences) == 0:
		return nil, usagef("no -audience: give each audience PowerSync accepts (PowerSync Cloud's is the instance URL)")
	case cfg.timeout <= 0:
		return nil, usagef("-timeout %v: give a positive duration", cfg.timeout)
	}
	cfg.token = positional[0]
	return cfg, nil
}

// check reads the token and the JWKS and diagnoses the token.
func (c *command) check(cfg *checkConfig) (*report, error) {
	raw, err := c.readToken(cfg.token)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), cfg.timeout)
	defer cancel()
	doc, err := c.readJWKS(ctx, cfg.jwks)
	if err != nil {
		return nil, err // exit status 2, as bad usage
	}
	set, err := analyzeJWKS(doc)
	if errors.Is(err, remote.ErrTooManyEntries) {
		return nil, fmt.Errorf("the JWKS at %s: %v, which package remote refuses (keeping its last good set): the JWKS of an issuer holds a handful of keys; PowerSync reads it", cfg.jwks, err)
	}
	if err != nil {
		return nil, fmt.Errorf("the JWKS at %s: %v (PowerSync drops all its cached keys when a 200 response has no \"keys\" array)", cfg.jwks, err)
	}
	opts := []jwks.VerifierOption{jwks.WithClock(c.now)}
	if len(cfg.audiences) > 1 {
		opts = append(opts, jwks.WithExtraAudiences(cfg.audiences[1:]...))
	}
	v, err := jwks.NewVerifier(set, cfg.audiences[0], opts...)
	if err != nil {
		return nil, usagef("-audience: %v", err)
	}
	return diagnose(context.Background(), v, raw, cfg.audiences, set, c.now()), nil
}

// maxTokenInput bounds what is read from standard input for the token.
const maxTokenInput = 4 * jwks.MaxTokenSize

// readToken returns the token of the argument arg: arg itself, or standard
// input for "-". Surrounding space and a "Bearer " or "Token " scheme are
// removed.
func (c *command) readToken(arg string) (string, error) {
	tok := arg
	if arg == "-" {
		b, err := io.ReadAll(io.LimitReader(c.stdin, maxTokenInput+1))
		if err != nil {
			return "", usagef("reading the token from standard input: %v", err)
		}
		if len(b) > maxTokenInput {
			return "", usagef("standard input holds more than %d bytes: give one token", maxTokenInput)
		}
		tok = string(b)
	}
	tok = strings.TrimSpace(tok)
	for _, prefix := range []string{"Authorization:", "Bearer ", "Token "} {
		if len(tok) >= len(prefix) && strings.EqualFold(tok[:len(prefix)], prefix) {
			tok = strings.TrimSpace(tok[len(prefix):])
		}
	}
	if tok == "" {
		return "", usagef("the token is empty")
	}
	return tok, nil
}
