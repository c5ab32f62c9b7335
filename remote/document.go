package remote

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/powersync-jwks/jwks"
)

// Errors of the keys that [ParseDocument] skips, beside those of package jwks
// (see [SkippedKey]), and of a document it refuses for its length.
var (
	// ErrPrivateKey: the entry carries private or symmetric key material
	// ("d", "p", "q", "dp", "dq", "qi", "oth" or "k"). A JWKS must never
	// publish it: take the key as compromised. PowerSync itself does not
	// refuse such a key; a KeySet does.
	ErrPrivateKey = errors.New("remote: the key set publishes private key material")

	// ErrNotForVerifying: the entry's "use" is not "sig", or its "key_ops"
	// do not allow "verify". PowerSync skips such a key too.
	ErrNotForVerifying = errors.New("remote: key not meant for verifying signatures")

	// ErrNoKeyID: the entry has no "kid" (or one that is not a string), so no
	// token can name it.
	ErrNoKeyID = errors.New("remote: key without a kid")

	// ErrTooManyEntries: the document's "keys" array holds more than
	// [MaxDocumentEntries] entries. [ReadDocument] and [ParseDocument]
	// refuse the document (PowerSync reads it). Like their other errors
	// for a refused document, it has no "remote: " prefix: a KeySet's
	// errors give it after its own.
	ErrTooManyEntries = fmt.Errorf(`document has over %d entries in its "keys" array`, MaxDocumentEntries)
)

// MaxDocumentEntries is the most entries the "keys" array of a JWKS
// document may hold. [ReadDocument] and [ParseDocument] refuse a document
// with more, as they refuse one that is not a JWKS, and a [KeySet] keeps its
// last good set. The JWKS of a real issuer holds a handful of keys: the
// bound keeps a document of junk entries (a 1 MiB document holds half a
// million) from costing a second, hundreds of MB and a log line an entry at
// every fetch.
const MaxDocumentEntries = 1000

// secretMembers are the JWK members that hold private or symmetric key
// material (RFC 7518 section 6). A JWKS must never carry them: a key
// published with one is compromised, and is never used.
var secretMembers = [...]string{"d", "p", "q", "dp", "dq", "qi", "oth", "k"}

// A SkippedKey is an entry of a JWKS document that [ParseDocument], and so a
// [KeySet], does not use.
type SkippedKey struct {
	Index int    // its position in the "keys" array, from 0
	KeyID string // its "kid", empty when it has none (or not a string)

	// Err says why, and wraps one of: [ErrPrivateKey], [ErrNotForVerifying],
	// [ErrNoKeyID]; [jwks.ErrDuplicateKeyID] when another entry has the same
	// kid; [jwks.ErrUnsupportedAlgorithm] for a symmetric (oct) key (with
	// ErrPrivateKey when it holds its secret) or a key type or algorithm
	// other than the seven of [jwks.Algorithms]; otherwise the error of
	// [jwks.ParseKey] for the entry. It never contains key material.
	Err error
}

// ParseDocument reads a JWKS document, {"keys": […]}, as a [KeySet] reads
// each document it fetches: it returns the keys it can use, public and in
// document order, and the entries it skips, with why. A document that is not
// a JSON object with a "keys" array, or whose array holds more than
// [MaxDocumentEntries] entries, is an error (a KeySet keeps its last good
// set); a key that cannot be used is skipped and the others kept: keys
// carrying private or symmetric material, oct keys, keys with "use" other
// than "sig" or "key_ops" without "verify", keys without a "kid", keys that
// [jwks.ParseKey] refuses, and every key whose kid another entry shares
// (which one is meant is ambiguous).
//
// It is the way to check a JWKS before publishing it, or to tell why a
// token's kid is not found. Errors never quote the document. [ReadDocument]
// reads it the same way, entry by entry.
func ParseDocument(doc []byte) (keys []*jwks.Key, skipped []SkippedKey, err error) {
	entries, err := ReadDocument(doc)
	if err != nil {
		return nil, nil, err
	}
	for i, e := range entries {
		if e.Err != nil {
			skipped = append(skipped, SkippedKey{Index: i, KeyID: e.KeyID, Err: e.Err})
			continue
		}
		keys = append(keys, e.Key)
	}
	return keys, skipped, nil
}

// A DocumentEntry is one entry of a JWKS document's "keys" array, with what
// [ReadDocument] (and so [ParseDocument] and a [KeySet]) makes of it.
type DocumentEntry struct {
	// JSON is the entry as the document has it, private members and all:
	// never log it.
	JSON json.RawMessage

	KeyID string // its "kid", empty when it has none (or not a string)

	// Key is the public key a KeySet uses, nil when the entry is skipped.
	Key *jwks.Key

	// Err says why the entry is skipped, as [SkippedKey.Err] does; nil
	// when Key is used.
	Err error
}

// ReadDocument reads a JWKS document as [ParseDocument] does, and returns
// every entry of its "keys" array, in document order (an entry's index in
// the slice is its index in the array), each with its key or why it is
// skipped. The document is read once: the entries are those of the member
// named "keys" exactly, as PowerSync reads it, never of "Keys" or "KEYS".
// A document that is not a JSON object with a "keys" array, or whose array
// holds more than [MaxDocumentEntries] entries, is an error. Errors never
// quote the document.
func ReadDocument(doc []byte) ([]DocumentEntry, error) {
	// The members by their exact names, as jose reads them: a struct
	// field would take "Keys" or "KEYS" for "keys".
	var d map[string]json.RawMessage
	if err := json.Unmarshal(doc, &d); err != nil {
		var syntax *json.SyntaxError
		if errors.As(err, &syntax) {
			return nil, fmt.Errorf("document is not valid JSON (at byte %d)", syntax.Offset)
		}
		return nil, errors.New("document is not a JSON object")
	}
	raw, err := keysArray(d)
	if err != nil {
		return nil, err
	}

	entries := make([]DocumentEntry, len(raw))
	seen := make(map[string]int, len(raw)) // entries naming each key ID, usable or not
	for i, r := range raw {
		kid, key, err := importKey(r)
		if kid != "" {
			seen[kid]++
		}
		entries[i] = DocumentEntry{JSON: r, KeyID: kid, Key: key, Err: err}
	}
	for i, e := range entries {
		if n := seen[e.KeyID]; e.Err == nil && n > 1 {
			entries[i].Key = nil
			entries[i].Err = fmt.Errorf("%w: kid is shared by %d keys of the set", jwks.ErrDuplicateKeyID, n)
		}
	}
	return entries, nil
}

// keysArray returns the entries of the "keys" member of a document's
// members, d, reading no more than MaxDocumentEntries of them: the document
// has been read as JSON, and what is past the bound is not looked at.
func keysArray(d map[string]json.RawMessage) ([]json.RawMessage, error) {
	errNoKeys := errors.New(`document has no "keys" array`)
	member := d["keys"]
	if len(member) == 0 {
		return nil, errNoKeys
	}
	dec := json.NewDecoder(bytes.NewReader(member))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('[') {
		return nil, errNoKeys // null, an object, a string…
	}
	var entries []json.RawMessage
	for dec.More() {
		if len(entries) == MaxDocumentEntries {
			return nil, ErrTooManyEntries
		}
		var e json.RawMessage
		if err := dec.Decode(&e); err != nil {
			return nil, errNoKeys
		}
		entries = append(entries, e)
	}
	return entries, nil
}

// importKey reads one entry of a JWKS: it returns the entry's key ID (if it
// has one), and the key, or why the entry cannot be used.
func importKey(raw json.RawMessage) (kid string, key *jwks.Key, err error) {
	var members map[string]json.RawMessage
	if err := json.Unmarshal(raw, &members); err != nil || members == nil {
		return "", nil, fmt.Errorf("%w: not a JSON object", jwks.ErrKeyFormat)
	}
	if v, ok := members["kid"]; ok {
		_ = json.Unmarshal(v, &kid) // a kid that is not a string counts as none
	}
	var kty string
	_ = json.Unmarshal(members["kty"], &kty)
	if kty == "oct" {
		if _, ok := members["k"]; ok {
			return kid, nil, fmt.Errorf("%w: %w: symmetric (oct) key: a JWKS must not publish a secret", jwks.ErrUnsupportedAlgorithm, ErrPrivateKey)
		}
		return kid, nil, fmt.Errorf("%w: symmetric (oct) key", jwks.ErrUnsupportedAlgorithm)
	}
	for _, name := range secretMembers {
		if _, ok := members[name]; ok {
			return kid, nil, fmt.Errorf("%w: the key carries the private member %q: take it as compromised", ErrPrivateKey, name)
		}
	}
	if kid == "" {
		return "", nil, fmt.Errorf("%w: tokens could not name it", ErrNoKeyID)
	}
	// ParseKey refuses a "use" other than "sig" too; a verifier also needs
	// "verify" among the key_ops, where ParseKey accepts "sign" alone.
	if v, ok := members["use"]; ok && !bytes.Equal(v, []byte("null")) {
		var use string
		if json.Unmarshal(v, &use) != nil || use != "sig" {
			return kid, nil, fmt.Errorf(`%w: "use" is not "sig"`, ErrNotForVerifying)
		}
	}
	if v, ok := members["key_ops"]; ok {
		var ops []string
		if json.Unmarshal(v, &ops) != nil || !slices.Contains(ops, "verify") {
			return kid, nil, fmt.Errorf(`%w: "key_ops" does not allow "verify"`, ErrNotForVerifying)
		}
	}
	k, err := jwks.ParseKey(raw)
	if err != nil {
		return kid, nil, err
	}
	if k.CanSign() || k.KeyID() != kid {
		return kid, nil, fmt.Errorf("%w: does not read back as the public key it names", jwks.ErrInvalidKey)
	}
	return kid, k, nil
}
