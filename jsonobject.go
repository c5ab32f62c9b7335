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
//
// The members are kept in document order, each value a slice of the
// document (which must not change), and found by a scan: a token has a
// handful of members, and a map of copies would cost more than the search.
// As with encoding/json and JavaScript's JSON.parse, the last of two members
// of the same name wins.
type jsonObject []jsonMember

// A jsonMember is one member of a jsonObject.
type jsonMember struct {
	name  []byte          // unescaped
	value json.RawMessage // the member's JSON
}

// decodeObject decodes data, which must be a JSON object.
func decodeObject(data []byte) (jsonObject, error) {
	if !json.Valid(data) {
		var syntax *json.SyntaxError
		if err := json.Unmarshal(data, new(json.RawMessage)); errors.As(err, &syntax) {
			return nil, fmt.Errorf("not valid JSON (at byte %d)", syntax.Offset)
		}
		return nil, errors.New("not valid JSON")
	}
	// data is one valid JSON value: the scan below need not check it again.
	i := skipSpace(data, 0)
	if data[i] != '{' {
		return nil, errors.New("not a JSON object")
	}
	o := make(jsonObject, 0, min(max(len(data)/16, 2), 16)) // a member is rarely shorter

	i = skipSpace(data, i+1)
	for data[i] != '}' {
		end := skipString(data, i)
		name, err := unquoteName(data[i:end])
		if err != nil {
			return nil, err
		}
		i = skipSpace(data, end)
		i = skipSpace(data, i+1) // the colon
		end = skipValue(data, i)
		o = append(o, jsonMember{name: name, value: data[i:end:end]})
		i = skipSpace(data, end)
		if data[i] == ',' {
			i = skipSpace(data, i+1)
		}
	}
	return o, nil
}

// skipSpace returns the index of the first byte at or after i that is not
// JSON whitespace.
func skipSpace(data []byte, i int) int {
	for i < len(data) && (data[i] == ' ' || data[i] == '\t' || data[i] == '\n' || data[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index just past the valid JSON string that starts
// at data[i].
func skipString(data []byte, i int) int {
	for i++; data[i] != '"'; i++ {
		if data[i] == '\\' {
			i++ // the escaped byte; \uXXXX's digits are ordinary bytes
		}
	}
	return i + 1
}

// skipValue returns the index just past the valid JSON value that starts at
// data[i].
func skipValue(data []byte, i int) int {
	switch data[i] {
	case '"':
		return skipString(data, i)
	case '{', '[':
		depth := 0
		for ; ; i++ {
			switch data[i] {
			case '"':
				i = skipString(data, i) - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return i + 1
				}
			}
		}
	}
	// A number, true, false or null: up to the next delimiter.
	for ; i < len(data); i++ {
		switch data[i] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			return i
		}
	}
	return i
}

// unquoteName returns the name a quoted member name stands for: its bytes
// when it has no escape and is ASCII, else what encoding/json makes of it.
func unquoteName(quoted []byte) ([]byte, error) {
	name := quoted[1 : len(quoted)-1]
	for _, c := range name {
		if c == '\\' || c >= utf8.RuneSelf {
			var s string
			if err := json.Unmarshal(quoted, &s); err != nil {
				return nil, errors.New("not valid JSON")
			}
			return []byte(s), nil
		}
	}
	return name, nil
}

// lookup returns the value of the last member called name.
func (o jsonObject) lookup(name string) (json.RawMessage, bool) {
	for i := len(o) - 1; i >= 0; i-- {
		if string(o[i].name) == name {
			return o[i].value, true
		}
	}
	return nil, false
}

// value returns the value of the member name, nil when absent.
func (o jsonObject) value(name string) json.RawMessage {
	v, _ := o.lookup(name)
	return v
}

// get decodes the member name into dst, a pointer. An absent member leaves
// dst as it is; a null one sets a pointer dst to nil.
func (o jsonObject) get(name string, dst any) error {
	v, ok := o.lookup(name)
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
	_, ok := o.lookup(name)
	return ok
}
