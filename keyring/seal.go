package keyring

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/powersync-jwks/jwks/internal/quote"
)

// KEKSize is the size of a key-encryption key: AES-256.
const KEKSize = 32

// A kek is a key-encryption key: AES-256-GCM, and its ID, the first 8 bytes
// of the SHA-256 of the key in hex. The ID says which key sealed a private
// key without saying anything about the key.
type kek struct {
	id   string
	aead cipher.AEAD
}

// newKEK returns the key-encryption key of the 32 bytes b.
func newKEK(b []byte) (kek, error) {
	if len(b) != KEKSize {
		return kek{}, fmt.Errorf("keyring: a key-encryption key is %d bytes; AES-256 needs %d", len(b), KEKSize)
	}
	block, err := aes.NewCipher(b)
	if err != nil {
		return kek{}, fmt.Errorf("keyring: key-encryption key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return kek{}, fmt.Errorf("keyring: key-encryption key: %w", err)
	}
	return kek{id: KEKID(b), aead: aead}, nil
}

// KEKID returns the ID of the key-encryption key b, as sealed keys name it:
// the first 8 bytes of its SHA-256, in hex. It tells an operator which key
// sealed a ring without revealing the key.
func KEKID(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

// A sealedKey is a private JWK encrypted with AES-256-GCM under the
// key-encryption key KEK, with a random nonce and the key ID as associated
// data: a sealed key moved to another entry of the ring does not decrypt.
type sealedKey struct {
	KEK   string `json:"kek"`
	Nonce []byte `json:"nonce"` // 12 bytes, standard base64 in JSON
	Data  []byte `json:"data"`  // ciphertext and tag, standard base64 in JSON
}

// seal encrypts plaintext, the private JWK of the key kid.
func (k kek) seal(kid string, plaintext []byte) *sealedKey {
	nonce := make([]byte, k.aead.NonceSize())
	_, _ = rand.Read(nonce) // crypto/rand.Read never fails; it crashes the program instead
	return &sealedKey{KEK: k.id, Nonce: nonce, Data: k.aead.Seal(nil, nonce, plaintext, []byte(kid))}
}

// open decrypts the sealed private JWK of the key kid with the one of keks
// that sealed it.
func open(keks []kek, kid string, s *sealedKey) ([]byte, error) {
	for _, k := range keks {
		if k.id != s.KEK {
			continue
		}
		if len(s.Nonce) != k.aead.NonceSize() {
			return nil, fmt.Errorf("%w: the sealed private half of key %s has a nonce of %d bytes, not %d",
				ErrCorrupt, quote.Value(kid), len(s.Nonce), k.aead.NonceSize())
		}
		plaintext, err := k.aead.Open(nil, s.Nonce, s.Data, []byte(kid))
		if err != nil {
			return nil, fmt.Errorf("%w: the private half of key %s does not decrypt with key-encryption key %s: "+
				"the ring was altered, or the sealed key belongs to another entry", ErrCorrupt, quote.Value(kid), s.KEK)
		}
		return plaintext, nil
	}
	ids := make([]string, len(keks))
	for i, k := range keks {
		ids[i] = k.id
	}
	configured := "none"
	if len(ids) > 0 {
		configured = strings.Join(ids, ", ")
	}
	return nil, fmt.Errorf("%w: the private half of key %s is sealed with key-encryption key %s, "+
		"which is not configured (configured: %s)", ErrUnknownKEK, quote.Value(kid), quote.Value(s.KEK), configured)
}
