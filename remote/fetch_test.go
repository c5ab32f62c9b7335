package remote

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/powersync-jwks/jwks"
	"github.com/powersync-jwks/jwks/internal/testkit"
)

func TestRefreshDelay(t *testing.T) {
	cfg := defaultConfig()
	tests := []struct {
		header []string
		want   time.Duration
	}{
		{nil, 5 * time.Minute},
		{[]string{"Cache-Control", "public"}, 5 * time.Minute},
		{[]string{"Cache-Control", "public, max-age=600"}, 10 * time.Minute},
		{[]string{"Cache-Control", "public, max-age=300"}, 5 * time.Minute},
		{[]string{"Cache-Control", "max-age=120, must-revalidate"}, 2 * time.Minute},
		{[]string{"Cache-Control", `max-age="120"`}, 2 * time.Minute},
		{[]string{"Cache-Control", "Max-Age=120"}, 2 * time.Minute},
		{[]string{"Cache-Control", "max-age=86400"}, 10 * time.Minute},
		{[]string{"Cache-Control", "max-age=99999999999999999999"}, time.Minute},
		{[]string{"Cache-Control", "max-age=5"}, time.Minute},
		{[]string{"Cache-Control", "max-age=0"}, time.Minute},
		{[]string{"Cache-Control", "no-cache"}, time.Minute},
		{[]string{"Cache-Control", "no-store, max-age=600"}, time.Minute},
		{[]string{"Cache-Control", "max-age=soon"}, time.Minute},
		{[]string{"Cache-Control", "max-age=300, max-age=600"}, time.Minute},
		{[]string{"Cache-Control", "max-age=600", "Age", "400"}, 200 * time.Second},
		{[]string{"Cache-Control", "max-age=600", "Age", "900"}, time.Minute},
		{[]string{"Cache-Control", "max-age=600", "Age", "bogus"}, 10 * time.Minute},
		{[]string{"Cache-Control", "s-maxage=30"}, 5 * time.Minute},
	}
	for _, tc := range tests {
		h := http.Header{}
		for i := 0; i+1 < len(tc.header); i += 2 {
			h.Set(tc.header[i], tc.header[i+1])
		}
		assert.Equal(t, tc.want, cfg.refreshDelay(h), "%v", tc.header)
	}
}

func TestHonoursMaxAge(t *testing.T) {
	a := testkit.NewKey(t, jwks.ES256, jwks.WithKeyID("a"))
	doc := docOf(t, a)
	for _, tc := range []struct {
		name   string
		header []string
		opts   []Option
		every  time.Duration
	}{
		{"Supabase's max-age=600, over the refresh interval", []string{"Cache-Control", "public, max-age=600"}, nil, 10 * time.Minute},
		{"max-age less its Age", []string{"Cache-Control", "max-age=600", "Age", "400"}, nil, 200 * time.Second},
		{"raised to the minimum", []string{"Cache-Control", "max-age=0"}, []Option{WithRefreshInterval(time.Hour)}, time.Minute},
		{"no-cache", []string{"Cache-Control", "no-cache"}, []Option{WithRefreshInterval(time.Hour)}, time.Minute},
		{"lowered to the maximum", []string{"Cache-Control", "max-age=86400"}, []Option{WithRefreshInterval(time.Hour)}, 10 * time.Minute},
		{"other bounds", []string{"Cache-Control", "max-age=86400"}, []Option{WithMaxAgeBounds(time.Second, 2*time.Hour)}, 2 * time.Hour},
		{"no max-age: the refresh interval", nil, []Option{WithRefreshInterval(7 * time.Minute)}, 7 * time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				e := newBubbleEnv(t, serveDoc(doc, tc.header...))
				e.keySet(t, append(tc.opts, WithMaxStaleness(24*time.Hour))...)
				for i := 1; i <= 3; i++ {
					synctest.Wait()
					assert.Equal(t, i, e.srv.fetches())
					time.Sleep(tc.every - time.Nanosecond)
					synctest.Wait()
					assert.Equal(t, i, e.srv.fetches(), "not before max-age")
					time.Sleep(time.Nanosecond)
				}
			})
		})
	}
}

func TestNotModified(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := testkit.NewKey(t, jwks.ES256, jwks.WithKeyID("a"))
		b := testkit.NewKey(t, jwks.ES256, jwks.WithKeyID("b"))
		e := newBubbleEnv(t, serveDoc(docOf(t, a), "ETag", `"v1"`, "Cache-Control", "max-age=120"))
		ks := e.keySet(t, WithMaxStaleness(time.Hour))
		ctx := t.Context()
		start := time.Now()
		_, err := ks.LookupKey(ctx, "a")
		require.NoError(t, err)
		assert.Empty(t, e.srv.lastHeader("If-None-Match"))

		// Refreshed every 2 minutes, as max-age says, with 304s: each is a
		// good fetch, so 101 minutes after the one 200 the set is still
		// fresh enough.
		time.Sleep(101 * time.Minute)
		synctest.Wait()
		assert.Equal(t, 1+50, e.srv.fetches())
		assert.Equal(t, `"v1"`, e.srv.lastHeader("If-None-Match"))
		assert.True(t, ks.LastFetch().Equal(start.Add(100*time.Minute)), "LastFetch %v", ks.LastFetch())
		assert.Equal(t, []string{"a"}, ks.KeyIDs())
		_, err = ks.LookupKey(ctx, "a")
		require.NoError(t, err)

		e.srv.set(serveDoc(docOf(t, b), "ETag", `"v2"`))
		require.NoError(t, ks.Refresh(ctx))
		assert.Equal(t, `"v1"`, e.srv.lastHeader("If-None-Match"))
		assert.Equal(t, []string{"b"}, ks.KeyIDs())
		require.NoError(t, ks.Refresh(ctx))
		assert.Equal(t, `"v2"`, e.srv.lastHeader("If-None-Match"))
		assert.Equal(t, []string{"b"}, ks.KeyIDs())
	})

	t.Run("without a condition", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			e := newBubbleEnv(t, serveStatus(http.StatusNotModified))
			ks := e.keySet(t)
			_, err := ks.LookupKey(t.Context(), "a")
			require.ErrorIs(t, err, jwks.ErrUnavailable)
			assert.ErrorContains(t, err, "not conditional")
			assert.True(t, ks.LastFetch().IsZero())
			assert.False(t, ks.Usable(), "no good fetch yet")
		})
	})
}

func TestBadDocuments(t *testing.T) {
	a := testkit.NewKey(t, jwks.ES256, jwks.WithKeyID("a"))
	b := testkit.NewKey(t, jwks.EdDSA, jwks.WithKeyID("b"))
	c := testkit.NewKey(t, jwks.ES256, jwks.WithKeyID("c"))
	other := testkit.NewKey(t, jwks.ES256, jwks.WithKeyID("c")) // a different key with c's ID
	const limit = 4096

	private, err := c.MarshalPrivate(jwks.FormatJWK)
	require.NoError(t, err)
	var privateMembers map[string]any
	require.NoError(t, json.Unmarshal(private, &privateMembers))
	secretD := privateMembers["d"].(string)

	// with returns c's public JWK changed by f.
	with := func(f func(m map[string]any)) map[string]any {
		m := jwkMap(t, c)
		f(m)
		return m
	}
	set := func(name string, v any) map[string]any {
		return with(func(m map[string]any) { m[name] = v })
	}
	without := func(name string) map[string]any {
		return with(func(m map[string]any) { delete(m, name) })
	}
	offCurve := base64.RawURLEncoding.EncodeToString(bytes.Repeat([]byte{1}, 32))
	weakModulus := append([]byte{0xc1}, bytes.Repeat([]byte{0x55}, 127)...)
	weakModulus[127] |= 1
	padded := func(doc []byte, size int) []byte {
		return append(doc[:len(doc)-1:len(doc)-1], append(bytes.Repeat([]byte(" "), size-len(doc)), '}')...)
	}
	big := padded(docOf(t, b), limit+1)

	refused := []struct {
		name    string
		handler http.HandlerFunc
	}{
		{"status 500", serveStatus(http.StatusInternalServerError)},
		{"status 404", serveStatus(http.StatusNotFound)},
		{"status 429", serveStatus(http.StatusTooManyRequests)},
		{"status 204", serveStatus(http.StatusNoContent)},
		{"empty body", serveDoc(nil)},
		{"HTML", serveDoc([]byte("<html><body>Bad gateway</body></html>"))},
		{"truncated JSON", serveDoc(docOf(t, b)[:20])},
		{"no keys member", serveDoc([]byte(`{"issuer":"x"}`))},
		{"keys null", serveDoc([]byte(`{"keys":null}`))},
		{"keys an object", serveDoc([]byte(`{"keys":{"kty":"EC"}}`))},
		{"keys a string", serveDoc([]byte(`{"keys":"none"}`))},
		{"a JSON array", serveDoc([]byte(`[` + string(publicJWK(t, b)) + `]`))},
		{"a JSON string", serveDoc([]byte(`"keys"`))},
		{"JSON null", serveDoc([]byte(`null`))},
		{"over MaxDocumentEntries entries", serveDoc(docOf(t, append([]any{b}, junk(MaxDocumentEntries)...)...))},
		{"oversized, with length", serveDoc(big)},
		{"oversized, chunked", func(w http.ResponseWriter, r *http.Request) {
			for chunk := range slices.Chunk(big, 1000) {
				w.Write(chunk)
				w.(http.Flusher).Flush()
			}
		}},
	}
	skipped := []struct {
		name  string
		entry any
		want  []string
	}{
		{"all good", c, []string{"b", "c"}},
		{"key_ops verify", set("key_ops", []string{"verify"}), []string{"b", "c"}},
		{"no alg", without("alg"), []string{"b", "c"}},
		{"not an object", 42, []string{"b"}},
		{"null entry", nil, []string{"b"}},
		{"point off the curve", set("x", offCurve), []string{"b"}},
		{"weak RSA key", map[string]any{"kty": "RSA", "kid": "c", "n": base64.RawURLEncoding.EncodeToString(weakModulus), "e": "AQAB"}, []string{"b"}},
		{"curve does not match alg", set("alg", "ES384"), []string{"b"}},
		{"unsupported alg", set("alg", "PS256"), []string{"b"}},
		{"unknown kty", set("kty", "XYZ"), []string{"b"}},
		{"no kty", without("kty"), []string{"b"}},
		{"missing y", without("y"), []string{"b"}},
		{"real private key", json.RawMessage(private), []string{"b"}},
		{"member d", set("d", "AQAB"), []string{"b"}},
		{"member p", set("p", "AQAB"), []string{"b"}},
		{"member q", set("q", "AQAB"), []string{"b"}},
		{"member dp", set("dp", "AQAB"), []string{"b"}},
		{"member dq", set("dq", "AQAB"), []string{"b"}},
		{"member qi", set("qi", "AQAB"), []string{"b"}},
		{"oct key", map[string]any{"kty": "oct", "kid": "c", "alg": "HS256", "k": "c2VjcmV0LXNlY3JldC1zZWNyZXQ"}, []string{"b"}},
		{"use enc", set("use", "enc"), []string{"b"}},
		{"use not a string", set("use", 1), []string{"b"}},
		{"key_ops sign", set("key_ops", []string{"sign"}), []string{"b"}},
		{"key_ops encrypt", set("key_ops", []string{"encrypt", "decrypt"}), []string{"b"}},
		{"key_ops empty", set("key_ops", []string{}), []string{"b"}},
		{"key_ops a string", set("key_ops", "verify"), []string{"b"}},
		{"no kid", without("kid"), []string{"b"}},
		{"empty kid", set("kid", ""), []string{"b"}},
		{"kid a number", set("kid", 7), []string{"b"}},
		{"kid with a control character", set("kid", "c\n"), []string{"b"}},
	}

	// check runs f in a bubble, with a key set that holds a and then
	// refreshes from a server that answers with h.
	check := func(t *testing.T, h http.HandlerFunc, f func(t *testing.T, ks *KeySet, logs string, err error)) {
		synctest.Test(t, func(t *testing.T) {
			e := newBubbleEnv(t, serveDoc(docOf(t, a)))
			logs := &testkit.LogBuffer{}
			ks := e.keySet(t, WithLogger(logs.Logger()), WithMaxDocumentSize(limit))
			_, err := ks.LookupKey(t.Context(), "a")
			require.NoError(t, err)
			e.srv.set(h)
			err = ks.Refresh(t.Context())
			f(t, ks, logs.String(), err)
		})
	}

	for _, tc := range refused {
		t.Run("refused/"+tc.name, func(t *testing.T) {
			check(t, tc.handler, func(t *testing.T, ks *KeySet, logs string, err error) {
				require.ErrorIs(t, err, jwks.ErrUnavailable)
				assert.Equal(t, []string{"a"}, ks.KeyIDs(), "the last good set is kept")
				_, err = ks.LookupKey(t.Context(), "a")
				require.NoError(t, err)
				assert.Contains(t, logs, "keeping the last good set")
			})
		})
	}
	for _, tc := range skipped {
		t.Run("skipped/"+tc.name, func(t *testing.T) {
			check(t, serveDoc(docOf(t, b, tc.entry)), func(t *testing.T, ks *KeySet, logs string, err error) {
				require.NoError(t, err)
				assert.Equal(t, tc.want, ks.KeyIDs())
				_, err = ks.LookupKey(t.Context(), "a")
				require.ErrorIs(t, err, jwks.ErrUnknownKey, "the set is replaced, not merged")
				for _, kid := range tc.want {
					k, err := ks.LookupKey(t.Context(), kid)
					require.NoError(t, err)
					assert.False(t, k.CanSign())
				}
				if len(tc.want) == 1 {
					_, err = ks.LookupKey(t.Context(), "c")
					require.ErrorIs(t, err, jwks.ErrUnknownKey)
					assert.Contains(t, logs, "skipping a key")
				}
				assert.NotContains(t, logs, secretD)
				assert.NotContains(t, logs, offCurve)
				assert.NotContains(t, logs, "c2VjcmV0")
			})
		})
	}

	t.Run("skipped/duplicate kid", func(t *testing.T) {
		check(t, serveDoc(docOf(t, b, c, other)), func(t *testing.T, ks *KeySet, logs string, err error) {
			require.NoError(t, err)
			assert.Equal(t, []string{"b"}, ks.KeyIDs(), "both keys named c are ambiguous")
			assert.Contains(t, logs, "shared by 2 keys")
		})
	})
	t.Run("skipped/duplicate kid, one unusable", func(t *testing.T) {
		check(t, serveDoc(docOf(t, b, c, set("use", "enc"))), func(t *testing.T, ks *KeySet, logs string, err error) {
			require.NoError(t, err)
			assert.Equal(t, []string{"b"}, ks.KeyIDs())
		})
	})
	t.Run("skipped/the same key twice", func(t *testing.T) {
		check(t, serveDoc(docOf(t, b, c, c)), func(t *testing.T, ks *KeySet, logs string, err error) {
			require.NoError(t, err)
			assert.Equal(t, []string{"b"}, ks.KeyIDs())
		})
	})
	t.Run("empty keys array", func(t *testing.T) {
		check(t, serveDoc([]byte(`{"keys":[]}`)), func(t *testing.T, ks *KeySet, logs string, err error) {
			require.NoError(t, err)
			assert.Empty(t, ks.KeyIDs(), "an empty set replaces the old one")
			_, err = ks.LookupKey(t.Context(), "a")
			require.ErrorIs(t, err, jwks.ErrUnknownKey)
			assert.Contains(t, logs, "no usable key")
		})
	})
	t.Run("exactly MaxDocumentEntries entries", func(t *testing.T) {
		check(t, serveDoc(docOf(t, append([]any{b}, junk(MaxDocumentEntries-1)...)...)), func(t *testing.T, ks *KeySet, logs string, err error) {
			require.NoError(t, err)
			assert.Equal(t, []string{"b"}, ks.KeyIDs())
			assert.Equal(t, maxLoggedSkips, strings.Count(logs, skipLine), "%s", logs)
			assert.Contains(t, logs, fmt.Sprintf("count=%d", MaxDocumentEntries-1-maxLoggedSkips))
		})
	})
	t.Run("exactly the size limit", func(t *testing.T) {
		check(t, serveDoc(padded(docOf(t, b), limit)), func(t *testing.T, ks *KeySet, logs string, err error) {
			require.NoError(t, err)
			assert.Equal(t, []string{"b"}, ks.KeyIDs())
		})
	})
}

// junk returns n entries that are not JWKs.
func junk(n int) []any {
	entries := make([]any, n)
	for i := range entries {
		entries[i] = 1
	}
	return entries
}

// skipLine and moreLine are what the log of skipped keys holds: one
// skipLine for each of the first maxLoggedSkips, one moreLine for the rest.
const (
	skipLine = `msg="remote: skipping a key of the key set"`
	moreLine = `msg="remote: skipping more keys of the key set"`
)

// TestSkippedKeysLogged: a document of junk entries logs the first
// maxLoggedSkips skipped keys and a count of the others, once: the same
// document again, fetched by the refresh or an unknown kid, after a failed
// fetch too, logs none; another document logs its own.
func TestSkippedKeysLogged(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := testkit.NewKey(t, jwks.EdDSA, jwks.WithKeyID("b"))
		doc := docOf(t, append([]any{b}, junk(20)...)...)
		e := newBubbleEnv(t, serveDoc(doc))
		logs := &testkit.LogBuffer{}
		ks := e.keySet(t, WithLogger(logs.Logger()))
		ctx := t.Context()
		_, err := ks.LookupKey(ctx, "b")
		require.NoError(t, err)
		assert.Equal(t, maxLoggedSkips, strings.Count(logs.String(), skipLine), "%s", logs)
		assert.Equal(t, 1, strings.Count(logs.String(), moreLine), "%s", logs)
		assert.Contains(t, logs.String(), fmt.Sprintf("count=%d", 20-maxLoggedSkips))
		for i, s := range slices.Collect(strings.Lines(logs.String())) {
			if i < maxLoggedSkips {
				assert.Contains(t, s, fmt.Sprintf("index=%d ", i+1))
			}
		}

		// The same document: by the refresh, by an unknown kid, after a
		// fetch that failed.
		require.NoError(t, ks.Refresh(ctx))
		_, err = ks.LookupKey(ctx, "unknown")
		require.ErrorIs(t, err, jwks.ErrUnknownKey)
		e.srv.set(serveStatus(http.StatusInternalServerError))
		require.Error(t, ks.Refresh(ctx))
		e.srv.set(serveDoc(doc))
		require.NoError(t, ks.Refresh(ctx))
		assert.Equal(t, 1+4, e.srv.fetches())
		assert.Equal(t, maxLoggedSkips, strings.Count(logs.String(), skipLine), "%s", logs)
		assert.Equal(t, 1, strings.Count(logs.String(), moreLine), "%s", logs)

		// Another document.
		e.srv.set(serveDoc(docOf(t, b, 2, 2)))
		require.NoError(t, ks.Refresh(ctx))
		assert.Equal(t, maxLoggedSkips+2, strings.Count(logs.String(), skipLine), "%s", logs)
		assert.Equal(t, 1, strings.Count(logs.String(), moreLine), "%s", logs)
	})
}

// TestLoadedKeyIDsBounded: the line of a loaded key set lists the first
// maxLoggedKeyIDs key IDs, and counts the others.
func TestLoadedKeyIDsBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var keys []any
		var kids []string
		for i := range maxLoggedKeyIDs + 3 {
			kid := fmt.Sprintf("k%02d", i)
			keys = append(keys, testkit.NewKey(t, jwks.ES256, jwks.WithKeyID(kid)))
			kids = append(kids, kid)
		}
		e := newBubbleEnv(t, serveDoc(docOf(t, keys...)))
		logs := &testkit.LogBuffer{}
		ks := e.keySet(t, WithLogger(logs.Logger()))
		_, err := ks.LookupKey(t.Context(), "k00")
		require.NoError(t, err)
		assert.Equal(t, kids, ks.KeyIDs())
		assert.Contains(t, logs.String(), fmt.Sprintf(`msg="remote: key set loaded" url=%s kids="%v" more_kids=3`, e.url, kids[:maxLoggedKeyIDs]), "%s", logs)
	})
}
