package jwks

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"unicode/utf8"
)

// A jsonObject is a JSON object by the exact names of its members.
//
// encoding/json fills struct fields without regard to case: a member "SUB"
// or "Aud" fills a field tagged "sub" or "aud", and the last one wins.
// PowerSync's jose reads the exact names only, so decoding claims or headers
// into a struct would let a token say one thing to PowerSync and another to
// this package. Registered names are therefore read from a jsonObject.
type jsonObject map[string]json.RawMessage

// decodeObject decodes data, which must be a JSON object.
func decodeObject(data []byte) (jsonObject, error) {
	var o jsonObject
	if err := json.Unmarshal(data, &o); err != nil {
		var syntax *json.SyntaxError
		if errors.As(err, &syntax) {
			return nil, fmt.Errorf("not valid JSON (at byte %d)", syntax.Offset)
		}
		return nil, errors.New("not a JSON object")
	}
	if o == nil {
		return nil, errors.New("not a JSON object")
	}
	return o, nil
}

// get decodes the member name into dst, a pointer. An absent member leaves
// dst as it is; a null one sets a pointer dst to nil.
func (o jsonObject) get(name string, dst any) error {
	v, ok := o[name]
	if !ok {
		return nil
	}
	if fastGet(v, dst) {
		return nil
	}
	if err := json.Unmarshal(v, dst); err != nil {
		return fmt.Errorf("%q has the wrong type", name)
	}
	return nil
}

// fastGet decodes the common shapes of registered claims without
// encoding/json's reflection: a string without escapes into a *string or
// **string, a number into a **float64. v is valid JSON already (the object
// it came from was decoded whole). It reports whether it did the decoding;
// everything else is left to encoding/json.
func fastGet(v json.RawMessage, dst any) bool {
	switch d := dst.(type) {
	case *string, **string:
		if len(v) < 2 || v[0] != '"' || bytes.IndexByte(v, '\\') >= 0 || !utf8.Valid(v) {
			return false
		}
		s := string(v[1 : len(v)-1])
		if p, ok := d.(*string); ok {
			*p = s
		} else {
			*d.(**string) = &s
		}
		return true
	case **float64:
		if len(v) == 0 || (v[0] != '-' && (v[0] < '0' || v[0] > '9')) {
			return false
		}
		f, err := strconv.ParseFloat(string(v), 64)
		if err != nil {
			return false
		}
		*d = &f
		return true
	}
	return false
}

// has reports whether the member name is present, even as null.
func (o jsonObject) has(name string) bool {
	_, ok := o[name]
	return ok
}
