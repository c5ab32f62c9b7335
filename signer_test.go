package jwks_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/powersync-jwks/jwks"
	"github.com/powersync-jwks/jwks/internal/testkit"
)

const testAudience = "https://abc123.powersync.journeyapps.com"

// fixedClock returns a clock stopped at t.
func fixedClock(t time.Time) func() time.Time { return func() time.Time { return t } }

// decodeToken splits a compact JWS and returns its header and claims JSON.
func decodeToken(t testing.TB, token string) (header, claims []byte) {
	t.Helper()
	parts := strings.Split(token, ".")
	require.Len(t, parts, 3)
	header, err := base64.RawURLEncoding.DecodeString(parts[0])
	require.NoError(t, err)
	claims, err = base64.RawURLEncoding.DecodeString(parts[1])
	require.NoError(t, err)
	_, err = base64.RawURLEncoding.DecodeString(parts[2])
	require.NoError(t, err)
	return header, claims
}

// floorVerifierFor returns a standard-library verifier that knows the keys.
func floorVerifierFor(aud string, keys ...*jwks.Key) *floorVerifier {
	f := &floorVerifier{keys: map[string]floorKey{}, aud: aud}
	for _, k := range keys {
		f.keys[k.KeyID()] = floorKey{alg: string(k.Algorithm()), pub: k.Public()}
	}
	return f
}

func newSigner(t testing.TB, key *jwks.Key, opts ...jwks.SignerOption) *jwks.Signer {
	t.Helper()
	ks, err := jwks.NewKeySet(key)
	require.NoError(t, err)
	s, err := jwks.NewSigner(ks, testAudience, opts...)
	require.NoError(t, err)
	return s
}

func TestSignerTokenShape(t *testing.T) {
	now := time.Unix(1_790_000_000, 0)
	for _, alg := range jwks.Algorithms() {
		t.Run(string(alg), func(t *testing.T) {
			key := testkit.Key(t, alg)
			s := newSigner(t, key, jwks.WithClock(fixedClock(now.Add(400*time.Millisecond))))
			tok, err := s.Sign(context.Background(), "user-1")
			require.NoError(t, err)

			header, claims := decodeToken(t, tok.Raw)
			assert.Equal(t, `{"alg":"`+string(alg)+`","kid":"`+key.KeyID()+`","typ":"JWT"}`, string(header))
			assert.Equal(t, `{"sub":"user-1","aud":"`+testAudience+`","iat":1790000000,"exp":1790000300}`, string(claims))
			assert.Equal(t, "user-1", tok.Subject)
			assert.Equal(t, key.KeyID(), tok.KeyID)
			assert.Equal(t, now, tok.IssuedAt)
			assert.Equal(t, now.Add(5*time.Minute), tok.ExpiresAt)
			assert.Empty(t, tok.ID)
			assert.Equal(t, testAudience, s.Audience())
			assert.Equal(t, 5*time.Minute, s.Lifetime())

			// An independent verifier, with the current time, accepts a fresh token.
			fresh, err := newSigner(t, key).Sign(context.Background(), "user-2")
			require.NoError(t, err)
			sub, err := floorVerifierFor(testAudience, key).verify(fresh.Raw)
			require.NoError(t, err)
			assert.Equal(t, "user-2", sub)
		})
	}
}

func TestSignerOptions(t *testing.T) {
	now := time.Unix(1_790_000_000, 0)
	key := testkit.Key(t, jwks.ES256)
	clock := jwks.WithClock(fixedClock(now))

	claimsOf := func(t *testing.T, tok *jwks.Token) map[string]any {
		_, claims := decodeToken(t, tok.Raw)
		var m map[string]any
		d := json.NewDecoder(strings.NewReader(string(claims)))
		d.UseNumber()
		require.NoError(t, d.Decode(&m))
		return m
	}

	t.Run("issuer and audiences", func(t *testing.T) {
		s := newSigner(t, key, clock, jwks.WithIssuer("https://ref.supabase.co"), jwks.WithExtraAudiences("https://other.example"))
		tok, err := s.Sign(context.Background(), "u")
		require.NoError(t, err)
		_, claims := decodeToken(t, tok.Raw)
		assert.Equal(t, `{"sub":"u","aud":["`+testAudience+`","https://other.example"],"iss":"https://ref.supabase.co","iat":1790000000,"exp":1790000300}`, string(claims))
	})
	t.Run("lifetime", func(t *testing.T) {
		tok, err := newSigner(t, key, clock, jwks.WithTokenLifetime(time.Hour)).Sign(context.Background(), "u")
		require.NoError(t, err)
		assert.Equal(t, json.Number("1790003600"), claimsOf(t, tok)["exp"])
		assert.Equal(t, now.Add(time.Hour), tok.ExpiresAt)
	})
	t.Run("token ID", func(t *testing.T) {
		s := newSigner(t, key, clock, jwks.WithTokenID(true))
		a, err := s.Sign(context.Background(), "u")
		require.NoError(t, err)
		b, err := s.Sign(context.Background(), "u")
		require.NoError(t, err)
		assert.Len(t, a.ID, 22)
		assert.NotEqual(t, a.ID, b.ID)
		assert.Equal(t, a.ID, claimsOf(t, a)["jti"])
	})
	t.Run("parameters and claims", func(t *testing.T) {
		s := newSigner(t, key, clock)
		tok, err := s.Sign(context.Background(), "u",
			jwks.WithParameters(map[string]any{"org": "acme", "admin": true}),
			jwks.WithClaim("role", "editor"), jwks.WithClaim("email", "a@b.example"), jwks.WithClaim("role", "viewer"))
		require.NoError(t, err)
		_, claims := decodeToken(t, tok.Raw)
		assert.Equal(t, `{"sub":"u","aud":"`+testAudience+`","iat":1790000000,"exp":1790000300,"parameters":{"admin":true,"org":"acme"},"email":"a@b.example","role":"viewer"}`, string(claims))

		type params struct {
			UserID string `json:"user_id"`
		}
		tok, err = s.Sign(context.Background(), "u", jwks.WithParameters(map[string]any(nil)))
		require.NoError(t, err)
		assert.NotContains(t, claimsOf(t, tok), "parameters", "a nil map adds no parameters")

		tok, err = s.Sign(context.Background(), "u", jwks.WithParameters(params{UserID: "u"}))
		require.NoError(t, err)
		assert.Equal(t, map[string]any{"user_id": "u"}, claimsOf(t, tok)["parameters"])
	})
	t.Run("subject escaping", func(t *testing.T) {
		tok, err := newSigner(t, key, clock).Sign(context.Background(), "a\"b\\c\n<é>")
		require.NoError(t, err)
		assert.Equal(t, "a\"b\\c\n<é>", claimsOf(t, tok)["sub"])
	})
}

// TestLifetimeWholeSeconds: a lifetime with a fraction of a second is cut
// to whole seconds, in the tokens and in what Lifetime says alike.
func TestLifetimeWholeSeconds(t *testing.T) {
	s := newSigner(t, testkit.Key(t, jwks.ES256), jwks.WithTokenLifetime(90*time.Second+500*time.Millisecond))
	assert.Equal(t, 90*time.Second, s.Lifetime())
	tok, err := s.Sign(context.Background(), "u")
	require.NoError(t, err)
	assert.Equal(t, 90*time.Second, tok.ExpiresAt.Sub(tok.IssuedAt))
	_, claims := decodeToken(t, tok.Raw)
	var c struct{ Iat, Exp int64 }
	require.NoError(t, json.Unmarshal(claims, &c))
	assert.Equal(t, int64(90), c.Exp-c.Iat)
}

func TestSignRefusals(t *testing.T) {
	s := newSigner(t, testkit.Key(t, jwks.ES256), jwks.WithTokenLifetime(time.Hour))
	canceled, cancel := context.WithCancel(context.Background())
	cancel()

	for _, tc := range []struct {
		name    string
		ctx     context.Context
		subject string
		opts    []jwks.SignOption
		want    string
	}{
		{"empty subject", context.Background(), "", nil, "empty subject"},
		{"subject not UTF-8", context.Background(), "\xff", nil, "not valid UTF-8"},
		{"canceled context", canceled, "u", nil, "context canceled"},
		{"parameters array", context.Background(), "u", []jwks.SignOption{jwks.WithParameters([]string{"a"})}, "JSON object"},
		{"parameters string", context.Background(), "u", []jwks.SignOption{jwks.WithParameters("a")}, "JSON object"},
		{"parameters unencodable", context.Background(), "u", []jwks.SignOption{jwks.WithParameters(map[string]any{"f": func() {}})}, "encoding parameters"},
		{"claim unencodable", context.Background(), "u", []jwks.SignOption{jwks.WithClaim("c", make(chan int))}, `encoding claim "c"`},
		{"empty claim name", context.Background(), "u", []jwks.SignOption{jwks.WithClaim("", 1)}, "claim name"},
		{"token too large", context.Background(), "u", []jwks.SignOption{jwks.WithClaim("big", strings.Repeat("x", jwks.MaxTokenSize))}, "more than 16384 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok, err := s.Sign(tc.ctx, tc.subject, tc.opts...)
			require.Error(t, err)
			assert.Nil(t, tok)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
	for _, name := range []string{"sub", "aud", "iat", "exp", "iss", "nbf", "jti", "parameters"} {
		t.Run("reserved claim "+name, func(t *testing.T) {
			_, err := s.Sign(context.Background(), "u", jwks.WithClaim(name, "x"))
			require.ErrorContains(t, err, `claim "`+name+`" is set by the Signer`)
		})
	}
}

func TestNewSignerRefusals(t *testing.T) {
	ks, err := jwks.NewKeySet(testkit.Key(t, jwks.ES256))
	require.NoError(t, err)
	verifyOnly, err := jwks.NewKeySet(nil, testkit.Key(t, jwks.ES256).PublicOnly())
	require.NoError(t, err)

	for _, tc := range []struct {
		name     string
		ks       *jwks.KeySet
		audience string
		opts     []jwks.SignerOption
		want     string
	}{
		{"nil key set", nil, testAudience, nil, "nil KeySet"},
		{"no signing key", verifyOnly, testAudience, nil, "no signing key"},
		{"empty audience", ks, "", nil, "empty audience"},
		{"audience with newline", ks, testAudience + "\n", nil, "surrounding spaces"},
		{"audience with space", ks, " " + testAudience, nil, "surrounding spaces"},
		{"audience twice", ks, testAudience, []jwks.SignerOption{jwks.WithExtraAudiences(testAudience)}, "given twice"},
		{"empty extra audience", ks, testAudience, []jwks.SignerOption{jwks.WithExtraAudiences("")}, "empty audience"},
		{"issuer with space", ks, testAudience, []jwks.SignerOption{jwks.WithIssuer("x ")}, "issuer"},
		{"zero lifetime", ks, testAudience, []jwks.SignerOption{jwks.WithTokenLifetime(0)}, "lifetime"},
		{"lifetime under a second", ks, testAudience, []jwks.SignerOption{jwks.WithTokenLifetime(999 * time.Millisecond)}, "lifetime"},
		{"lifetime over a day", ks, testAudience, []jwks.SignerOption{jwks.WithTokenLifetime(24*time.Hour + time.Second)}, "lifetime"},
		{"nil clock", ks, testAudience, []jwks.SignerOption{jwks.WithClock(nil)}, "nil clock"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := jwks.NewSigner(tc.ks, tc.audience, tc.opts...)
			require.ErrorContains(t, err, tc.want)
			assert.Nil(t, s)
			assert.True(t, strings.HasPrefix(err.Error(), "jwks: "))
		})
	}
	s, err := jwks.NewSigner(ks, testAudience+"/")
	require.NoError(t, err, "a trailing slash is the caller's choice")
	assert.Equal(t, testAudience+"/", s.Audience(), "the audience is used byte for byte")
}

func TestSignerWithExternalKey(t *testing.T) {
	for _, alg := range []jwks.Algorithm{jwks.RS256, jwks.ES256, jwks.ES384, jwks.EdDSA} {
		t.Run(string(alg), func(t *testing.T) {
			priv := privateOf(t, testkit.Key(t, alg))
			ext := &countingSigner{Signer: priv.(crypto.Signer)}
			key, err := jwks.NewExternalKey(ext, alg, jwks.WithKeyID("kms-"+string(alg)))
			require.NoError(t, err)
			tok, err := newSigner(t, key).Sign(context.Background(), "kms-user")
			require.NoError(t, err)
			assert.Equal(t, int64(1), ext.calls.Load(), "the external signer signed the token")
			sub, err := floorVerifierFor(testAudience, key).verify(tok.Raw)
			require.NoError(t, err)
			assert.Equal(t, "kms-user", sub)
		})
	}
}

func TestSignerDuringRotation(t *testing.T) {
	a, b := testkit.NewKey(t, jwks.ES256), testkit.NewKey(t, jwks.EdDSA)
	ks, err := jwks.NewKeySet(a)
	require.NoError(t, err)
	s, err := jwks.NewSigner(ks, testAudience)
	require.NoError(t, err)
	floor := floorVerifierFor(testAudience, a, b)

	done := make(chan struct{})
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-done:
					return
				default:
				}
				tok, err := s.Sign(context.Background(), "u")
				if !assert.NoError(t, err) {
					return
				}
				_, err = floor.verify(tok.Raw)
				assert.NoError(t, err, "every token is signed by the key its header names")
			}
		}()
	}
	for i := range 50 {
		next := a
		if i%2 == 0 {
			next = b
		}
		require.NoError(t, ks.Replace(next, a.PublicOnly(), b.PublicOnly()))
		time.Sleep(time.Millisecond)
	}
	close(done)
	wg.Wait()
}

// TestSignerExternalECDSAConversion checks that an ASN.1 signature from an
// external ECDSA signer of every curve is converted to fixed-width R‖S.
func TestSignerExternalECDSAConversion(t *testing.T) {
	for _, c := range []struct {
		alg   jwks.Algorithm
		curve elliptic.Curve
	}{{jwks.ES256, elliptic.P256()}, {jwks.ES384, elliptic.P384()}, {jwks.ES512, elliptic.P521()}} {
		priv, err := ecdsa.GenerateKey(c.curve, rand.Reader)
		require.NoError(t, err)
		key, err := jwks.NewExternalKey(&countingSigner{Signer: priv}, c.alg)
		require.NoError(t, err)
		s := newSigner(t, key)
		for range 20 { // R or S with leading zero bytes come up often enough
			tok, err := s.Sign(context.Background(), "u")
			require.NoError(t, err)
			_, err = floorVerifierFor(testAudience, key).verify(tok.Raw)
			require.NoError(t, err, c.alg)
		}
	}
}

func TestSignerWaitsForATurn(t *testing.T) {
	s := newSigner(t, testkit.Key(t, jwks.ES256))
	jwks.SetSignTurns(s, 1)
	giveBack := jwks.TakeSignTurn(s) // a signature in progress

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, err := s.Sign(ctx, "u")
	require.Error(t, err)
	assert.ErrorIs(t, err, jwks.ErrUnavailable)
	assert.ErrorIs(t, err, context.DeadlineExceeded)

	h := newTokenHandler(t, s, jwks.Anonymous(jwks.WithUniqueSubjects()), jwks.WithLogger(slog.New(slog.DiscardHandler)))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil).WithContext(ctx))
	requireJSONError(t, rec.Result(), http.StatusServiceUnavailable, "temporarily_unavailable")

	done := make(chan error)
	go func() {
		_, err := s.Sign(context.Background(), "u")
		done <- err
	}()
	select {
	case <-done:
		t.Fatal("signed without a turn")
	case <-time.After(10 * time.Millisecond):
	}
	giveBack()
	require.NoError(t, <-done, "the waiting signature goes once the turn is given back")
}

func TestSignerExternalKeysNeedNoTurn(t *testing.T) {
	key, err := jwks.NewExternalKey(&countingSigner{Signer: privateOf(t, testkit.Key(t, jwks.ES256)).(crypto.Signer)}, jwks.ES256)
	require.NoError(t, err)
	s := newSigner(t, key)
	jwks.SetSignTurns(s, 1)
	defer jwks.TakeSignTurn(s)()
	_, err = s.Sign(context.Background(), "u")
	assert.NoError(t, err, "a KMS signature waits for the KMS, not for a CPU")
}
