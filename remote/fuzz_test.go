package remote

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/powersync-jwks/jwks"
	"github.com/powersync-jwks/jwks/internal/keyid"
	"github.com/powersync-jwks/jwks/internal/testkit"
)

// bodyTransport is an http.RoundTripper that answers every request with 200
// and body, in memory.
type bodyTransport []byte

func (b bodyTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	return &http.Response{
		StatusCode:    http.StatusOK,
		Header:        http.Header{"Content-Type": {"application/json"}},
		Body:          io.NopCloser(bytes.NewReader(b)),
		ContentLength: int64(len(b)),
		Request:       r,
	}, nil
}

// fuzzMaxDocument is the document size limit of FuzzJWKSDocument's key sets.
const fuzzMaxDocument = 64 << 10

// goodKID is the key ID of the known good key FuzzJWKSDocument adds.
const goodKID = "fuzz-good-key"

// FuzzJWKSDocument: any bytes served as the JWKS document. No document
// makes a KeySet panic; LookupKey answers with a public key under the key
// ID asked for, or with an error wrapping jwks.ErrUnknownKey (or
// jwks.ErrUnavailable when the document was refused); the key IDs it lists
// are those it finds; what it logs holds no private member of the document;
// and a document accepted as a JSON object with a "keys" array still
// yields a known good key appended to that array, and every key it yielded
// before, unless the array holds more than MaxDocumentEntries entries, when
// it is refused. The seed corpus is in testdata/fuzz/FuzzJWKSDocument. Run longer
// with go test -run '^$' -fuzz '^FuzzJWKSDocument$' -fuzztime 5m ./remote.
func FuzzJWKSDocument(f *testing.F) {
	good := testkit.NewKey(f, jwks.ES256, jwks.WithKeyID(goodKID))
	goodJWK := publicJWK(f, good)
	f.Add(docOf(f, good))
	f.Add(docOf(f, testkit.NewKey(f, jwks.EdDSA, jwks.WithKeyID("a")), testkit.NewKey(f, jwks.ES384, jwks.WithKeyID("b"))))
	f.Add([]byte(`{"keys":[]}`))
	f.Add([]byte(`{"keys":[{"kty":"oct","kid":"s","k":"c2VjcmV0"}]}`))
	f.Add(docOf(f, junk(MaxDocumentEntries+1)...))
	f.Add(docOf(f, append([]any{good}, junk(MaxDocumentEntries-1)...)...))

	f.Fuzz(func(t *testing.T, doc []byte) {
		if len(doc) > 2*fuzzMaxDocument { // over the limit either way
			return
		}
		ids, accepted, logs := lookupAll(t, doc, goodKID, nil)
		checkLogs(t, doc, logs)

		// The document as a JSON object, its "keys" array with the good
		// key appended, and again without it: both must yield what the
		// document did, the first the good key too.
		var top map[string]json.RawMessage
		var entries []json.RawMessage
		if json.Unmarshal(doc, &top) != nil || top == nil || json.Unmarshal(top["keys"], &entries) != nil || entries == nil {
			if accepted {
				t.Fatalf("a document without a \"keys\" array (by that exact name) was accepted: %q", ids)
			}
			return
		}
		if len(entries) > MaxDocumentEntries {
			if accepted {
				t.Fatalf("a document of %d entries was accepted: %q", len(entries), ids)
			}
			return
		}
		if len(entries) == MaxDocumentEntries {
			return // no room for the good key
		}
		for _, e := range entries {
			var m map[string]json.RawMessage
			var kid string
			if json.Unmarshal(e, &m) == nil && json.Unmarshal(m["kid"], &kid) == nil && kid == goodKID {
				return // the document names the good key's ID itself
			}
		}
		same, err := json.Marshal(top)
		if err != nil {
			t.Fatal(err)
		}
		top["keys"], err = json.Marshal(append(entries, goodJWK))
		if err != nil {
			t.Fatal(err)
		}
		withGood, err := json.Marshal(top)
		if err != nil {
			t.Fatal(err)
		}
		if len(withGood) > fuzzMaxDocument {
			return
		}
		if again, _, _ := lookupAll(t, same, goodKID, nil); !slices.Equal(again, ids) {
			t.Fatalf("the document yields %q, and %q once re-encoded", ids, again)
		}
		got, _, _ := lookupAll(t, withGood, goodKID, good)
		if want := slices.Sorted(slices.Values(append(slices.Clone(ids), goodKID))); !slices.Equal(got, want) {
			t.Fatalf("with the good key appended, the document yields %q, not %q", got, want)
		}
	})
}

// lookupAll serves doc to a new KeySet, looks up every key ID the document
// names, and extra, checks the answers, and returns the set's key IDs,
// whether it accepted the document, and what it logged. When want is not nil, the set must yield it (its public
// half) under its key ID.
func lookupAll(t *testing.T, doc []byte, extra string, want *jwks.Key) (ids []string, accepted bool, logs string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	buf := &testkit.LogBuffer{}
	ks, err := New(ctx, "http://jwks.test/jwks.json",
		WithHTTPClient(&http.Client{Transport: bodyTransport(doc)}),
		WithLogger(buf.Logger()),
		WithMaxDocumentSize(fuzzMaxDocument),
		WithUnknownKeyRefetch(time.Hour, 0)) // the first fetch only
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		cancel()
		<-ks.stopped
	}()

	ks.LookupKey(ctx, extra) // waits for the first fetch
	accepted = !ks.LastFetch().IsZero()
	ids = ks.KeyIDs()
	if !slices.IsSorted(ids) || !accepted && ids != nil {
		t.Fatalf("KeyIDs %q (document accepted: %v)", ids, accepted)
	}
	for _, kid := range append(append(docKeyIDs(doc), extra), ids...) {
		k, err := ks.LookupKey(ctx, kid)
		switch {
		case err != nil:
			if slices.Contains(ids, kid) {
				t.Fatalf("kid %q is listed and not found: %v", kid, err)
			}
			if !strings.HasPrefix(err.Error(), "remote: ") {
				t.Fatalf("error without the package prefix: %v", err)
			}
			// A kid that cannot be valid is unknown without a fetch; any
			// other is unknown to a usable set, and unavailable without one.
			unknown := accepted || !keyid.Valid(kid)
			if unknown && !errors.Is(err, jwks.ErrUnknownKey) || !unknown && !errors.Is(err, jwks.ErrUnavailable) {
				t.Fatalf("kid %q: %v (document accepted: %v)", kid, err, accepted)
			}
		case k == nil || k.CanSign() || k.KeyID() != kid || !slices.Contains(ids, kid):
			t.Fatalf("kid %q gave key %v, of the set %q", kid, k, ids)
		}
	}
	if want != nil {
		k, err := ks.LookupKey(ctx, want.KeyID())
		if err != nil || !k.Equal(want.PublicOnly()) {
			t.Fatalf("the good key is not in the set %q: %v", ids, err)
		}
	}
	return ids, accepted, buf.String()
}

// docKeyIDs returns the string "kid" members of the document's entries, as
// far as it reads as a JWKS.
func docKeyIDs(doc []byte) []string {
	var d struct {
		Keys []map[string]any `json:"keys"`
	}
	json.Unmarshal(doc, &d)
	var kids []string
	for _, e := range d.Keys {
		if kid, ok := e["kid"].(string); ok {
			kids = append(kids, kid)
		}
	}
	return kids
}

// checkLogs fails if logs hold the value of a private member (secretMembers)
// of any object of the document, unless that value is found elsewhere in
// the document too, where it might be logged (a kid). Values under 12 bytes
// are not looked for: they may be found anywhere.
func checkLogs(t *testing.T, doc []byte, logs string) {
	t.Helper()
	var v any
	if json.Unmarshal(doc, &v) != nil {
		return
	}
	var all, secrets []string
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case string:
			all = append(all, v)
		case []any:
			for _, e := range v {
				walk(e)
			}
		case map[string]any:
			for name, e := range v {
				all = append(all, name)
				if s, ok := e.(string); ok && slices.Contains(secretMembers[:], name) && len(s) >= 12 {
					secrets = append(secrets, s)
				}
				walk(e)
			}
		}
	}
	walk(v)
	for _, s := range secrets {
		n := 0
		for _, a := range all {
			n += strings.Count(a, s)
		}
		if n == 1 && strings.Contains(logs, s) {
			t.Fatalf("the logs hold a private member of the document:\n%s", logs)
		}
	}
}
