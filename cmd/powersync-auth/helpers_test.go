package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/powersync-jwks/jwks"
	"github.com/powersync-jwks/jwks/internal/testkit"
	"github.com/powersync-jwks/jwks/keyring"
)

// newKEK returns a new key-encryption key, as POWERSYNC_AUTH_KEY_ENCRYPTION_KEY
// takes it: base64 of 32 random bytes.
func newKEK(t testing.TB) string {
	t.Helper()
	b := make([]byte, keyring.KEKSize)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return base64.StdEncoding.EncodeToString(b)
}

// kekBytes decodes a key-encryption key of newKEK.
func kekBytes(t testing.TB, kek string) []byte {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(kek)
	require.NoError(t, err)
	return b
}

// testPowerSyncURL is the PowerSync instance the tests make tokens for.
const testPowerSyncURL = "https://test-instance.powersync.journeyapps.com"

// envOf returns a getenv that reads m.
func envOf(m map[string]string) func(string) string {
	return func(name string) string { return m[name] }
}

// secretKey is a signing key with the texts that must never be seen
// outside the process: its base64 JWK secret and its private members.
type secretKey struct {
	key     *jwks.Key
	secret  string   // POWERSYNC_PRIVATE_KEY: base64 of the private JWK
	private []string // the values of the private JWK members (d, p, q, ...)
}

// newSecretKey makes a signing key for alg.
func newSecretKey(t testing.TB, alg jwks.Algorithm) secretKey {
	t.Helper()
	k := testkit.NewKey(t, alg)
	secret, err := k.MarshalPrivate(jwks.FormatSecret)
	require.NoError(t, err)
	return secretKey{key: k, secret: string(secret), private: privateMembers(t, string(secret))}
}

// publicSecret returns the key's POWERSYNC_PUBLIC_KEY secret.
func (k secretKey) publicSecret(t testing.TB) string {
	t.Helper()
	pub, err := k.key.MarshalPublic(jwks.FormatSecret)
	require.NoError(t, err)
	return string(pub)
}

// privateMembers returns the values of the private members of the JWK in a
// base64 JWK secret (or in JWK JSON).
func privateMembers(t testing.TB, secret string) []string {
	t.Helper()
	data := []byte(secret)
	if !strings.HasPrefix(secret, "{") {
		var err error
		data, err = base64.StdEncoding.DecodeString(secret)
		require.NoError(t, err)
	}
	var members map[string]any
	require.NoError(t, json.Unmarshal(data, &members))
	var out []string
	for _, name := range []string{"d", "p", "q", "dp", "dq", "qi"} {
		if v, ok := members[name].(string); ok {
			out = append(out, v)
		}
	}
	require.NotEmpty(t, out, "a private JWK")
	return out
}

// requireNoSecrets fails the test if text holds any of secrets, or the
// first 16 characters of one (a message may quote the start of a value).
func requireNoSecrets(t testing.TB, text string, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		require.NotEmpty(t, s, "an empty secret cannot be looked for")
		require.NotContains(t, text, s, "a secret leaked")
		if len(s) > 16 {
			require.NotContains(t, text, s[:16], "the start of a secret leaked")
		}
	}
}

// logRecord is one line of a JSON log.
type logRecord map[string]any

// jsonRecords decodes a JSON log, one record a line.
func jsonRecords(t testing.TB, log string) []logRecord {
	t.Helper()
	var out []logRecord
	sc := bufio.NewScanner(strings.NewReader(log))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var r logRecord
		require.NoError(t, json.Unmarshal(sc.Bytes(), &r), "a JSON log line: %s", sc.Text())
		out = append(out, r)
	}
	return out
}

// listeningAddr returns the address of the start-up record of a JSON log,
// or "" before there is one.
func listeningAddr(t testing.TB, log string) string {
	t.Helper()
	for _, r := range jsonRecords(t, log) {
		if r["msg"] == program+" listening" {
			addr, _ := r["addr"].(string)
			return addr
		}
	}
	return ""
}

// waitFor polls cond until it holds, or fails the test after timeout,
// naming what it waited for.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	testkit.Eventually(t, timeout, cond, "timed out after %v waiting for %s", timeout, what)
}

// running is the command run in-process by startRun.
type running struct {
	url  string             // http://<addr>
	logs *testkit.LogBuffer // its JSON log
	stop func() int         // cancels its context and returns its exit status
}

// startRun runs the command in-process with args and env, on a free
// loopback port with JSON logs, and waits until it listens. The test fails
// if it exits first, or is still running when the test ends.
func startRun(t testing.TB, env map[string]string, args ...string) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	logs := &testkit.LogBuffer{}
	done := make(chan int, 1)
	args = append([]string{"-listen", "127.0.0.1:0", "-log-format", "json", "-log-level", "debug"}, args...)
	go func() { done <- run(ctx, args, envOf(env), io.Discard, logs) }()

	r := &running{logs: logs}
	var once sync.Once
	code := -1
	r.stop = func() int {
		once.Do(func() {
			cancel()
			select {
			case code = <-done:
			case <-time.After(shutdownTimeout + 5*time.Second):
				t.Errorf("the server did not stop; log:\n%s", logs.String())
			}
		})
		return code
	}
	t.Cleanup(func() { r.stop() })

	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case code := <-done:
			t.Fatalf("run exited with status %d before listening; log:\n%s", code, logs.String())
		default:
		}
		if addr := listeningAddr(t, logs.String()); addr != "" {
			r.url = "http://" + addr
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("run did not listen within 10 s; log:\n%s", logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// response is a response read whole.
type response struct {
	status int
	header http.Header
	body   []byte
}

// errorCode checks that the response is a JSON error of the handlers'
// shape, and returns its error code.
func (r response) errorCode(t testing.TB) string {
	t.Helper()
	code, _ := testkit.ErrorBody(t, r.header, r.body)
	return code
}

// tokenBody decodes a successful token response, and checks its headers.
func (r response) tokenBody(t testing.TB) testkit.TokenBody {
	t.Helper()
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	require.Equal(t, "application/json", r.header.Get("Content-Type"))
	require.Equal(t, "no-store", r.header.Get("Cache-Control"))
	var b testkit.TokenBody
	require.NoError(t, json.Unmarshal(r.body, &b), "%s", r.body)
	require.NotEmpty(t, b.Token)
	return b
}

// do sends a request with the given headers ("Name: value") and reads the
// response.
func do(t testing.TB, method, url string, headers ...string) response {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	require.NoError(t, err)
	for _, h := range headers {
		name, value, ok := strings.Cut(h, ": ")
		require.True(t, ok, "header %q", h)
		req.Header.Add(name, value)
	}
	client := &http.Client{Timeout: 20 * time.Second}
	res, err := client.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return response{status: res.StatusCode, header: res.Header, body: body}
}

// child is the built command running as a process of its own.
type child struct {
	url  string             // http://<addr>
	logs *testkit.LogBuffer // its JSON log, stdout and stderr
	cmd  *exec.Cmd
	done chan struct{} // closed when it has exited; then err is cmd.Wait's
	err  error
}

// startChild runs the binary bin (see buildCommand) in a temporary
// directory with exactly the environment env, on a free loopback port with
// JSON logs, and waits until its start-up line names its address and
// /healthz answers. The test fails if it exits first. When the test ends it
// gets SIGTERM, and is killed if it is still running after the shutdown
// timeout.
func startChild(t *testing.T, bin string, env []string, args ...string) *child {
	t.Helper()
	c := &child{logs: &testkit.LogBuffer{}, done: make(chan struct{})}
	args = append(args, "-listen", "127.0.0.1:0", "-log-format", "json", "-log-level", "debug")
	c.cmd = exec.Command(bin, args...)
	c.cmd.Dir = t.TempDir() // a key file, if one is made, goes there
	c.cmd.Env = env
	c.cmd.Stdout, c.cmd.Stderr = c.logs, c.logs
	require.NoError(t, c.cmd.Start())
	go func() {
		c.err = c.cmd.Wait()
		close(c.done)
	}()
	t.Cleanup(func() {
		if c.exited() {
			return
		}
		c.cmd.Process.Signal(syscall.SIGTERM) //nolint:errcheck // it may have exited
		select {
		case <-c.done:
		case <-time.After(shutdownTimeout + 5*time.Second):
			c.cmd.Process.Kill() //nolint:errcheck // it may have exited
			<-c.done
		}
	})

	waitFor(t, 30*time.Second, "the start-up line", func() bool {
		if c.exited() {
			t.Fatalf("the command exited early (%v); log:\n%s", c.err, c.logs.String())
		}
		if addr := listeningAddr(t, c.logs.String()); addr != "" {
			c.url = "http://" + addr
		}
		return c.url != ""
	})
	client := &http.Client{Timeout: 5 * time.Second}
	waitFor(t, 30*time.Second, "/healthz", func() bool {
		res, err := client.Get(c.url + routeHealth)
		if err != nil {
			return false
		}
		res.Body.Close()
		return res.StatusCode == http.StatusOK
	})
	return c
}

// exited reports whether the process has exited.
func (c *child) exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}
