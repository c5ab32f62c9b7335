package keyring

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/powersync-jwks/jwks"
	"github.com/powersync-jwks/jwks/internal/quote"
)

// formatVersion is the version of the ring's encoding, its "v" member.
const formatVersion = 1

// The encoding of a ring, the bytes a Store keeps:
//
//	{"v":1,"keys":[
//	  {"kid":"powersync-…","alg":"ES256","state":"active",
//	   "created":"…","published":"…","activated":"…",
//	   "sealed":{"kek":"<KEK ID>","nonce":"<base64>","data":"<base64>"}},
//	  {"kid":"…","alg":"ES256","state":"retired",…,"public":{…public JWK…}}]}
//
// Times are RFC 3339 in UTC; a time a key has not reached is left out. A key
// that may sign (next, active) carries its private JWK, sealed with a
// key-encryption key ("sealed") or, without one, in clear ("private"). A
// retired or revoked key carries its public JWK only ("public"): it never
// signs again, so the ring does not keep what it would sign with.
type document struct {
	V    int      `json:"v"`
	Keys []record `json:"keys"`
}

// record is one entry of the ring in a document.
type record struct {
	KID       string          `json:"kid"`
	Alg       jwks.Algorithm  `json:"alg"`
	State     State           `json:"state"`
	Created   time.Time       `json:"created,omitzero"`
	Published time.Time       `json:"published,omitzero"`
	Activated time.Time       `json:"activated,omitzero"`
	Retired   time.Time       `json:"retired,omitzero"`
	Revoked   time.Time       `json:"revoked,omitzero"`
	Private   json.RawMessage `json:"private,omitempty"`
	Sealed    *sealedKey      `json:"sealed,omitempty"`
	Public    json.RawMessage `json:"public,omitempty"`
}

// A codec encodes rings and decodes them, with the key-encryption keys
// configured: the first seals, any opens.
type codec struct {
	keks []kek
}

// sealing reports whether the codec seals private keys.
func (c codec) sealing() bool { return len(c.keks) > 0 }

// seal returns r with the private half of every key that may sign sealed
// with the first key-encryption key: the keys not sealed yet, or all of them
// when all is set (to re-encrypt the ring). Without a key-encryption key it
// returns r.
func (c codec) seal(r ring, all bool) (ring, error) {
	if !c.sealing() {
		return r, nil
	}
	out := r
	cloned := false
	for i, e := range r.entries {
		if e.State != StateNext && e.State != StateActive || (e.sealed != nil && !all) {
			continue
		}
		private, err := e.Key.MarshalPrivate(jwks.FormatJWK)
		if err != nil {
			return ring{}, fmt.Errorf("keyring: sealing key %s: %w", e.Key.KeyID(), err)
		}
		if !cloned {
			out, cloned = r.clone(), true
		}
		out.entries[i].sealed = c.keks[0].seal(e.Key.KeyID(), private)
		clear(private)
	}
	return out, nil
}

// encode returns the document of r. Keys that may sign are written sealed
// when their entry has been sealed (see seal), in clear otherwise.
func (c codec) encode(r ring) ([]byte, error) {
	if err := r.check(); err != nil {
		return nil, err
	}
	doc := document{V: formatVersion, Keys: make([]record, 0, len(r.entries))}
	for _, e := range r.entries {
		rec := record{
			KID: e.Key.KeyID(), Alg: e.Key.Algorithm(), State: e.State,
			Created: e.Created.UTC(), Published: e.Published.UTC(), Activated: e.Activated.UTC(),
			Retired: e.Retired.UTC(), Revoked: e.Revoked.UTC(),
		}
		var err error
		switch {
		case e.State == StateRetired || e.State == StateRevoked:
			rec.Public, err = e.Key.MarshalPublic(jwks.FormatJWK)
		case e.sealed != nil:
			rec.Sealed = e.sealed
		default:
			rec.Private, err = e.Key.MarshalPrivate(jwks.FormatJWK)
		}
		if err != nil {
			return nil, fmt.Errorf("keyring: encoding key %s: %w", rec.KID, err)
		}
		doc.Keys = append(doc.Keys, rec)
	}
	return json.Marshal(doc)
}

// decode reads a document. No data is the empty ring (a store that holds
// nothing yet). The ring's invariant is checked.
func (c codec) decode(data []byte) (ring, error) {
	if len(data) == 0 {
		return ring{}, nil
	}
	var doc document
	if err := json.Unmarshal(data, &doc); err != nil {
		return ring{}, fmt.Errorf("%w: %s", ErrCorrupt, describeJSONError(err))
	}
	if doc.V != formatVersion {
		return ring{}, fmt.Errorf("%w: the ring is in format %d; this version reads format %d", ErrCorrupt, doc.V, formatVersion)
	}
	r := ring{entries: make([]Entry, 0, len(doc.Keys))}
	for _, rec := range doc.Keys {
		e, err := c.decodeRecord(rec)
		if err != nil {
			return ring{}, err
		}
		r.entries = append(r.entries, e)
	}
	if err := r.check(); err != nil {
		return ring{}, err
	}
	return r, nil
}

// decodeRecord reads one entry, opening its sealed key.
func (c codec) decodeRecord(rec record) (Entry, error) {
	if !rec.State.valid() {
		return Entry{}, fmt.Errorf("%w: key %s has the unknown state %s", ErrCorrupt, quote.Value(rec.KID), quote.Value(string(rec.State)))
	}
	e := Entry{
		State: rec.State, Created: rec.Created, Published: rec.Published,
		Activated: rec.Activated, Retired: rec.Retired, Revoked: rec.Revoked,
	}
	mayPublishOnly := rec.State == StateRetired || rec.State == StateRevoked
	var jwk []byte
	switch {
	case mayPublishOnly && rec.Public != nil:
		jwk = rec.Public
	case rec.Sealed != nil:
		plaintext, err := open(c.keks, rec.KID, rec.Sealed)
		if err != nil {
			return Entry{}, err
		}
		defer clear(plaintext)
		jwk = plaintext
		if !mayPublishOnly {
			e.sealed = rec.Sealed
		}
	case rec.Private != nil:
		jwk = rec.Private
	default:
		return Entry{}, fmt.Errorf("%w: key %s has no key", ErrCorrupt, quote.Value(rec.KID))
	}
	key, err := jwks.ParseKey(jwk)
	if err != nil {
		return Entry{}, fmt.Errorf("%w: key %s: %w", ErrCorrupt, quote.Value(rec.KID), err)
	}
	if key.KeyID() != rec.KID || key.Algorithm() != rec.Alg {
		return Entry{}, fmt.Errorf("%w: entry %s (%s) holds key %s (%s)", ErrCorrupt, quote.Value(rec.KID), quote.Value(string(rec.Alg)), quote.Value(key.KeyID()), key.Algorithm())
	}
	if mayPublishOnly {
		key = key.PublicOnly()
	}
	e.Key = key
	return e, nil
}

// describeJSONError describes a decoding error without quoting the input,
// which may hold private keys.
func describeJSONError(err error) string {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntax):
		return fmt.Sprintf("not valid JSON (at byte %d)", syntax.Offset)
	case errors.As(err, &typ):
		return fmt.Sprintf("member %q has the wrong type (at byte %d)", typ.Field, typ.Offset)
	default:
		return "not valid JSON"
	}
}
