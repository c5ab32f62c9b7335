package keyring

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/powersync-jwks/jwks"
)

// newKEKBytes returns a random key-encryption key.
func newKEKBytes(t testing.TB) []byte {
	t.Helper()
	b := make([]byte, KEKSize)
	_, _ = rand.Read(b)
	return b
}

// testCodec returns a codec with the key-encryption keys keks.
func testCodec(t testing.TB, keks ...[]byte) codec {
	t.Helper()
	var c codec
	for _, b := range keks {
		k, err := newKEK(b)
		require.NoError(t, err)
		c.keks = append(c.keks, k)
	}
	return c
}

// sampleRing returns a ring with a key in each state, times in nanoseconds.
func sampleRing(t testing.TB) ring {
	at := t0.Add(123456789 * time.Nanosecond)
	return ringOf(
		retiredEntry(newTestKey(t), at, at.Add(time.Hour)),
		activeEntry(newTestKey(t), at.Add(time.Hour)),
		nextEntry(newTestKey(t), at.Add(2*time.Hour)),
		revokedEntry(newTestKey(t), at.Add(3*time.Hour)),
	)
}

// encodeSealed seals r with c and encodes it.
func encodeSealed(t testing.TB, c codec, r ring) []byte {
	t.Helper()
	sealed, err := c.seal(r, false)
	require.NoError(t, err)
	data, err := c.encode(sealed)
	require.NoError(t, err)
	return data
}

// assertSameKeys checks that got holds the keys, states and times of want.
func assertSameKeys(t *testing.T, want, got ring) {
	t.Helper()
	require.Len(t, got.entries, len(want.entries))
	for i, w := range want.entries {
		g := got.entries[i]
		assert.True(t, w.Key.Equal(g.Key), "key %d", i)
		assert.Equal(t, w.Key.CanSign(), g.Key.CanSign(), "key %d can sign", i)
		assert.Equal(t, w.State, g.State)
		for _, pair := range [][2]time.Time{{w.Created, g.Created}, {w.Published, g.Published},
			{w.Activated, g.Activated}, {w.Retired, g.Retired}, {w.Revoked, g.Revoked}} {
			assert.True(t, pair[0].Equal(pair[1]), "key %d: time %v, want %v", i, pair[1], pair[0])
		}
	}
}

// assertNoPrivateKey checks that data holds no private key in clear.
func assertNoPrivateKey(t *testing.T, data []byte, r ring) {
	t.Helper()
	assert.NotContains(t, string(data), `"d":`)
	assert.NotContains(t, string(data), `"private"`)
	assert.NotContains(t, string(data), "PRIVATE KEY")
	for _, e := range r.entries {
		if !e.Key.CanSign() {
			continue
		}
		jwk, err := e.Key.MarshalPrivate(jwks.FormatJWK)
		require.NoError(t, err)
		var m map[string]string
		require.NoError(t, json.Unmarshal(jwk, &m))
		assert.NotContains(t, string(data), m["d"], "the private scalar of %s", e.KeyID())
	}
}

func TestCodecRoundTripInClear(t *testing.T) {
	r := sampleRing(t)
	data := encodeSealed(t, codec{}, r)
	assert.Contains(t, string(data), `"private":`)
	assert.Equal(t, 2, strings.Count(string(data), `"d":`), "in clear: the private halves of the next and active keys only")
	got, err := codec{}.decode(data)
	require.NoError(t, err)
	assertSameKeys(t, r, got)

	empty, err := codec{}.decode(nil)
	require.NoError(t, err)
	assert.Empty(t, empty.entries)
}

func TestCodecSealed(t *testing.T) {
	r := sampleRing(t)
	k1, k2 := newKEKBytes(t), newKEKBytes(t)
	data := encodeSealed(t, testCodec(t, k1), r)
	assertNoPrivateKey(t, data, r)
	assert.Equal(t, 2, strings.Count(string(data), `"kek":"`+KEKID(k1)+`"`))

	got, err := testCodec(t, k1).decode(data)
	require.NoError(t, err)
	assertSameKeys(t, r, got)

	t.Run("any configured KEK decrypts", func(t *testing.T) {
		got, err := testCodec(t, k2, k1).decode(data)
		require.NoError(t, err)
		assertSameKeys(t, r, got)
	})
	t.Run("the first KEK encrypts", func(t *testing.T) {
		data := encodeSealed(t, testCodec(t, k2, k1), r)
		assert.Equal(t, 2, strings.Count(string(data), `"kek":"`+KEKID(k2)+`"`))
	})
	t.Run("a sealed key is written again as it was", func(t *testing.T) {
		again := encodeSealed(t, testCodec(t, k1), got)
		assert.Equal(t, data, again)
	})
	t.Run("rewrap", func(t *testing.T) {
		c := testCodec(t, k2, k1)
		sealed, err := c.seal(got, true)
		require.NoError(t, err)
		out, err := c.encode(sealed)
		require.NoError(t, err)
		assert.NotContains(t, string(out), KEKID(k1))
		_, err = testCodec(t, k2).decode(out)
		assert.NoError(t, err)
	})
	t.Run("an unknown KEK", func(t *testing.T) {
		_, err := testCodec(t, k2).decode(data)
		require.ErrorIs(t, err, ErrUnknownKEK)
		assert.Contains(t, err.Error(), KEKID(k1))
		assert.Contains(t, err.Error(), KEKID(k2), "and the KEKs configured")
		_, err = codec{}.decode(data)
		require.ErrorIs(t, err, ErrUnknownKEK)
		assert.Contains(t, err.Error(), "configured: none")
	})
	t.Run("a tampered ciphertext", func(t *testing.T) {
		doc := decodeDocument(t, data)
		doc.Keys[1].Sealed.Data[5] ^= 1
		_, err := testCodec(t, k1).decode(toJSON(t, doc))
		assert.ErrorIs(t, err, ErrCorrupt)
	})
	t.Run("a sealed key moved to another kid", func(t *testing.T) {
		doc := decodeDocument(t, data)
		doc.Keys[1].Sealed, doc.Keys[2].Sealed = doc.Keys[2].Sealed, doc.Keys[1].Sealed
		_, err := testCodec(t, k1).decode(toJSON(t, doc))
		require.ErrorIs(t, err, ErrCorrupt)
		assert.Contains(t, err.Error(), "does not decrypt")
	})
	t.Run("clear keys are sealed on the next write", func(t *testing.T) {
		clear := encodeSealed(t, codec{}, r)
		read, err := testCodec(t, k1).decode(clear)
		require.NoError(t, err)
		out := encodeSealed(t, testCodec(t, k1), read)
		assertNoPrivateKey(t, out, r)
	})
}

func TestCodecRefuses(t *testing.T) {
	r := sampleRing(t)
	data := encodeSealed(t, codec{}, r)
	for _, tc := range []struct {
		name   string
		change func(*document)
		want   string
	}{
		{"another format", func(d *document) { d.V = 2 }, "format 2"},
		{"two active keys", func(d *document) { d.Keys[2].State = StateActive; d.Keys[2].Activated = t0 }, "2 active keys"},
		{"a kid that is not its key's", func(d *document) { d.Keys[1].KID = "powersync-0000000000" }, "holds key"},
		{"an unknown state", func(d *document) { d.Keys[1].State = "paused" }, `"paused"`},
		{"no key", func(d *document) { d.Keys[1].Private = nil }, "has no key"},
		{"an alg that is not its key's", func(d *document) { d.Keys[1].Alg = jwks.ES384 }, "holds key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc := decodeDocument(t, data)
			tc.change(&doc)
			_, err := codec{}.decode(toJSON(t, doc))
			require.ErrorIs(t, err, ErrCorrupt)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
	t.Run("not JSON: the error quotes nothing", func(t *testing.T) {
		bad := append(bytes.Clone(data[:len(data)/2]), 'x')
		_, err := codec{}.decode(bad)
		require.ErrorIs(t, err, ErrCorrupt)
		assert.NotContains(t, err.Error(), "'x'")
	})
}

func TestNewKEK(t *testing.T) {
	_, err := newKEK(make([]byte, 16))
	assert.ErrorContains(t, err, "16 bytes; AES-256 needs 32")
	k, err := newKEK(make([]byte, 32))
	require.NoError(t, err)
	assert.Len(t, k.id, 16)
	assert.Equal(t, "66687aadf862bd77", k.id, "the first 8 bytes of SHA-256 of 32 zero bytes")
}

func decodeDocument(t testing.TB, data []byte) document {
	t.Helper()
	var doc document
	require.NoError(t, json.Unmarshal(data, &doc))
	return doc
}

func toJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return b
}
