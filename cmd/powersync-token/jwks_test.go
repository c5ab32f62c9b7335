package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/powersync-jwks/jwks"
	"github.com/powersync-jwks/jwks/remote"
)

// memberNameDocs are JWKS documents whose members differ from "keys",
// "kty" or "alg" only in case: PowerSync (and package remote) read the
// members by their exact names, where encoding/json's struct fields would
// take "KEYS" or "Keys" for "keys" (the last one winning). es, hs and ed
// stand for the JWK of the keys key-es and key-ed, the latter with its
// private members, and an HS256 secret.
var memberNameDocs = []struct {
	name string
	doc  string
}{
	{"KEYS empty", `{"keys":[{"kty":"oct","kid":"a"},{"kty":"oct","kid":"b"}],"KEYS":[]}`},
	{"KEYS as long", `{"keys":[es,hs],"KEYS":[{"kty":"oct"},ed]}`},
	{"Keys", `{"Keys":[es]}`},
	{"KEYS and Keys", `{"keys":[es],"Keys":[{"kty":"oct"},{"kty":"oct"},{"kty":"oct"}],"KEYS":[ed]}`},
	{"Keys a number", `{"keys":[es],"Keys":5}`},
	{"ALG in an entry", `{"keys":[es-without-alg]}`},
	{"KTY in an entry", `{"keys":[es,hs-KTY]}`},
}

// expandDoc replaces the placeholders of a memberNameDocs document.
func expandDoc(t testing.TB, doc string) []byte {
	t.Helper()
	es := publicJWK(t, testKey(t, jwks.ES256, "key-es"))
	noAlg := publicJWK(t, testKey(t, jwks.ES256, "key-es"))
	noAlg["ALG"] = noAlg["alg"]
	delete(noAlg, "alg")
	private, err := testKey(t, jwks.EdDSA, "key-ed").MarshalPrivate(jwks.FormatJWK)
	require.NoError(t, err)
	return []byte(strings.NewReplacer(
		"es-without-alg", string(toJSON(t, noAlg)),
		"es", string(toJSON(t, es)),
		"hs-KTY", `{"kty":"oct","KTY":"EC","kid":"hs","k":"c2VjcmV0LXNlY3JldC1zZWNyZXQ"}`,
		"hs", `{"kty":"oct","kid":"hs","k":"c2VjcmV0LXNlY3JldC1zZWNyZXQ"}`,
		"ed", string(private),
	).Replace(doc))
}

// TestJWKSMemberNames: the doctor describes the entries of the "keys"
// member, by that exact name, as PowerSync reads them: never an entry of
// "KEYS" or "Keys", and never a key PowerSync does not see.
func TestJWKSMemberNames(t *testing.T) {
	t.Parallel()
	es := testKey(t, jwks.ES256, "key-es")
	ed := testKey(t, jwks.EdDSA, "key-ed")
	want := map[string]struct {
		signer  *jwks.Key
		token   string // instead of the signer's
		code    int
		kids    []string
		skipped []string // index and kid of each skipped entry
		words   string   // of the first skipped entry's powersync
		note    string
		stderr  string
	}{
		"KEYS empty": {token: "eyJhbGciOiJFUzI1NiIsImtpZCI6ImEifQ.e30.c2ln", code: exitRefused,
			skipped: []string{"0 a", "1 b"}},
		// key-ed is only in "KEYS": PowerSync never sees it.
		"KEYS as long":    {signer: ed, code: exitRefused, kids: []string{"key-es"}, skipped: []string{"1 hs"}},
		"Keys":            {signer: es, code: exitUsage, stderr: `no "keys" array`},
		"KEYS and Keys":   {signer: es, code: exitAccepted, kids: []string{"key-es"}},
		"Keys a number":   {signer: es, code: exitAccepted, kids: []string{"key-es"}},
		"ALG in an entry": {signer: es, code: exitAccepted, kids: []string{"key-es"}, note: `has no "alg"`},
		"KTY in an entry": {signer: es, code: exitAccepted, kids: []string{"key-es"}, skipped: []string{"1 hs"}, words: "skips oct keys"},
	}
	require.Len(t, want, len(memberNameDocs))
	for _, tc := range memberNameDocs {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w, ok := want[tc.name]
			require.True(t, ok)
			tok := w.token
			if w.signer != nil {
				tok = sign(t, w.signer, testAudience)
			}
			path := jwksFile(t, expandDoc(t, tc.doc))
			r := runCheck(t, time.Time{}, "", "check", "-json", "-jwks", path, "-audience", testAudience, tok)
			require.Equal(t, w.code, r.code, "stdout: %s\nstderr: %s", r.stdout, r.stderr)
			if w.code == exitUsage {
				assert.Contains(t, r.stderr, w.stderr)
				return
			}
			rep, _ := checkJSON(t, time.Time{}, "-jwks", path, "-audience", testAudience, tok)
			assert.ElementsMatch(t, w.kids, rep.JWKS.Kids, "%s", r.stdout)
			var skipped []string
			for _, s := range rep.JWKS.Skipped {
				skipped = append(skipped, fmt.Sprintf("%d %s", s.Index, s.KeyID))
			}
			assert.Equal(t, w.skipped, skipped, "%s", r.stdout)
			if w.words != "" {
				assert.Contains(t, rep.JWKS.Skipped[0].PowerSync, w.words)
			}
			if w.note != "" {
				require.Len(t, rep.JWKS.Notes, 1, "%s", r.stdout)
				assert.Contains(t, rep.JWKS.Notes[0], w.note)
			} else {
				assert.Empty(t, rep.JWKS.Notes, "%s", r.stdout)
			}
			if w.code == exitRefused && w.signer != nil {
				assert.Equal(t, []string{"unknown kid"}, rep.rules(), "%s", r.stdout)
			}
		})
	}
}

// FuzzAnalyzeJWKS: any bytes as the JWKS the doctor reads. analyzeJWKS
// never panics; it refuses exactly the documents remote.ParseDocument
// refuses; it describes exactly the entries ParseDocument skips, by their
// index and kid in the "keys" array; it uses every key ParseDocument
// yields, and beside them only the public half of an entry skipped for its
// private members (which PowerSync uses); and it lists the kids it uses,
// sorted. Run longer with
// go test -run '^$' -fuzz '^FuzzAnalyzeJWKS$' -fuzztime 5m ./cmd/powersync-token.
func FuzzAnalyzeJWKS(f *testing.F) {
	for _, tc := range memberNameDocs {
		f.Add(expandDoc(f, tc.doc))
	}
	f.Add(document(f, testKey(f, jwks.ES256, "key-es"), testKey(f, jwks.EdDSA, "key-ed")))
	f.Add(document(f, testKey(f, jwks.ES256, "key-es"), testKey(f, jwks.ES256, "key-es"), map[string]any{"kid": 7}, nil, 1))
	f.Add([]byte(`{"keys":[]}`))
	f.Add([]byte(`{"keys":null,"KEYS":[{"kty":"EC"}]}`))
	f.Add([]byte(`[{"keys":[]}]`))

	f.Fuzz(func(t *testing.T, doc []byte) {
		if len(doc) > 64<<10 {
			return
		}
		s, err := analyzeJWKS(doc)
		keys, skipped, perr := remote.ParseDocument(doc)
		if (err == nil) != (perr == nil) {
			t.Fatalf("analyzeJWKS: %v; ParseDocument: %v", err, perr)
		}
		if err != nil {
			return
		}
		if len(s.skipped) != len(skipped) {
			t.Fatalf("%d entries described as skipped, ParseDocument skips %d", len(s.skipped), len(skipped))
		}
		for i, sk := range skipped {
			if got := s.skipped[i]; got.Index != sk.Index || got.KeyID != sk.KeyID || got.Reason == "" || got.PowerSync == "" || got.Fix == "" {
				t.Fatalf("skipped entry %d described as %+v", sk.Index, got)
			}
		}
		for _, k := range keys {
			if got := s.keys[k.KeyID()]; got == nil || !got.Equal(k) {
				t.Fatalf("key %q of ParseDocument is not used", k.KeyID())
			}
		}
		if len(s.keys) > len(keys) {
			for kid, k := range s.keys {
				if slices.ContainsFunc(keys, func(pk *jwks.Key) bool { return pk.KeyID() == kid }) {
					continue
				}
				if k.CanSign() || !slices.ContainsFunc(skipped, func(sk remote.SkippedKey) bool {
					return sk.KeyID == kid && errors.Is(sk.Err, remote.ErrPrivateKey)
				}) {
					t.Fatalf("key %q is used, and is no public half of an entry with private members", kid)
				}
			}
		}
		if len(s.kids) != len(s.keys) || !slices.IsSorted(s.kids) {
			t.Fatalf("kids %q of %d keys", s.kids, len(s.keys))
		}
		for _, kid := range s.kids {
			if _, err := s.LookupKey(context.Background(), kid); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := json.Marshal(s.skipped); err != nil {
			t.Fatal(fmt.Errorf("the report of the skipped entries: %w", err))
		}
	})
}

// TestJWKSTooManyEntries: a JWKS of more than remote.MaxDocumentEntries
// entries is refused as package remote refuses it (exit status 2), saying
// that PowerSync reads it; one of exactly that many is read.
func TestJWKSTooManyEntries(t *testing.T) {
	t.Parallel()
	es := testKey(t, jwks.ES256, "key-es")
	tok := sign(t, es, testAudience)
	entries := []any{es}
	for range remote.MaxDocumentEntries - 1 {
		entries = append(entries, 1)
	}
	r := runCheck(t, time.Time{}, "", "check", "-jwks", jwksFile(t, document(t, entries...)), "-audience", testAudience, tok)
	require.Equal(t, exitAccepted, r.code, "%s", r.stderr)

	r = runCheck(t, time.Time{}, "", "check", "-jwks", jwksFile(t, document(t, append(entries, 1)...)), "-audience", testAudience, tok)
	require.Equal(t, exitUsage, r.code, "%s", r.stdout)
	assert.Contains(t, r.stderr, fmt.Sprintf(`over %d entries`, remote.MaxDocumentEntries))
	assert.Contains(t, r.stderr, "PowerSync reads it")
}
