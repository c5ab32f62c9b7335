package jwks_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/powersync-jwks/jwks"
	"github.com/powersync-jwks/jwks/internal/testkit"
)

// jwksDoc decodes a JWKS document.
func jwksDoc(t testing.TB, doc []byte) []map[string]any {
	t.Helper()
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	require.NoError(t, json.Unmarshal(doc, &set))
	return set.Keys
}

func kids(keys []map[string]any) []string {
	var out []string
	for _, k := range keys {
		out = append(out, k["kid"].(string))
	}
	return out
}

func TestNewKeySetPublishesPublicMembersOnly(t *testing.T) {
	var all []*jwks.Key
	for _, alg := range jwks.Algorithms() {
		all = append(all, testkit.Key(t, alg))
	}
	ks, err := jwks.NewKeySet(all[3], append(all[:3:3], all[4:]...)...)
	require.NoError(t, err)

	keys := jwksDoc(t, ks.JWKS())
	require.Len(t, keys, len(all))
	assert.Equal(t, all[3].KeyID(), keys[0]["kid"], "the signing key comes first")
	for _, k := range keys {
		for _, private := range []string{"d", "p", "q", "dp", "dq", "qi", "k", "key_ops", "oth"} {
			assert.NotContains(t, k, private)
		}
		assert.Equal(t, "sig", k["use"])
		assert.NotEmpty(t, k["alg"])
		assert.NotEmpty(t, k["kid"])
		got, ok := ks.Key(k["kid"].(string))
		require.True(t, ok)
		assert.False(t, got.CanSign(), "Key returns public halves")
	}
	assert.Same(t, all[3], ks.SigningKey())
	require.Len(t, ks.Keys(), len(all))
	for i, k := range ks.Keys() {
		assert.False(t, k.CanSign(), "Keys returns public halves")
		assert.Equal(t, keys[i]["kid"], k.KeyID(), "in document order")
	}
}

func TestNewKeySetRules(t *testing.T) {
	signing := testkit.NewKey(t, jwks.ES256)
	retired := testkit.NewKey(t, jwks.RS256).PublicOnly()
	sameKID := testkit.NewKey(t, jwks.EdDSA, jwks.WithKeyID(signing.KeyID()))

	t.Run("retired public key", func(t *testing.T) {
		ks, err := jwks.NewKeySet(signing, retired)
		require.NoError(t, err)
		assert.Equal(t, []string{signing.KeyID(), retired.KeyID()}, kids(jwksDoc(t, ks.JWKS())))
	})
	t.Run("signing key's own public half is published once", func(t *testing.T) {
		ks, err := jwks.NewKeySet(signing, signing.PublicOnly(), retired, retired)
		require.NoError(t, err)
		assert.Equal(t, []string{signing.KeyID(), retired.KeyID()}, kids(jwksDoc(t, ks.JWKS())))
	})
	t.Run("verification only", func(t *testing.T) {
		ks, err := jwks.NewKeySet(nil, retired)
		require.NoError(t, err)
		assert.Nil(t, ks.SigningKey())
		assert.Equal(t, []string{retired.KeyID()}, kids(jwksDoc(t, ks.JWKS())))
	})

	for _, tc := range []struct {
		name      string
		signing   *jwks.Key
		published []*jwks.Key
		want      error
	}{
		{"no key", nil, nil, jwks.ErrInvalidKey},
		{"public signing key", retired, nil, jwks.ErrPublicKey},
		{"duplicate key ID", signing, []*jwks.Key{sameKID}, jwks.ErrDuplicateKeyID},
		{"duplicate key ID among published", nil, []*jwks.Key{retired, testkit.NewKey(t, jwks.ES256, jwks.WithKeyID(retired.KeyID()))}, jwks.ErrDuplicateKeyID},
		{"nil published key", signing, []*jwks.Key{nil}, jwks.ErrInvalidKey},
		{"zero key", signing, []*jwks.Key{{}}, jwks.ErrInvalidKey},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ks, err := jwks.NewKeySet(tc.signing, tc.published...)
			require.ErrorIs(t, err, tc.want)
			assert.Nil(t, ks)
		})
	}
}

func TestKeySetLookupKey(t *testing.T) {
	signing := testkit.Key(t, jwks.ES256)
	ks, err := jwks.NewKeySet(signing)
	require.NoError(t, err)
	k, err := ks.LookupKey(context.Background(), signing.KeyID())
	require.NoError(t, err)
	assert.True(t, k.Equal(signing))
	assert.False(t, k.CanSign())
	_, err = ks.LookupKey(context.Background(), "nope")
	require.ErrorIs(t, err, jwks.ErrUnknownKey)
}

func TestKeySetETag(t *testing.T) {
	a, b := testkit.Key(t, jwks.ES256), testkit.Key(t, jwks.EdDSA)
	ks, err := jwks.NewKeySet(a)
	require.NoError(t, err)
	sum := sha256.Sum256(ks.JWKS())
	assert.Equal(t, `"`+base64.RawURLEncoding.EncodeToString(sum[:18])+`"`, ks.ETag(), "strong ETag of the document")

	same, err := jwks.NewKeySet(a)
	require.NoError(t, err)
	assert.Equal(t, ks.ETag(), same.ETag(), "the same keys give the same ETag on every replica")

	old := ks.ETag()
	require.NoError(t, ks.Replace(a, b))
	assert.NotEqual(t, old, ks.ETag())

	doc := ks.JWKS()
	doc[0] = 'X'
	assert.Equal(t, byte('{'), ks.JWKS()[0], "JWKS returns a copy")
}

func TestKeySetReplaceIsAtomic(t *testing.T) {
	a, b := testkit.NewKey(t, jwks.ES256), testkit.NewKey(t, jwks.EdDSA)
	ks, err := jwks.NewKeySet(a)
	require.NoError(t, err)
	err = ks.Replace(a.PublicOnly())
	require.ErrorIs(t, err, jwks.ErrPublicKey)
	assert.Same(t, a, ks.SigningKey(), "a failed Replace changes nothing")

	setA, err := jwks.NewKeySet(a)
	require.NoError(t, err)
	setB, err := jwks.NewKeySet(b, a.PublicOnly())
	require.NoError(t, err)
	valid := map[string]string{string(setA.JWKS()): setA.ETag(), string(setB.JWKS()): setB.ETag()}

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				signing := ks.SigningKey()
				_, ok := valid[string(ks.JWKS())]
				assert.True(t, ok, "a reader saw a document that is neither the old nor the new one")
				assert.True(t, signing == a || signing == b)
			}
		}()
	}
	for i := range 200 {
		if i%2 == 0 {
			require.NoError(t, ks.Replace(b, a.PublicOnly()))
		} else {
			require.NoError(t, ks.Replace(a))
		}
	}
	cancel()
	wg.Wait()
}
