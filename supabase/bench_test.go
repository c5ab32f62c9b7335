package supabase_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/powersync-jwks/jwks"
	"github.com/powersync-jwks/jwks/internal/supabasetest"
	"github.com/powersync-jwks/jwks/internal/testkit"
	"github.com/powersync-jwks/jwks/supabase"
)

// discardWriter is a ResponseWriter that keeps its header map between
// requests and throws the body away.
type discardWriter struct {
	header http.Header
	status int
}

func (w *discardWriter) Header() http.Header         { return w.header }
func (w *discardWriter) WriteHeader(status int)      { w.status = status }
func (w *discardWriter) Write(b []byte) (int, error) { return len(b), nil }

// signedInRequest returns the token handler of a for PowerSync tokens
// signed with alg, and a request of a signed-in user of sb (an ES256
// access token), after one request that waited for the project's JWKS.
func signedInRequest(b *testing.B, sb *supabasetest.Server, a *supabase.Authenticator, alg jwks.Algorithm) (http.Handler, *http.Request) {
	b.Helper()
	key, err := jwks.GenerateKey(alg)
	require.NoError(b, err)
	ks, err := jwks.NewKeySet(key)
	require.NoError(b, err)
	s, err := jwks.NewSigner(ks, powersyncURL)
	require.NoError(b, err)
	h, err := jwks.NewTokenHandler(s, a, jwks.WithLogger(testkit.Discard))
	require.NoError(b, err)
	req := requestWith(sb.Token(sb.NewUser(supabasetest.Email("alice@example.com"))))
	w := &discardWriter{header: make(http.Header)}
	h.ServeHTTP(w, req)
	require.Equal(b, http.StatusOK, w.status)
	return h, req
}

// serveLoop serves req with h until the benchmark ends.
func serveLoop(b *testing.B, h http.Handler, req *http.Request) {
	w := &discardWriter{header: make(http.Header)}
	b.ReportAllocs()
	defer testkit.CPUPerOp(b)()
	for b.Loop() {
		clear(w.header)
		h.ServeHTTP(w, req)
	}
	if w.status != http.StatusOK {
		b.Fatalf("status %d", w.status)
	}
}

// BenchmarkSignedIn is a whole request of a signed-in user to the token
// handler, in process, through the Supabase stand-in: "local" verifies the
// ES256 access token against the project's JWKS (cached), "strict" also
// asks the stand-in's /auth/v1/user over loopback HTTP (whose own work is
// counted: it runs in the benchmark's process). Both sign an ES256
// PowerSync token.
func BenchmarkSignedIn(b *testing.B) {
	strict := func(sb *supabasetest.Server) []supabase.Option {
		return []supabase.Option{supabase.WithStrict(), supabase.WithAPIKey(sb.AnonKey())}
	}
	run := func(opts func(sb *supabasetest.Server) []supabase.Option) func(*testing.B) {
		return func(b *testing.B) {
			sb := supabasetest.New(b)
			var o []supabase.Option
			if opts != nil {
				o = opts(sb)
			}
			h, req := signedInRequest(b, sb, newAuthenticator(b, sb, o...), jwks.ES256)
			serveLoop(b, h, req)
		}
	}
	testkit.RunPair(b, "", [2]string{"local", "strict"}, [2]func(*testing.B){run(nil), run(strict)})
}

// BenchmarkSignedInRepeat bounds what handing the same signed-in identity
// the token of the second again (a client retrying, a reconnect storm)
// could save: "request" is the whole request, local verification and a
// signature with a PowerSync key of each algorithm; "authenticate" is the
// request's Authenticate alone, the least a request served from such a
// cache would still cost.
func BenchmarkSignedInRepeat(b *testing.B) {
	for _, alg := range []jwks.Algorithm{jwks.ES256, jwks.RS256} {
		sb := supabasetest.New(b)
		a := newAuthenticator(b, sb)
		h, req := signedInRequest(b, sb, a, alg)
		testkit.RunPair(b, string(alg), [2]string{"request", "authenticate"}, [2]func(*testing.B){
			func(b *testing.B) { serveLoop(b, h, req) },
			func(b *testing.B) {
				b.ReportAllocs()
				defer testkit.CPUPerOp(b)()
				for b.Loop() {
					if _, err := a.Authenticate(req); err != nil {
						b.Fatal(err)
					}
				}
			},
		})
	}
}
