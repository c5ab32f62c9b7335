package jwks_test

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/powersync-jwks/jwks"
)

// objectCases are JSON texts whose members the library's scanner must read
// as encoding/json reads them into a map.
var objectCases = []string{
	`{}`,
	` { } `,
	`{"sub":"u","aud":["a","b"],"iat":1,"exp":2.5e3,"nbf":null,"x":true,"y":false}`,
	"\t{\n\"a\" : 1 ,\r\n\"b\":{\"c\":[1,{\"d\":\"}]\"}],\"e\":\"\\\"\"} }\n",
	`{"a":"x\"y\\","b":[],"c":{},"d":[[[]]],"e":-0.5E-7}`,
	`{"sub":"first","sub":"second"}`,
	`{"\u0073ub":"escaped name","s\u00fcb":1,"sü":2}`,
	`{"a":"\ud83d\ude00","b\\c":1,"":3}`,
	"{\"a\xff\":1,\"v\":\"\xfe\"}",
	`{"nested":{"sub":"inner"},"sub":"outer"}`,
}

func TestDecodeObjectAgreesWithEncodingJSON(t *testing.T) {
	for _, data := range objectCases {
		requireSameObject(t, []byte(data))
	}
}

func TestDecodeObjectRefusals(t *testing.T) {
	for _, data := range []string{``, ` `, `null`, `[]`, `"s"`, `1`, `{`, `{"a"}`, `{"a":1,}`, `{"a":1}x`, `{"a":01}`, `{'a':1}`, "\xef\xbb\xbf{}"} {
		_, err := jwks.DecodeObject([]byte(data))
		assert.Error(t, err, "%q", data)
	}
}

// requireSameObject checks that DecodeObject and encoding/json agree on
// data: both refuse it, or both read the same members with the same
// values.
func requireSameObject(t testing.TB, data []byte) {
	t.Helper()
	var want map[string]json.RawMessage
	wantErr := json.Unmarshal(data, &want)
	if wantErr == nil && want == nil { // null
		wantErr = assert.AnError
	}
	got, err := jwks.DecodeObject(data)
	if wantErr != nil {
		require.Error(t, err, "%q: encoding/json refuses it (%v)", data, wantErr)
		return
	}
	require.NoError(t, err, "%q", data)
	require.Len(t, got, len(want), "%q", data)
	for name, v := range want {
		g, ok := got[name]
		require.True(t, ok, "%q: member %q", data, name)
		var a, b bytes.Buffer
		require.NoError(t, json.Compact(&a, v))
		require.NoError(t, json.Compact(&b, g))
		require.Equal(t, a.String(), b.String(), "%q: member %q", data, name)
	}
}

func FuzzDecodeObject(f *testing.F) {
	for _, data := range objectCases {
		f.Add([]byte(data))
	}
	f.Fuzz(func(t *testing.T, data []byte) { requireSameObject(t, data) })
}
