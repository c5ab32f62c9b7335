// Package supabasetest runs a stand-in for Supabase Auth (GoTrue) in the test
// process, so that code which authenticates Supabase users can be tested
// without reaching Supabase.
//
// A Server is a real HTTP server on loopback (net/http/httptest), or on an
// in-memory network for tests inside a testing/synctest bubble
// (WithInMemoryNetwork), that answers the two endpoints a backend uses to
// check a caller's Supabase access token:
//
//   - GET /auth/v1/.well-known/jwks.json: the project's public signing keys,
//     with Cache-Control: public, max-age=600 as GoTrue sends it;
//   - GET /auth/v1/user: the signed-in user as JSON, after the checks of
//     Supabase's API gateway (the apikey header) and of GoTrue (the bearer
//     token's signature, exp, sub, session and user), with GoTrue's error
//     bodies and status codes otherwise.
//
// It also mints what a Supabase project hands out: user access tokens
// (ES256, RS256 or legacy HS256, shaped as GoTrue shapes them), the anon and
// service_role API keys (JWTs with no sub and no aud), the sb_publishable_
// and sb_secret_ keys, and many wrong variants of each for the refusal
// cases. Keys can be rotated and revoked, users deleted and banned,
// sessions revoked, and each endpoint made slow or down.
//
// Everything here is built from the facts in shared/SUPABASE.md, read from
// supabase/auth and checked against a real GoTrue. Tokens are signed with
// github.com/lestrrat-go/jwx/v2 and the standard library, never with the
// package under test, so a bug there cannot hide itself.
//
// Typical use, in a test of code that must accept a signed-in user and
// refuse everything else:
//
//	func TestSignedIn(t *testing.T) {
//		sb := supabasetest.New(t) // ES256 keys; closed when the test ends
//		alice := sb.NewUser(supabasetest.Email("alice@example.com"))
//
//		good := sb.Token(alice)
//		bad := []string{
//			sb.Token(alice, supabasetest.Expired()),
//			sb.Token(alice, supabasetest.SignedByUnknownKey()),
//			sb.Token(alice, supabasetest.Role("service_role")),
//			sb.AnonKey(),        // a good signature, but no sub: not a user
//			sb.PublishableKey(), // not a JWT at all
//		}
//		// Point the code under test at sb.Issuer() and sb.JWKSURL() (or at
//		// sb.UserURL() with sb.PublishableKey() as apikey); it must accept
//		// good and refuse each of bad.
//	}
//
// A Server is safe for concurrent use. Its methods that mint or change
// state fail the test (t.Fatalf) when misused, so call them from the test's
// goroutine; the HTTP endpoints may be hit from any number of goroutines.
package supabasetest
