package remote

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/powersync-jwks/jwks"
	"github.com/powersync-jwks/jwks/internal/testkit"
)

// TestParseDocument: each entry a KeySet skips is reported, with an error
// that wraps the reason's sentinel and holds no key material; the usable
// keys come back public, in document order.
func TestParseDocument(t *testing.T) {
	b := testkit.NewKey(t, jwks.EdDSA, jwks.WithKeyID("b"))
	c := testkit.NewKey(t, jwks.ES256, jwks.WithKeyID("c"))
	d := testkit.NewKey(t, jwks.RS256, jwks.WithKeyID("d"))

	private, err := c.MarshalPrivate(jwks.FormatJWK)
	require.NoError(t, err)
	var privateMembers map[string]any
	require.NoError(t, json.Unmarshal(private, &privateMembers))
	secretD := privateMembers["d"].(string)
	with := func(f func(m map[string]any)) map[string]any {
		m := jwkMap(t, c)
		f(m)
		return m
	}
	set := func(name string, v any) map[string]any { return with(func(m map[string]any) { m[name] = v }) }
	without := func(name string) map[string]any { return with(func(m map[string]any) { delete(m, name) }) }
	weakModulus := append([]byte{0xc1}, bytes.Repeat([]byte{0x55}, 127)...)
	weakModulus[127] |= 1

	for _, tc := range []struct {
		name  string
		entry any
		kid   string  // of the skipped entry
		want  []error // the sentinels its error wraps; none: the entry is used
	}{
		{"good", c, "", nil},
		{"no alg", without("alg"), "", nil},
		{"use null", set("use", nil), "", nil},
		{"key_ops verify", set("key_ops", []string{"verify"}), "", nil},
		{"not an object", 42, "", []error{jwks.ErrKeyFormat}},
		{"real private key", json.RawMessage(private), "c", []error{ErrPrivateKey}},
		{"member d", set("d", "AQAB"), "c", []error{ErrPrivateKey}},
		{"member qi", set("qi", "AQAB"), "c", []error{ErrPrivateKey}},
		{"oct key with its secret", map[string]any{"kty": "oct", "kid": "c", "alg": "HS256", "k": "c2VjcmV0LXNlY3JldC1zZWNyZXQ"}, "c", []error{jwks.ErrUnsupportedAlgorithm, ErrPrivateKey}},
		{"oct key without k", map[string]any{"kty": "oct", "kid": "c"}, "c", []error{jwks.ErrUnsupportedAlgorithm}},
		{"use enc", set("use", "enc"), "c", []error{ErrNotForVerifying}},
		{"use not a string", set("use", 1), "c", []error{ErrNotForVerifying}},
		{"key_ops sign", set("key_ops", []string{"sign"}), "c", []error{ErrNotForVerifying}},
		{"key_ops a string", set("key_ops", "verify"), "c", []error{ErrNotForVerifying}},
		{"no kid", without("kid"), "", []error{ErrNoKeyID}},
		{"kid a number", set("kid", 7), "", []error{ErrNoKeyID}},
		{"unsupported alg", set("alg", "PS256"), "c", []error{jwks.ErrUnsupportedAlgorithm}},
		{"curve does not match alg", set("alg", "ES384"), "c", []error{jwks.ErrAlgorithmMismatch}},
		{"weak RSA key", map[string]any{"kty": "RSA", "kid": "c", "n": base64.RawURLEncoding.EncodeToString(weakModulus), "e": "AQAB"}, "c", []error{jwks.ErrWeakKey}},
		{"missing y", without("y"), "c", []error{jwks.ErrKeyFormat}},
		{"duplicate kid", jwkMap(t, testkit.NewKey(t, jwks.ES256, jwks.WithKeyID("d"))), "d", []error{jwks.ErrDuplicateKeyID}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			keys, skipped, err := ParseDocument(docOf(t, b, tc.entry, d))
			require.NoError(t, err)
			var kids []string
			for _, k := range keys {
				assert.False(t, k.CanSign())
				kids = append(kids, k.KeyID())
			}
			if tc.want == nil {
				assert.Empty(t, skipped)
				assert.Equal(t, []string{"b", "c", "d"}, kids)
				return
			}
			if tc.kid == "d" { // both entries named d are skipped
				assert.Equal(t, []string{"b"}, kids)
				require.Len(t, skipped, 2)
				assert.Equal(t, []int{1, 2}, []int{skipped[0].Index, skipped[1].Index})
			} else {
				assert.Equal(t, []string{"b", "d"}, kids)
				require.Len(t, skipped, 1)
				assert.Equal(t, 1, skipped[0].Index)
			}
			s := skipped[0]
			assert.Equal(t, tc.kid, s.KeyID)
			for _, want := range tc.want {
				assert.ErrorIs(t, s.Err, want)
			}
			for _, other := range []error{ErrPrivateKey, ErrNotForVerifying, ErrNoKeyID, jwks.ErrDuplicateKeyID, jwks.ErrUnsupportedAlgorithm} {
				if !containsErr(tc.want, other) {
					assert.NotErrorIs(t, s.Err, other)
				}
			}
			assert.NotContains(t, s.Err.Error(), secretD)
			assert.NotContains(t, s.Err.Error(), "c2VjcmV0")
		})
	}

	for name, doc := range map[string]string{
		"not JSON":       `{"keys":`,
		"an array":       `[]`,
		"no keys":        `{"issuer":"x"}`,
		"keys null":      `{"keys":null}`,
		"keys an object": `{"keys":{}}`,
	} {
		t.Run("refused/"+name, func(t *testing.T) {
			keys, skipped, err := ParseDocument([]byte(doc))
			require.Error(t, err)
			assert.Nil(t, keys)
			assert.Nil(t, skipped)
		})
	}
	t.Run("refused/over MaxDocumentEntries entries", func(t *testing.T) {
		keys, skipped, err := ParseDocument(docOf(t, append([]any{b}, junk(MaxDocumentEntries)...)...))
		require.ErrorIs(t, err, ErrTooManyEntries)
		assert.Nil(t, keys)
		assert.Nil(t, skipped)
		_, err = ReadDocument(docOf(t, junk(MaxDocumentEntries+1)...))
		require.ErrorIs(t, err, ErrTooManyEntries)
	})
	t.Run("exactly MaxDocumentEntries entries", func(t *testing.T) {
		keys, skipped, err := ParseDocument(docOf(t, append([]any{b}, junk(MaxDocumentEntries-1)...)...))
		require.NoError(t, err)
		require.Len(t, keys, 1)
		assert.True(t, keys[0].Equal(b.PublicOnly()))
		assert.Len(t, skipped, MaxDocumentEntries-1)
	})
	t.Run("empty keys", func(t *testing.T) {
		keys, skipped, err := ParseDocument([]byte(`{"keys":[]}`))
		require.NoError(t, err)
		assert.Empty(t, keys)
		assert.Empty(t, skipped)
	})
}

func containsErr(errs []error, target error) bool {
	for _, err := range errs {
		if errors.Is(err, target) {
			return true
		}
	}
	return false
}

// TestReadDocument: ReadDocument returns every entry of the "keys" member,
// by that exact name, with its JSON and what ParseDocument makes of it.
func TestReadDocument(t *testing.T) {
	b := testkit.NewKey(t, jwks.EdDSA, jwks.WithKeyID("b"))
	c := testkit.NewKey(t, jwks.ES256, jwks.WithKeyID("c"))
	entries := []any{b, map[string]any{"kty": "oct", "kid": "s"}, 42, c}
	var top map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(docOf(t, entries...), &top))
	top["KEYS"] = json.RawMessage(`[]`)              // not "keys"
	top["Keys"] = json.RawMessage(`[{"kty":"oct"}]`) // nor this
	doc, err := json.Marshal(top)
	require.NoError(t, err)
	var raw []json.RawMessage
	require.NoError(t, json.Unmarshal(top["keys"], &raw))

	got, err := ReadDocument(doc)
	require.NoError(t, err)
	require.Len(t, got, 4)
	for i, e := range got {
		assert.JSONEq(t, string(raw[i]), string(e.JSON), "entry %d", i)
		assert.True(t, (e.Key == nil) != (e.Err == nil), "entry %d: a key or why not", i)
	}
	assert.Equal(t, []string{"b", "s", "", "c"}, []string{got[0].KeyID, got[1].KeyID, got[2].KeyID, got[3].KeyID})
	assert.True(t, got[0].Key.Equal(b.PublicOnly()))
	assert.True(t, got[3].Key.Equal(c.PublicOnly()))
	assert.ErrorIs(t, got[1].Err, jwks.ErrUnsupportedAlgorithm)
	assert.ErrorIs(t, got[2].Err, jwks.ErrKeyFormat)

	keys, skipped, err := ParseDocument(doc)
	require.NoError(t, err)
	assert.Equal(t, []*jwks.Key{got[0].Key, got[3].Key}, keys)
	assert.Equal(t, []SkippedKey{{Index: 1, KeyID: "s", Err: got[1].Err}, {Index: 2, Err: got[2].Err}}, skipped)

	for _, doc := range []string{`{"Keys":[]}`, `{"KEYS":[]}`, `{"keys":null,"KEYS":[]}`} {
		_, err := ReadDocument([]byte(doc))
		assert.ErrorContains(t, err, `no "keys" array`, "%s", doc)
	}
}
