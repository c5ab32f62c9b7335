// Powersync-keygen makes a signing key for a Go service that is its own
// PowerSync auth provider, and prints it as the secrets that service and
// Supabase read. It is the Go counterpart of the generate-keys.ts script of
// PowerSync's powersync-jwks-example project (the Edge Functions example):
// run without flags, it prints what that script printed, in the same layout,
// for an ES256 key; with -alg RS256 it makes the same kind of key as the
// script did.
//
// Usage:
//
//	powersync-keygen [-alg ES256] [-kid ID] [-bits N] [-format supabase|env|json|pem] [-out FILE [-force]]
//	powersync-keygen -format jwks|powersync-yaml -key FILE|-
//	powersync-keygen inspect [FILE|-]
//	powersync-keygen convert -to jwk|secret|pem [-public] [-kid ID] [-alg ALG] [FILE|-]
//
// The flags are:
//
//	-alg algorithm
//		The signing algorithm: RS256, RS384, RS512, ES256 (the default),
//		ES384, ES512 or EdDSA (Ed25519). Go signs ES256 about 30 times
//		faster than RS256, its tokens are about 40% smaller (a 64-byte
//		signature instead of 256 bytes), and PowerSync and Supabase accept
//		it. -alg RS256 makes the script's 2048-bit RSA key.
//	-kid id
//		The key ID. The default is "powersync-" and 10 random hex
//		characters, as the script made them.
//	-bits n
//		The size of an RSA key: 2048 (the default), 3072 or 4096.
//	-format name
//		What to print:
//		supabase: the public JWK, then the `supabase secrets set` commands
//		for POWERSYNC_PUBLIC_KEY and POWERSYNC_PRIVATE_KEY (the default,
//		the script's output);
//		env: POWERSYNC_PRIVATE_KEY=… and POWERSYNC_PUBLIC_KEY=… lines for
//		a .env file, as powersync-auth reads it;
//		json: the private key as a JWK;
//		pem: the private key as PKCS#8 PEM, then the public key as PKIX
//		PEM. PEM records neither the key ID nor the algorithm: whatever
//		loads it must be given both;
//		jwks: the public JWKS document {"keys":[…]} of the key of -key, for
//		PowerSync's static JWKS (a file, or client_auth.jwks);
//		powersync-yaml: the client_auth section of a self-hosted PowerSync
//		Service's configuration, with the public JWK of -key inline (no
//		JWKS URI to fetch) and an audience list to fill in.
//	-key file
//		For -format jwks and powersync-yaml: the key to describe, in any
//		form jwks.ParseKey reads (a private or public JWK, a base64 JWK
//		secret such as POWERSYNC_PRIVATE_KEY, PEM), or - for standard
//		input. Only its public half is printed.
//	-out file
//		Write the output to file instead of standard output, as a new file
//		readable by its owner only (mode 0600), and print only public
//		information: the public JWK and what was written where. An
//		existing file is not replaced unless -force is given.
//	-force
//		With -out, replace an existing file.
//
// The subcommands work on a key that exists, in any form jwks.ParseKey reads,
// from FILE or standard input:
//
//	inspect
//		Prints the key's ID, algorithm, type and size, RFC 7638
//		thumbprint, public JWK and public PEM. It never prints private key
//		material.
//	convert -to jwk|secret|pem
//		Prints the key in another form: the JWK, the base64 JWK secret, or
//		PEM (PKCS#8, or PKIX for a public key). -public prints the public
//		half only; -kid and -alg give what a PEM input does not hold. The
//		key ID and algorithm are kept where the target holds them; for PEM,
//		standard error says what to load it with.
//
// Every format is read back by jwks.ParseKey. The secrets are the standard
// base64 of the JWK's JSON, as the script wrote them, so a service already
// set up with the script's secrets keeps working, and keys made here work
// with the example's Edge Functions.
//
// Examples:
//
//	# The script's output, for an ES256 key:
//	powersync-keygen
//
//	# The script's output, for the script's RS256 key:
//	powersync-keygen -alg RS256
//
//	# A .env file for powersync-auth, private to its owner:
//	powersync-keygen -format env -out .env
//
//	# An Ed25519 key with a chosen key ID, as PEM:
//	powersync-keygen -alg EdDSA -kid my-key-2025 -format pem -out signing.pem
//
//	# A self-hosted PowerSync's client_auth for an existing secret:
//	echo "$POWERSYNC_PRIVATE_KEY" | powersync-keygen -format powersync-yaml -key -
//
//	# The public secret (POWERSYNC_PUBLIC_KEY) of a PEM key:
//	powersync-keygen convert -to secret -public -kid my-key-2025 -alg EdDSA signing.pem
//
// Powersync-keygen exits with status 2 for a bad flag or argument, and 1 when
// it cannot make or write the key. Its messages on standard error never
// contain private key material.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/powersync-jwks/jwks"
)

const program = "powersync-keygen"

// Exit statuses.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

// The output formats, in the order the usage text lists them.
var formats = []string{"supabase", "env", "json", "pem"}

func main() {
	os.Exit(runWith(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// config is what the command line asks for.
type config struct {
	alg    jwks.Algorithm
	kid    string
	bits   int
	format string
	out    string
	force  bool
	key    string // -key: the key a public format describes, a file or "-"
}

// usageError is a mistake on the command line: exit status 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// run is the command: it parses args, makes a key and writes it out, and
// returns the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	return runWith(args, os.Stdin, stdout, stderr)
}

// runWith is run with stdin for the inputs named "-".
func runWith(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		switch args[0] {
		case "inspect":
			return exitStatus(runInspect(args[1:], stdin, stdout), stderr)
		case "convert":
			return exitStatus(runConvert(args[1:], stdin, stdout, stderr), stderr)
		}
	}
	cfg, err := parseFlags(args, stdout)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err == nil && isPublicFormat(cfg.format) {
		err = describe(cfg, stdin, stdout)
	} else if err == nil {
		err = generate(cfg, stdout, stderr)
	}
	return exitStatus(err, stderr)
}

// exitStatus reports err on stderr and returns the exit status for it.
func exitStatus(err error, stderr io.Writer) int {
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	var ue *usageError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "%s: %v\nRun '%s -h' for usage.\n", program, err, program)
		return exitUsage
	default:
		fmt.Fprintf(stderr, "%s: %v\n", program, err)
		return exitFailure
	}
}

// parseFlags reads the command line. For -h it prints the usage text on
// stdout and returns flag.ErrHelp.
func parseFlags(args []string, stdout io.Writer) (*config, error) {
	fs := flag.NewFlagSet(program, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are reported by run, usage on -h
	var cfg config
	alg := fs.String("alg", string(jwks.ES256), "signing `algorithm`: "+algorithmList()+".\n"+
		"ES256, the default, is about 30× cheaper to sign than RS256 in Go,\n"+
		"its tokens are about 40% smaller (64-byte signatures, not 256), and\n"+
		"PowerSync and Supabase accept it. RS256 makes the 2048-bit RSA\n"+
		"key of the PowerSync Edge Functions example")
	fs.StringVar(&cfg.kid, "kid", "", "key `id` (default \"powersync-\" and 10 random hex characters)")
	fs.IntVar(&cfg.bits, "bits", 0, "RSA key size in `bits`: 2048, 3072 or 4096 (default 2048)")
	fs.StringVar(&cfg.format, "format", "supabase", "output `format`:\n"+
		"supabase: the public JWK and `supabase secrets set` commands, as\n"+
		"generate-keys.ts of the PowerSync Edge Functions example prints them\n"+
		"env: POWERSYNC_PRIVATE_KEY= and POWERSYNC_PUBLIC_KEY= lines for a .env file\n"+
		"json: the private JWK\n"+
		"pem: PKCS#8 private key PEM, then PKIX public key PEM (no kid, no alg)\n"+
		"jwks: the public JWKS {\"keys\":[…]} of -key, for PowerSync's static JWKS\n"+
		"powersync-yaml: the client_auth YAML of a self-hosted PowerSync, the\n"+
		"public JWK of -key inline")
	fs.StringVar(&cfg.out, "out", "", "write the output to `file` (mode 0600, never replacing one\n"+
		"unless -force) and print only public information")
	fs.BoolVar(&cfg.force, "force", false, "with -out, replace an existing file")
	fs.StringVar(&cfg.key, "key", "", "for -format jwks and powersync-yaml: the key to describe, a `file`\n"+
		"(or - for standard input) in any form: JWK, base64 JWK secret, PEM")

	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(stdout)
			printUsage(fs)
		}
		return nil, usageOrHelp(err)
	}
	if fs.NArg() > 0 {
		return nil, usagef("unexpected argument %q: %s takes flags only", fs.Arg(0), program)
	}

	var ok bool
	if cfg.alg, ok = lookupAlgorithm(*alg); !ok {
		hint := ""
		switch up := strings.ToUpper(*alg); {
		case strings.HasPrefix(up, "HS"):
			hint = " (HMAC keys are shared secrets; PowerSync cannot fetch them from a JWKS)"
		case strings.HasPrefix(up, "PS"):
			hint = " (PowerSync refuses RSA-PSS)"
		case up == "NONE":
			hint = " (unsigned tokens are refused)"
		}
		return nil, usagef("unsupported -alg %q%s: use one of %s", *alg, hint, algorithmList())
	}
	if !validFormat(cfg.format) {
		return nil, usagef("unknown -format %q: use one of %s", cfg.format, strings.Join(slices.Concat(formats, publicFormats), ", "))
	}
	set := make(map[string]bool)
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if err := checkPublicFlags(&cfg, set); err != nil {
		return nil, err
	}
	if set["kid"] && cfg.kid == "" {
		return nil, usagef("-kid is empty: give a key ID, or leave -kid out for a random one")
	}
	if set["bits"] {
		if !strings.HasPrefix(string(cfg.alg), "RS") {
			return nil, usagef("-bits is for RSA keys; -alg %s has a fixed size", cfg.alg)
		}
		if cfg.bits != 2048 && cfg.bits != 3072 && cfg.bits != 4096 {
			return nil, usagef("-bits %d: use 2048, 3072 or 4096", cfg.bits)
		}
	}
	if cfg.force && cfg.out == "" {
		return nil, usagef("-force needs -out")
	}
	return &cfg, nil
}

// usageOrHelp passes flag.ErrHelp through and makes any other flag error a
// usage error.
func usageOrHelp(err error) error {
	if errors.Is(err, flag.ErrHelp) {
		return err
	}
	return &usageError{msg: err.Error()}
}

func printUsage(fs *flag.FlagSet) {
	w := fs.Output()
	fmt.Fprintf(w, "Usage: %s [flags]\n\n", program)
	fmt.Fprintf(w, "%s makes a signing key for a PowerSync auth provider and prints it\n"+
		"as secrets. With no flags it prints what generate-keys.ts of the PowerSync\n"+
		"Edge Functions example prints, for an ES256 key.\n\nFlags:\n", program)
	fs.PrintDefaults()
	fmt.Fprintf(w, "\nExamples:\n"+
		"  %[1]s                              # what generate-keys.ts prints, for ES256\n"+
		"  %[1]s -alg RS256                   # the same, for its kind of key\n"+
		"  %[1]s -format env -out .env        # a .env file for powersync-auth\n"+
		"  %[1]s -format powersync-yaml -key key.json   # PowerSync's client_auth, key inline\n", program)
	fmt.Fprintf(w, "\nSubcommands:\n"+
		"  %[1]s inspect [FILE|-]                      kid, alg, type, thumbprint, public JWK and PEM of a key\n"+
		"  %[1]s convert -to jwk|secret|pem [FILE|-]   a key in another form\n", program)
}

// lookupAlgorithm finds a supported algorithm by name, ignoring case.
func lookupAlgorithm(name string) (jwks.Algorithm, bool) {
	for _, alg := range jwks.Algorithms() {
		if strings.EqualFold(name, string(alg)) {
			return alg, true
		}
	}
	return "", false
}

func algorithmList() string {
	var names []string
	for _, alg := range jwks.Algorithms() {
		names = append(names, string(alg))
	}
	return strings.Join(names, ", ")
}

func validFormat(f string) bool {
	for _, g := range formats {
		if f == g {
			return true
		}
	}
	return isPublicFormat(f)
}

// generate makes the key and writes the output where cfg says.
func generate(cfg *config, stdout, stderr io.Writer) error {
	var opts []jwks.KeyOption
	if cfg.kid != "" {
		opts = append(opts, jwks.WithKeyID(cfg.kid))
	}
	if cfg.bits != 0 {
		opts = append(opts, jwks.WithRSABits(cfg.bits))
	}
	key, err := jwks.GenerateKey(cfg.alg, opts...)
	if err != nil {
		if cfg.kid != "" && errors.Is(err, jwks.ErrInvalidKey) {
			return usagef("-kid: %v", err)
		}
		return err
	}

	secret, err := render(key, cfg.format)
	if err != nil {
		return err
	}
	pubJWK, err := key.MarshalPublic(jwks.FormatJWK)
	if err != nil {
		return err
	}
	pemNote := fmt.Sprintf("PEM records neither the key ID nor the algorithm: load it with key ID %q and algorithm %s.", key.KeyID(), key.Algorithm())

	if cfg.out == "" {
		if _, err := stdout.Write(secret); err != nil {
			return fmt.Errorf("writing the key: %w", err)
		}
		if cfg.format == "pem" {
			// Standard output holds only the PEM; the note is public.
			fmt.Fprintf(stderr, "%s: %s\n", program, pemNote)
		}
		return nil
	}

	if err := writeFile(cfg.out, secret, cfg.force); err != nil {
		return err
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "Public Key:\n%s\n\n", indentJWK(pubJWK))
	fmt.Fprintf(&b, "Wrote the private %s key %q (format %s) to %s, readable by its owner only.\n",
		key.Algorithm(), key.KeyID(), cfg.format, cfg.out)
	if cfg.format == "pem" {
		fmt.Fprintf(&b, "%s\n", pemNote)
	}
	if _, err := stdout.Write(b.Bytes()); err != nil {
		return fmt.Errorf("writing the public key: %w", err)
	}
	return nil
}

// render encodes the key in the given output format.
func render(key *jwks.Key, format string) ([]byte, error) {
	var b bytes.Buffer
	enc := encoder{key: key}
	switch format {
	case "supabase":
		// The layout of generate-keys.ts, whose console.log added a line
		// break after its text's own last one.
		fmt.Fprintf(&b, "Public Key:\n%s\n\n---\n\n", indentJWK(enc.public(jwks.FormatJWK)))
		fmt.Fprintf(&b, "Update secrets on Supabase by running the following:\n\n")
		fmt.Fprintf(&b, "supabase secrets set POWERSYNC_PUBLIC_KEY=%s\n\n", enc.public(jwks.FormatSecret))
		fmt.Fprintf(&b, "supabase secrets set POWERSYNC_PRIVATE_KEY=%s\n\n", enc.private(jwks.FormatSecret))
		fmt.Fprintf(&b, "# Get the PowerSync instance URL from the PowerSync dashboard\n")
		fmt.Fprintf(&b, "supabase secrets set POWERSYNC_URL=...\n\n")
	case "env":
		fmt.Fprintf(&b, "# PowerSync signing key %q (%s), made by %s\n", key.KeyID(), key.Algorithm(), program)
		fmt.Fprintf(&b, "POWERSYNC_PRIVATE_KEY=%s\n", enc.private(jwks.FormatSecret))
		fmt.Fprintf(&b, "POWERSYNC_PUBLIC_KEY=%s\n", enc.public(jwks.FormatSecret))
	case "json":
		b.Write(indentJWK(enc.private(jwks.FormatJWK)))
		b.WriteByte('\n')
	case "pem":
		b.Write(enc.private(jwks.FormatPEM))
		b.Write(enc.public(jwks.FormatPEM))
	default:
		return nil, usagef("unknown -format %q", format)
	}
	if enc.err != nil {
		return nil, enc.err
	}
	return b.Bytes(), nil
}

// encoder encodes one key in several formats, keeping the first error.
type encoder struct {
	key *jwks.Key
	err error
}

func (e *encoder) public(f jwks.KeyFormat) []byte {
	b, err := e.key.MarshalPublic(f)
	e.keep(err)
	return b
}

func (e *encoder) private(f jwks.KeyFormat) []byte {
	b, err := e.key.MarshalPrivate(f)
	e.keep(err)
	return b
}

func (e *encoder) keep(err error) {
	if e.err == nil {
		e.err = err
	}
}

// jwkOrder is the order members are printed in: the key type, the key
// material, then alg and kid, as the original example's generate-keys.ts
// printed an RSA JWK ({"kty", "n", "e", "alg", "kid"}). Members not listed follow in alphabetical order.
var jwkOrder = []string{"kty", "crv", "n", "e", "x", "y", "d", "p", "q", "dp", "dq", "qi", "alg", "kid", "use"}

// indentJWK returns the JWK's JSON indented by two spaces, as
// JSON.stringify(jwk, null, 2) prints it, with its members in jwkOrder. A
// JWK that does not decode is returned as it is.
func indentJWK(data []byte) []byte {
	var members map[string]json.RawMessage
	if err := json.Unmarshal(data, &members); err != nil {
		return data
	}
	rank := make(map[string]int, len(jwkOrder))
	for i, name := range jwkOrder {
		rank[name] = i + 1
	}
	names := make([]string, 0, len(members))
	for name := range members {
		names = append(names, name)
	}
	sort.Slice(names, func(i, j int) bool {
		ri, rj := rank[names[i]], rank[names[j]]
		switch {
		case ri != 0 && rj != 0:
			return ri < rj
		case ri != 0 || rj != 0:
			return ri != 0
		}
		return names[i] < names[j]
	})

	var compact bytes.Buffer
	compact.WriteByte('{')
	for i, name := range names {
		if i > 0 {
			compact.WriteByte(',')
		}
		quoted, _ := json.Marshal(name)
		compact.Write(quoted)
		compact.WriteByte(':')
		compact.Write(members[name])
	}
	compact.WriteByte('}')
	var out bytes.Buffer
	if err := json.Indent(&out, compact.Bytes(), "", "  "); err != nil {
		return data
	}
	return out.Bytes()
}

// writeFile writes data to a file readable and writable by its owner only.
// Without force it creates a new file and fails if one exists; with force it
// writes a temporary file beside path and renames it over path, so that the
// new file has mode 0600 whatever the old one had, and a reader never sees
// half a key.
func writeFile(path string, data []byte, force bool) error {
	if !force {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("%s already exists; use -force to replace it", path)
		}
		if err != nil {
			return err
		}
		if err := writeAndClose(f, data); err != nil {
			os.Remove(path)
			return err
		}
		return nil
	}

	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		return fmt.Errorf("%s is a directory", path)
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	if err := f.Chmod(0o600); err != nil { // CreateTemp already uses 0600; make sure
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := writeAndClose(f, data); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

// writeAndClose writes data to f, flushes it to disk and closes f.
func writeAndClose(f *os.File, data []byte) error {
	_, err := f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("writing %s: %w", f.Name(), err)
	}
	return nil
}
