package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/powersync-jwks/jwks"
)

// TestRules has one case per rule of PowerSync's: a token (from the Signer
// when PowerSync accepts it, made by hand when it breaks a rule) against a
// JWKS served over HTTP, and the codes, rules and words of the report.
func TestRules(t *testing.T) {
	t.Parallel()
	now := time.Now()
	es := testKey(t, jwks.ES256, "key-es")
	rs := testKey(t, jwks.RS256, "key-rs")
	stranger := testKey(t, jwks.ES256, "key-stranger")
	impostor := testKey(t, jwks.ES256, "key-impostor-es") // signs under es's kid
	url := serveJWKS(t, document(t, es, rs))
	good := sign(t, es, testAudience)
	parts := strings.Split(good, ".")

	for _, tc := range []struct {
		name     string
		token    string
		audience []string // default testAudience
		codes    []string
		rules    []string
		words    []string // in the details, in order
	}{
		{name: "accepted", token: good},
		{name: "accepted, RS256, one of two audiences", token: sign(t, rs, testAudience), audience: []string{"https://other.example", testAudience}},
		{
			name: "unknown kid", token: sign(t, stranger, testAudience),
			codes: []string{codeS2101}, rules: []string{"unknown kid"},
			words: []string{`"key-stranger"`, `"key-es", "key-rs"`},
		},
		{
			name: "no kid", token: forge(t, es, map[string]any{"kid": nil}, claimsAt(now, nil)),
			codes: []string{codeS2101}, rules: []string{"no kid"}, words: []string{`no "kid"`},
		},
		{
			name: "alg not the key's", token: forge(t, es, map[string]any{"alg": "ES384"}, claimsAt(now, nil)),
			codes: []string{codeS2101}, rules: []string{"alg not the key's"}, words: []string{`"ES384"`, "ES256"},
		},
		{
			name: "alg not allowed", token: forge(t, es, map[string]any{"alg": "HS256"}, claimsAt(now, nil)),
			codes: []string{codeS2101}, rules: []string{"algorithm not allowed"}, words: []string{`"HS256"`},
		},
		{
			name: "lifetime over 24 hours", token: forge(t, es, nil, claimsAt(now, map[string]any{"iat": now.Unix() - 10, "exp": now.Unix() - 10 + 86401})),
			codes: []string{codeS2104}, rules: []string{"lifetime over 24 hours"}, words: []string{"86401 s"},
		},
		{
			name: "expired", token: forge(t, es, nil, claimsAt(now, map[string]any{"iat": now.Unix() - 7500, "exp": now.Unix() - 7200})),
			codes: []string{codeS2103}, rules: []string{"expired"}, words: []string{"2h0m0s ago"},
		},
		{
			name: "audience with a trailing slash", token: sign(t, es, testAudience+"/"),
			codes: []string{codeS2105}, rules: []string{"audience"},
			words: []string{`"` + testAudience + `/"`, `"` + testAudience + `"`, "trailing slash"},
		},
		{
			name: "audience over http", token: sign(t, es, strings.Replace(testAudience, "https", "http", 1)),
			codes: []string{codeS2105}, rules: []string{"audience"}, words: []string{"scheme"},
		},
		{
			name: "audience in capitals", token: sign(t, es, strings.ToUpper(testAudience)),
			codes: []string{codeS2105}, rules: []string{"audience"}, words: []string{"letter case"},
		},
		{
			name: "audience missing", token: forge(t, es, nil, claimsAt(now, map[string]any{"aud": nil})),
			codes: []string{codeS2105}, rules: []string{"audience"}, words: []string{`no "aud"`},
		},
		{
			name: "missing sub and exp", token: forge(t, es, nil, claimsAt(now, map[string]any{"sub": nil, "exp": nil})),
			codes: []string{codeS2101, codeS2101}, rules: []string{"missing claim", "missing claim"}, words: []string{`"sub"`, `"exp"`},
		},
		{
			name: "parameters not an object", token: forge(t, es, nil, claimsAt(now, map[string]any{"parameters": []string{"a"}})),
			codes: []string{codeS2101}, rules: []string{"parameters not an object"}, words: []string{`["a"]`},
		},
		{
			name: "string exp", token: forge(t, es, nil, claimsAt(now, map[string]any{"exp": "tomorrow"})),
			codes: []string{codeS2101}, rules: []string{"claim of the wrong type"}, words: []string{`"tomorrow"`},
		},
		{
			name: "bad signature", token: parts[0] + "." + b64(toJSON(t, claimsAt(now, map[string]any{"sub": "admin"}))) + "." + parts[2],
			codes: []string{codeS2101}, rules: []string{"bad signature"}, words: []string{`"key-es"`},
		},
		{
			name: "another key under the kid", token: forge(t, impostor, map[string]any{"kid": "key-es"}, claimsAt(now, nil)),
			codes: []string{codeS2101}, rules: []string{"bad signature"},
		},
		{
			name: "DER ECDSA signature", token: parts[0] + "." + parts[1] + "." + b64(derSignature(t, es, []byte(parts[0]+"."+parts[1]))),
			codes: []string{codeS2101}, rules: []string{"bad signature"}, words: []string{"R‖S"},
		},
		{
			name: "malformed", token: "not-a-token",
			codes: []string{codeS2101}, rules: []string{"malformed token"}, words: []string{"three parts"},
		},
		{
			name: "iat ahead", token: forge(t, es, nil, claimsAt(now, map[string]any{"iat": now.Unix() + 3600, "exp": now.Unix() + 3900})),
			codes: []string{codeS2101}, rules: []string{"issued in the future"}, words: []string{"PowerSync does not compare iat"},
		},
		{
			name:  "expired, too long, for another audience, parameters a string",
			token: forge(t, es, nil, claimsAt(now, map[string]any{"iat": now.Unix() - 2*86400, "exp": now.Unix() - 3600, "aud": "https://other.example", "parameters": "x"})),
			codes: []string{codeS2103, codeS2104, codeS2105, codeS2101},
			rules: []string{"expired", "lifetime over 24 hours", "audience", "parameters not an object"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			auds := tc.audience
			if auds == nil {
				auds = []string{testAudience}
			}
			args := []string{"-jwks", url}
			for _, a := range auds {
				args = append(args, "-audience", a)
			}
			rep, r := checkJSON(t, now, append(args, tc.token)...)
			assert.Equal(t, len(tc.codes) == 0, *rep.OK, "ok: %s", r.stdout)
			assert.Equal(t, map[bool]int{true: exitAccepted, false: exitRefused}[len(tc.codes) == 0], r.code)
			assert.ElementsMatch(t, tc.codes, rep.codes(), "%s", r.stdout)
			assert.ElementsMatch(t, tc.rules, rep.rules(), "%s", r.stdout)
			var details strings.Builder
			for _, p := range rep.Problems {
				details.WriteString(p.Detail + "\n")
				assert.NotEmpty(t, p.Fix, "every problem has a fix: %s", p.Rule)
			}
			for _, w := range tc.words {
				assert.Contains(t, details.String(), w)
			}
			assert.Equal(t, []string{"key-es", "key-rs"}, rep.JWKS.Kids)
			if len(strings.Split(tc.token, ".")) == 3 {
				assert.NotNil(t, rep.Header, "the header is shown")
			}

			// The text report says the same.
			text := runCheck(t, now, "", append([]string{"check"}, append(args, tc.token)...)...)
			assert.Equal(t, r.code, text.code)
			for _, code := range tc.codes {
				assert.Contains(t, text.stdout, code)
			}
			if len(tc.codes) == 0 {
				assert.Contains(t, text.stdout, "PowerSync would accept this token.")
			} else {
				assert.Contains(t, text.stdout, "PowerSync would refuse this token")
			}
		})
	}
}

// TestJWKSRules: keys of the JWKS that PowerSync would drop, or that leak
// private key material, or that it cannot import.
func TestJWKSRules(t *testing.T) {
	t.Parallel()
	es := testKey(t, jwks.ES256, "key-es")
	other := testKey(t, jwks.EdDSA, "key-ed")
	with := func(k *jwks.Key, changes map[string]any) map[string]any {
		m := publicJWK(t, k)
		for name, v := range changes {
			if v == nil {
				delete(m, name)
			} else {
				m[name] = v
			}
		}
		return m
	}
	private, err := other.MarshalPrivate(jwks.FormatJWK)
	require.NoError(t, err)
	privateMembers := map[string]any{}
	require.NoError(t, json.Unmarshal(private, &privateMembers))

	for _, tc := range []struct {
		name    string
		entry   any // the second key of the JWKS, beside es
		signer  *jwks.Key
		ok      bool   // the verdict on the signer's token
		rule    string // of the one problem, when not ok
		skipped string // words of the skipped entry's report
		warning bool
		note    string
	}{
		{name: "key_ops sign", entry: with(other, map[string]any{"key_ops": []string{"sign"}}), signer: other,
			rule: "unknown kid", skipped: "drops this key"},
		{name: "key_ops sign, token of the other key", entry: with(other, map[string]any{"key_ops": []string{"sign"}}), signer: es,
			ok: true, skipped: "drops this key"},
		{name: "use enc", entry: with(other, map[string]any{"use": "enc"}), signer: other,
			rule: "unknown kid", skipped: "drops this key"},
		{name: "private members", entry: privateMembers, signer: other,
			ok: true, skipped: "publishes private key material", warning: true},
		{name: "no kid", entry: with(other, map[string]any{"kid": nil}), signer: es,
			ok: true, skipped: "no token can name"},
		{name: "no alg", entry: with(other, map[string]any{"alg": nil}), signer: other,
			ok: true, note: `has no "alg"`},
		{name: "oct key", entry: map[string]any{"kty": "oct", "kid": "hs", "alg": "HS256", "k": "c2VjcmV0LXNlY3JldC1zZWNyZXQ"}, signer: es,
			ok: true, skipped: "oct keys", warning: true},
		{name: "cannot import", entry: with(other, map[string]any{"x": nil}), signer: es,
			rule: "JWKS key PowerSync cannot import", skipped: "fails its whole JWKS refresh"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := jwksFile(t, document(t, es, tc.entry))
			tok := sign(t, tc.signer, testAudience)
			rep, r := checkJSON(t, time.Time{}, "-jwks", path, "-audience", testAudience, tok)
			assert.Equal(t, tc.ok, *rep.OK, "%s", r.stdout)
			if !tc.ok {
				assert.Equal(t, []string{tc.rule}, rep.rules(), "%s", r.stdout)
			}
			if tc.skipped != "" {
				require.Len(t, rep.JWKS.Skipped, 1, "%s", r.stdout)
				s := rep.JWKS.Skipped[0]
				assert.Equal(t, 1, s.Index)
				assert.Contains(t, s.PowerSync, tc.skipped)
				assert.NotEmpty(t, s.Fix)
				assert.Equal(t, tc.warning, s.Warning)
			} else {
				assert.Empty(t, rep.JWKS.Skipped)
			}
			if tc.note != "" {
				require.Len(t, rep.JWKS.Notes, 1)
				assert.Contains(t, rep.JWKS.Notes[0], tc.note)
			}
			for _, secret := range []string{"d", "k"} {
				if v, ok := privateMembers[secret].(string); ok {
					assert.NotContains(t, r.stdout, v, "private material is never printed")
				}
			}
			assert.NotContains(t, r.stdout, "c2VjcmV0LXNlY3JldC1zZWNyZXQ")

			text := runCheck(t, time.Time{}, "", "check", "-jwks", path, "-audience", testAudience, tok)
			if tc.warning {
				assert.Contains(t, text.stdout, "WARNING: key 1")
			}
		})
	}
}

// TestTokenInput: the token as an argument, on standard input, as a pasted
// Authorization header, and with flags after it.
func TestTokenInput(t *testing.T) {
	t.Parallel()
	es := testKey(t, jwks.ES256, "key-es")
	path := jwksFile(t, document(t, es))
	tok := sign(t, es, testAudience)
	for _, tc := range []struct {
		name  string
		stdin string
		args  []string
	}{
		{"argument", "", []string{"check", "-jwks", path, "-audience", testAudience, tok}},
		{"flags after the token", "", []string{"check", tok, "-jwks", path, "-audience", testAudience}},
		{"stdin", tok + "\n", []string{"check", "-jwks", path, "-audience", testAudience, "-"}},
		{"stdin, Bearer", "Bearer " + tok + "\n", []string{"check", "-jwks", path, "-audience", testAudience, "-"}},
		{"Authorization header", "", []string{"check", "-jwks", path, "-audience", testAudience, "Authorization: Token " + tok}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runCheck(t, time.Time{}, tc.stdin, tc.args...)
			assert.Equal(t, exitAccepted, r.code, "stdout: %s\nstderr: %s", r.stdout, r.stderr)
			assert.Contains(t, r.stdout, `"sub": "user-1"`, "the claims are shown")
			assert.Contains(t, r.stdout, `"kid": "key-es"`, "the header is shown")
		})
	}
}

// TestUsage: exit status 2 for bad usage and for a JWKS that cannot be read.
func TestUsage(t *testing.T) {
	t.Parallel()
	es := testKey(t, jwks.ES256, "key-es")
	doc := document(t, es)
	path := jwksFile(t, doc)
	tok := sign(t, es, testAudience)
	redirect := httptest.NewServer(http.RedirectHandler(serveJWKS(t, doc), http.StatusFound))
	t.Cleanup(redirect.Close)
	notFound := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(notFound.Close)
	huge := serveJWKS(t, append(append([]byte(`{"keys":[],"pad":"`), strings.Repeat("x", maxJWKSSize)...), `"}`...))
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}))
	t.Cleanup(slow.Close)

	for _, tc := range []struct {
		name  string
		stdin string
		args  []string
		want  string // on stderr
	}{
		{"no command", "", nil, "no command"},
		{"unknown command", "", []string{"verify"}, "unknown command"},
		{"no token", "", []string{"check", "-jwks", path, "-audience", testAudience}, "no token"},
		{"two tokens", "", []string{"check", "-jwks", path, "-audience", testAudience, tok, tok}, "one token"},
		{"empty stdin", "", []string{"check", "-jwks", path, "-audience", testAudience, "-"}, "empty"},
		{"no -jwks", "", []string{"check", "-audience", testAudience, tok}, "no -jwks"},
		{"no -audience", "", []string{"check", "-jwks", path, tok}, "no -audience"},
		{"audience with a line break", "", []string{"check", "-jwks", path, "-audience", testAudience + "\n", tok}, "-audience"},
		{"unknown flag", "", []string{"check", "-jwk", path, tok}, "flag provided but not defined"},
		{"missing file", "", []string{"check", "-jwks", filepath.Join(t.TempDir(), "none.json"), "-audience", testAudience, tok}, "no such file"},
		{"not a JWKS", "", []string{"check", "-jwks", jwksFile(t, []byte(`{"issuer":"x"}`)), "-audience", testAudience, tok}, `no "keys" array`},
		{"not JSON", "", []string{"check", "-jwks", jwksFile(t, []byte(`<html>`)), "-audience", testAudience, tok}, "not valid JSON"},
		{"404", "", []string{"check", "-jwks", notFound.URL + "/jwks.json", "-audience", testAudience, tok}, "404"},
		{"redirect", "", []string{"check", "-jwks", redirect.URL, "-audience", testAudience, tok}, "redirect"},
		{"over 1 MiB", "", []string{"check", "-jwks", huge, "-audience", testAudience, tok}, "over 1048576 bytes"},
		{"timeout", "", []string{"check", "-timeout", "100ms", "-jwks", slow.URL, "-audience", testAudience, tok}, "deadline exceeded"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := runCheck(t, time.Time{}, tc.stdin, tc.args...)
			assert.Equal(t, exitUsage, r.code, "stdout: %s", r.stdout)
			assert.Contains(t, r.stderr, tc.want)
			assert.Empty(t, r.stdout)
		})
	}

	t.Run("help", func(t *testing.T) {
		for _, args := range [][]string{{"-h"}, {"help"}, {"check", "-h"}} {
			r := runCheck(t, time.Time{}, "", args...)
			assert.Equal(t, exitAccepted, r.code)
			assert.Contains(t, r.stdout, "Usage: powersync-token check")
			assert.Contains(t, r.stdout, "-audience")
		}
	})
}

// TestJSONSchema: every member of the -json report is there, also for a
// token that does not decode.
func TestJSONSchema(t *testing.T) {
	t.Parallel()
	es := testKey(t, jwks.ES256, "key-es")
	path := jwksFile(t, document(t, es))
	for _, tok := range []string{sign(t, es, testAudience), "x.y.z", "nope"} {
		r := runCheck(t, time.Time{}, "", "check", "-json", "-jwks", path, "-audience", testAudience, tok)
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(r.stdout), &m), r.stdout)
		for _, name := range []string{"ok", "problems", "header", "claims", "jwks"} {
			assert.Contains(t, m, name)
		}
		assert.IsType(t, true, m["ok"])
		assert.IsType(t, []any{}, m["problems"], "an array, empty when ok")
		j := m["jwks"].(map[string]any)
		assert.Equal(t, []any{"key-es"}, j["kids"])
		assert.IsType(t, []any{}, j["skipped"])
		for _, p := range m["problems"].([]any) {
			p := p.(map[string]any)
			assert.Len(t, p, 4)
			assert.Regexp(t, `^PSYNC_S21\d\d$`, p["code"])
			for _, name := range []string{"rule", "detail", "fix"} {
				assert.NotEmpty(t, p[name])
			}
		}
	}
}
