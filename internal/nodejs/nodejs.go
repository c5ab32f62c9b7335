// Package nodejs runs the Node scripts of the repository's interop/ package
// from Go tests, so that what the library makes is checked by the same jose
// 4.15.9 that the PowerSync Service and the seed project run.
//
// The scripts need node on PATH and their dependencies installed once:
//
//	(cd interop && npm ci)
//
// make test does that. Without them, every helper skips the test with a
// message that says so, so that a plain go test ./... passes on a fresh
// clone; when the environment variable CI is set (non-empty), as on the CI
// machines, it fails the test instead, so that the interop tests cannot
// silently stop running there. Installed dependencies that do not match
// package.json fail the test everywhere.
package nodejs

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// Timeout bounds one run of a script. Generating an RSA key in Node and
// fetching a JWKS over loopback take well under a second; the margin is for
// loaded CI machines running tests in parallel under -race.
const Timeout = 60 * time.Second

// Dir returns the absolute path of the interop/ directory, found from this
// source file so that it does not depend on the test's working directory.
func Dir() string {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		panic("nodejs: runtime.Caller failed")
	}
	// file is <repo>/internal/nodejs/nodejs.go.
	return filepath.Join(filepath.Dir(file), "..", "..", "interop")
}

// errMissing marks the setup errors that mean node or the interop
// package's dependencies are not installed at all: the tests skip for them
// unless CI is set.
var errMissing = errors.New("not installed")

// setup is the result of checking, once per process, that node and the
// interop package's dependencies are installed.
var setup = sync.OnceValues(func() (string, error) { return check(Dir()) })

// check returns the path of node, after checking that node and the
// dependencies of the interop package in dir are installed. Its error wraps
// errMissing when either is not installed at all.
func check(dir string) (string, error) {
	node, err := exec.LookPath("node")
	if err != nil {
		return "", fmt.Errorf("nodejs: node is %w (not on PATH): install Node.js 20 or later, then run `npm ci` in interop/ (make test does)", errMissing)
	}
	want, err := pinnedJose(filepath.Join(dir, "package.json"))
	if err != nil {
		return "", err
	}
	installed, err := os.ReadFile(filepath.Join(dir, "node_modules", "jose", "package.json"))
	if errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("nodejs: jose is %w in interop/node_modules: run `npm ci` in interop/ (make test does)", errMissing)
	}
	if err != nil {
		return "", fmt.Errorf("nodejs: %w", err)
	}
	var pkg struct{ Version string }
	if err := json.Unmarshal(installed, &pkg); err != nil {
		return "", fmt.Errorf("nodejs: interop/node_modules/jose/package.json: %w", err)
	}
	if pkg.Version != want {
		return "", fmt.Errorf("nodejs: interop/node_modules holds jose %s, package.json pins %s: run `npm ci` in interop/", pkg.Version, want)
	}
	return node, nil
}

// needNode skips or fails t when node or the interop package's
// dependencies are not ready (see the package documentation). It runs in
// the test's goroutine, before a helper starts goroutines of its own.
func needNode(t testing.TB) {
	t.Helper()
	if _, err := setup(); err != nil {
		if errors.Is(err, errMissing) && os.Getenv("CI") == "" {
			t.Skip(err.Error() + "; the interop tests are skipped (set CI to make this a failure)")
		}
		t.Fatal(err)
	}
}

// pinnedJose returns the version of jose that package.json pins.
func pinnedJose(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("nodejs: %w", err)
	}
	var pkg struct{ Dependencies map[string]string }
	if err := json.Unmarshal(data, &pkg); err != nil {
		return "", fmt.Errorf("nodejs: %s: %w", path, err)
	}
	v := pkg.Dependencies["jose"]
	if v == "" {
		return "", fmt.Errorf("nodejs: %s does not depend on jose", path)
	}
	return v, nil
}

// Run runs `node interop/<script> args...` with stdin as its standard input
// and returns its standard output. It fails the test if node or the interop
// package is not installed, if the script exits with an error (quoting its
// stderr), or if it runs longer than Timeout.
func Run(t testing.TB, script string, stdin []byte, args ...string) []byte {
	t.Helper()
	needNode(t)
	out, err := run(script, stdin, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// run is Run returning its failure, for helpers that run scripts from
// several goroutines and must fail the test from its own.
func run(script string, stdin []byte, args ...string) ([]byte, error) {
	node, err := setup()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()

	cmd := exec.CommandContext(ctx, node, append([]string{script}, args...)...)
	cmd.Dir = Dir()
	cmd.Stdin = bytes.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	if ctx.Err() != nil {
		return nil, fmt.Errorf("nodejs: interop/%s did not finish within %v; stderr: %s", script, Timeout, strings.TrimSpace(stderr.String()))
	}
	if err != nil {
		return nil, fmt.Errorf("nodejs: interop/%s failed (%v): %s", script, err, strings.TrimSpace(stderr.String()))
	}
	return stdout.Bytes(), nil
}

// RunJSON runs a script as Run does and decodes its standard output, which
// must be one JSON value, into a T.
func RunJSON[T any](t testing.TB, script string, stdin []byte, args ...string) T {
	t.Helper()
	out := Run(t, script, stdin, args...)
	var v T
	if err := json.Unmarshal(out, &v); err != nil {
		t.Fatalf("nodejs: interop/%s printed something that is not the expected JSON (%v): %.500s", script, err, out)
	}
	return v
}

// SeedKey is a key pair made by seed-keygen.mjs, exactly as the seed's
// generate-keys.ts made it.
type SeedKey struct {
	KeyID         string          `json:"kid"`
	Algorithm     string          `json:"alg"`
	PrivateSecret string          `json:"private_secret"` // POWERSYNC_PRIVATE_KEY
	PublicSecret  string          `json:"public_secret"`  // POWERSYNC_PUBLIC_KEY
	PublicJWK     json.RawMessage `json:"public_jwk"`
}

// SeedKeygen makes a new key pair with the seed's recipe (RS256, in jose).
func SeedKeygen(t testing.TB) SeedKey {
	t.Helper()
	return RunJSON[SeedKey](t, "seed-keygen.mjs", nil)
}

// Import is the verdict of import-jwks.mjs on one key of a JWKS.
type Import struct {
	KeyID     string `json:"kid"`
	Algorithm string `json:"alg"`
	KeyType   string `json:"kty"`
	OK        bool   `json:"ok"`
	Error     string `json:"error"`
}

// ImportJWKS fetches the JWKS at url, as PowerSync does, and imports each of
// its keys with jose.
func ImportJWKS(t testing.TB, url string) []Import {
	t.Helper()
	return RunJSON[[]Import](t, "import-jwks.mjs", nil, url)
}

// ImportJWKSDocument imports each key of a JWKS document with jose.
func ImportJWKSDocument(t testing.TB, doc []byte) []Import {
	t.Helper()
	return RunJSON[[]Import](t, "import-jwks.mjs", doc)
}

// SignRequest describes a token for SignToken. Secret, Subject and Audience
// are required.
type SignRequest struct {
	Secret   string         // a POWERSYNC_PRIVATE_KEY secret: base64 of a private JWK
	Subject  string         // "sub"
	Audience string         // "aud"
	Issuer   string         // "iss"; left out when empty
	Expires  string         // jose time span for "exp", such as "5m" (the default) or "2h"
	Claims   map[string]any // extra claims
}

// SignToken mints a token with sign-token.mjs, the way the seed's edge
// function does, and returns it. The secret is passed on stdin, not in the
// command line.
func SignToken(t testing.TB, r SignRequest) string {
	t.Helper()
	return SignTokens(t, r)[0]
}

// SignTokens mints a token for each request, as SignToken does, and returns
// them in order. sign-token.mjs mints one token per run, so the runs are
// made concurrently: a test needing several tokens waits for about one
// Node start-up rather than one per token.
func SignTokens(t testing.TB, reqs ...SignRequest) []string {
	t.Helper()
	needNode(t)
	tokens := make([]string, len(reqs))
	errs := make([]error, len(reqs))
	var wg sync.WaitGroup
	for i, r := range reqs {
		wg.Go(func() { tokens[i], errs[i] = signToken(r) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("token %d: %v", i, err)
		}
	}
	return tokens
}

// signToken runs sign-token.mjs for one request.
func signToken(r SignRequest) (string, error) {
	args := []string{"--sub", r.Subject, "--aud", r.Audience}
	if r.Issuer != "" {
		args = append(args, "--iss", r.Issuer)
	}
	if r.Expires != "" {
		args = append(args, "--expires", r.Expires)
	}
	if r.Claims != nil {
		claims, err := json.Marshal(r.Claims)
		if err != nil {
			return "", fmt.Errorf("nodejs: encoding claims: %w", err)
		}
		args = append(args, "--claims", string(claims))
	}
	out, err := run("sign-token.mjs", []byte(r.Secret), args...)
	if err != nil {
		return "", err
	}
	var v struct{ Token string }
	if err := json.Unmarshal(out, &v); err != nil {
		return "", fmt.Errorf("nodejs: interop/sign-token.mjs printed something that is not the expected JSON (%w): %.500s", err, out)
	}
	if v.Token == "" {
		return "", errors.New("nodejs: sign-token.mjs printed no token")
	}
	return v.Token, nil
}

// Verification is the verdict of verify-token.mjs on one token.
type Verification struct {
	OK      bool           `json:"ok"`
	Payload map[string]any `json:"payload"` // the claims, when OK
	Header  map[string]any `json:"header"`  // the protected header, when it decodes
	Error   string         `json:"error"`
	Code    string         `json:"code"` // PowerSync's error code: S2101, S2103, S2104, S2105
}

// VerifyTokens verifies tokens as the PowerSync Service does, against the
// JWKS at jwksURL, accepting the given audiences. It returns one
// Verification per token, in order.
func VerifyTokens(t testing.TB, jwksURL string, audiences []string, tokens ...string) []Verification {
	t.Helper()
	args := []string{"--jwks", jwksURL}
	for _, aud := range audiences {
		args = append(args, "--audience", aud)
	}
	var stdin bytes.Buffer
	for _, tok := range tokens {
		if strings.ContainsAny(tok, "\r\n") {
			t.Fatalf("nodejs: a token holds a line break; verify-token.mjs reads one token per line")
		}
		stdin.WriteString(tok)
		stdin.WriteByte('\n')
	}
	out := RunJSON[[]Verification](t, "verify-token.mjs", stdin.Bytes(), args...)
	if len(out) != len(tokens) {
		t.Fatalf("nodejs: verify-token.mjs returned %d results for %d tokens", len(out), len(tokens))
	}
	return out
}
