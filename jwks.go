package jwks

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"sync/atomic"
)

// A KeySet holds the key that signs new tokens and the keys that are
// published in the JWKS document: the signing key, keys still being retired
// (public halves suffice) and keys about to be used.
//
// A KeySet is safe for concurrent use. Readers (signing, verifying, serving
// the JWKS) load an immutable snapshot without taking a lock; [KeySet.Replace] builds
// a new snapshot, with its JWKS document and ETag, and swaps it in whole, so
// a reader sees either the old set or the new one, never a mixture.
type KeySet struct {
	snap atomic.Pointer[keySetSnapshot]
}

// keySetSnapshot is one immutable state of a KeySet.
type keySetSnapshot struct {
	signing *Key            // nil for a set that only verifies
	keys    []*Key          // published, in document order, signing key first
	byKID   map[string]*Key // the published keys by key ID
	doc     []byte          // the JWKS document {"keys":[…]}
	etag    string          // strong ETag of doc, quoted

	// Header values for the JWKS handler, built once so that serving the
	// document allocates nothing.
	etagHeader   []string
	lengthHeader []string
}

// NewKeySet returns a key set that signs with signing and publishes signing
// and every key of published. Published keys may be public only (an old key
// kept until its last token expires, or the next key published ahead of
// use). The signing key may be nil for a set that only verifies, as long as
// one key is published.
//
// Keys are validated when they are made, so every key of the set can be
// imported by PowerSync: one key that cannot be would make it refuse the whole
// document. The same key given twice is published once; two different keys
// with the same key ID are refused with [ErrDuplicateKeyID].
func NewKeySet(signing *Key, published ...*Key) (*KeySet, error) {
	snap, err := newSnapshot(signing, published)
	if err != nil {
		return nil, err
	}
	ks := &KeySet{}
	ks.snap.Store(snap)
	return ks, nil
}

// Replace changes the signing key and the published keys at once, with the
// rules of [NewKeySet]. Requests in flight finish with the set they started
// with; the next ones see the new set. On error the set is unchanged.
// [Rotation] in the package documentation gives the calls that rotate a key
// without failing a request.
//
// [Rotation]: https://pkg.go.dev/github.com/powersync-jwks/jwks#hdr-Rotation
func (ks *KeySet) Replace(signing *Key, published ...*Key) error {
	snap, err := newSnapshot(signing, published)
	if err != nil {
		return err
	}
	ks.snap.Store(snap)
	return nil
}

func newSnapshot(signing *Key, published []*Key) (*keySetSnapshot, error) {
	if signing == nil && len(published) == 0 {
		return nil, fmt.Errorf("%w: a key set needs at least one key", ErrInvalidKey)
	}
	if signing != nil && !signing.CanSign() {
		return nil, fmt.Errorf("%w: signing key %s", ErrPublicKey, signing.kid)
	}
	s := &keySetSnapshot{signing: signing, byKID: make(map[string]*Key, 1+len(published))}
	all := published
	if signing != nil {
		all = append([]*Key{signing}, published...)
	}
	for i, k := range all {
		if k == nil || k.spec == nil {
			return nil, fmt.Errorf("%w: key %d of the set is nil or zero", ErrInvalidKey, i)
		}
		if prev, ok := s.byKID[k.kid]; ok {
			if prev.Equal(k) {
				continue
			}
			return nil, fmt.Errorf("%w: %q names two different keys", ErrDuplicateKeyID, k.kid)
		}
		s.byKID[k.kid] = k.PublicOnly()
		s.keys = append(s.keys, k)
	}

	var doc bytes.Buffer
	doc.WriteString(`{"keys":[`)
	for i, k := range s.keys {
		if i > 0 {
			doc.WriteByte(',')
		}
		doc.Write(k.jwk)
	}
	doc.WriteString(`]}`)
	s.doc = doc.Bytes()
	if err := checkDocument(s.doc, s.keys); err != nil {
		return nil, err
	}

	sum := sha256.Sum256(s.doc)
	s.etag = `"` + base64.RawURLEncoding.EncodeToString(sum[:18]) + `"`
	s.etagHeader = []string{s.etag}
	s.lengthHeader = []string{strconv.Itoa(len(s.doc))}
	return s, nil
}

// checkDocument reads the JWKS document back, as a verifier would, and
// checks that it holds exactly the set's public keys.
func checkDocument(doc []byte, keys []*Key) error {
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(doc, &set); err != nil || len(set.Keys) != len(keys) {
		return fmt.Errorf("%w: JWKS document does not read back", ErrInvalidKey)
	}
	for i, raw := range set.Keys {
		k, err := ParseKey(raw)
		if err != nil {
			return fmt.Errorf("jwks: published key %s does not read back: %w", keys[i].kid, err)
		}
		if k.CanSign() || !k.Equal(keys[i]) {
			return fmt.Errorf("%w: published key %s does not read back", ErrInvalidKey, keys[i].kid)
		}
	}
	return nil
}

func (ks *KeySet) load() *keySetSnapshot { return ks.snap.Load() }

// SigningKey returns the key that signs new tokens, or nil for a set that
// only verifies.
func (ks *KeySet) SigningKey() *Key { return ks.load().signing }

// Keys returns the published keys, signing key first, without their private
// halves, in a new slice. [KeySet.SigningKey] returns the signing key whole.
func (ks *KeySet) Keys() []*Key {
	keys := ks.load().keys
	out := make([]*Key, len(keys))
	for i, k := range keys {
		out[i] = k.PublicOnly()
	}
	return out
}

// Key returns the published key with the given key ID, without its private
// half.
func (ks *KeySet) Key(kid string) (*Key, bool) {
	k, ok := ks.load().byKID[kid]
	return k, ok
}

// LookupKey implements [KeySource]: it returns the published key with the
// given key ID, or an error wrapping [ErrUnknownKey].
func (ks *KeySet) LookupKey(_ context.Context, kid string) (*Key, error) {
	if k, ok := ks.load().byKID[kid]; ok {
		return k, nil
	}
	return nil, ErrUnknownKey
}

// JWKS returns the public JWKS document, {"keys":[…]}, in a new slice.
func (ks *KeySet) JWKS() []byte { return bytes.Clone(ks.load().doc) }

// ETag returns the strong entity tag of the current JWKS document, quoted as
// in an HTTP header. It changes whenever the document does.
func (ks *KeySet) ETag() string { return ks.load().etag }
