package rotationtest

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/powersync-jwks/jwks/keyring"
)

// A Ring is what the tests read of a stored ring without its Manager: the
// key IDs and states, in the ring's order. It is read from the Manager's
// encoding, format 1:
//
//	{"v":1,"keys":[{"kid":"…","alg":"…","state":"active",…},…]}
//
// (the private keys, sealed or not, are not read).
type Ring struct {
	Keys []RingKey
}

// A RingKey is one key of a Ring.
type RingKey struct {
	KID   string        `json:"kid"`
	State keyring.State `json:"state"`
}

// ReadRing reads the key IDs and states of an encoded ring. It does not
// check the ring: see Ring.Check.
func ReadRing(data []byte) (Ring, error) {
	var doc struct {
		V    int       `json:"v"`
		Keys []RingKey `json:"keys"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return Ring{}, fmt.Errorf("not a ring document: %w", err)
	}
	if doc.V != 1 {
		return Ring{}, fmt.Errorf("a ring document of format %d, not 1", doc.V)
	}
	return Ring{Keys: doc.Keys}, nil
}

// WithState returns the key IDs of the keys in state, in the ring's order.
func (r Ring) WithState(state keyring.State) []string {
	var out []string
	for _, k := range r.Keys {
		if k.State == state {
			out = append(out, k.KID)
		}
	}
	return out
}

// Published returns the key IDs a replica publishes for the ring, in the
// order of its JWKS: the active key, then the next keys, then the retired
// keys.
func (r Ring) Published() []string {
	var out []string
	for _, s := range []keyring.State{keyring.StateActive, keyring.StateNext, keyring.StateRetired} {
		out = append(out, r.WithState(s)...)
	}
	return out
}

// Check reports whether the ring has exactly one active key and no key ID
// twice.
func (r Ring) Check() error {
	var errs []error
	if active := r.WithState(keyring.StateActive); len(active) != 1 {
		errs = append(errs, fmt.Errorf("%d active keys %v", len(active), active))
	}
	seen := map[string]bool{}
	for _, k := range r.Keys {
		if seen[k.KID] {
			errs = append(errs, fmt.Errorf("key %s twice", k.KID))
		}
		seen[k.KID] = true
	}
	return errors.Join(errs...)
}

// jwksKeyIDs returns the key IDs of a JWKS document, in its order.
func jwksKeyIDs(doc []byte) ([]string, error) {
	var d struct {
		Keys []struct {
			KID string `json:"kid"`
		} `json:"keys"`
	}
	if err := json.Unmarshal(doc, &d); err != nil {
		return nil, err
	}
	out := make([]string, 0, len(d.Keys))
	for _, k := range d.Keys {
		out = append(out, k.KID)
	}
	if len(out) == 0 {
		return nil, errors.New("a JWKS without keys")
	}
	return slices.Clip(out), nil
}
