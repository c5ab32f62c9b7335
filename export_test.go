package jwks

import "encoding/json"

// Test hooks for the external tests of package jwks_test.

// SetSignTurns sets how many signatures with in-process keys s makes at
// once. Call it before s is used.
func SetSignTurns(s *Signer, n int) { s.slots = make(chan struct{}, n) }

// TakeSignTurn takes one of s's turns to sign, as a signature in progress
// would, and returns the function that gives it back.
func TakeSignTurn(s *Signer) (giveBack func()) {
	s.slots <- struct{}{}
	return func() { <-s.slots }
}

// DecodeObject is decodeObject with the members in a map, the last of a
// name winning, as encoding/json decodes an object into a map.
func DecodeObject(data []byte) (map[string]json.RawMessage, error) {
	o, err := decodeObject(data)
	if err != nil {
		return nil, err
	}
	m := make(map[string]json.RawMessage, len(o))
	for _, member := range o {
		m[string(member.name)] = member.value
	}
	return m, nil
}
