package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"

	"github.com/powersync-jwks/jwks"
	"github.com/powersync-jwks/jwks/internal/quote"
	"github.com/powersync-jwks/jwks/remote"
)

// maxJWKSSize is the largest JWKS document read: the default of package
// remote.
const maxJWKSSize = 1 << 20

// readJWKS reads the JWKS document at src: an http or https URL, fetched
// once without following redirects, or a file.
func (c *command) readJWKS(ctx context.Context, src string) ([]byte, error) {
	if !strings.HasPrefix(src, "http://") && !strings.HasPrefix(src, "https://") {
		f, err := os.Open(src)
		if err != nil {
			return nil, fmt.Errorf("-jwks: %w", err)
		}
		defer f.Close()
		return readBounded(f, src)
	}

	req, err := http.NewRequestWithContext(ctx, http.MethodGet, src, nil)
	if err != nil {
		return nil, fmt.Errorf("-jwks: %w", err)
	}
	req.Header.Set("Accept", "application/json") // as PowerSync asks
	client := &http.Client{
		Transport: c.client,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetching the JWKS: %w", err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		return nil, fmt.Errorf("the JWKS URL %s answers %s, a redirect to %q: give PowerSync (and -jwks) the URL the keys are at", src, resp.Status, resp.Header.Get("Location"))
	case resp.StatusCode < 200 || resp.StatusCode > 299:
		return nil, fmt.Errorf("the JWKS URL %s answers %s: PowerSync needs a 2xx response with the keys", src, resp.Status)
	}
	return readBounded(resp.Body, src)
}

// readBounded reads r whole, refusing more than maxJWKSSize bytes.
func readBounded(r io.Reader, src string) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxJWKSSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading the JWKS at %s: %w", src, err)
	}
	if len(b) > maxJWKSSize {
		return nil, fmt.Errorf("the JWKS at %s is over %d bytes", src, maxJWKSSize)
	}
	return b, nil
}

// keySet is the keys of the JWKS that PowerSync would use, as a
// jwks.KeySource, with what the report says of the others.
type keySet struct {
	keys    map[string]*jwks.Key
	kids    []string     // of keys, sorted
	skipped []skippedKey // entries PowerSync or the library would not use
	notes   []string     // about keys that are used
	// problems are those of the JWKS that make PowerSync refuse every
	// token: a key it cannot import fails its whole refresh.
	problems []problem
	dropped  map[string]string // kid → why the entry of that kid is not used
}

// skippedKey is an entry of the JWKS that is not used as it is, as the
// report shows it.
type skippedKey struct {
	Index     int    `json:"index"`
	KeyID     string `json:"kid"`
	Reason    string `json:"reason"`    // the library's
	PowerSync string `json:"powersync"` // what PowerSync does with it
	Fix       string `json:"fix"`
	Warning   bool   `json:"warning"` // it publishes private key material
}

// LookupKey implements jwks.KeySource.
func (s *keySet) LookupKey(_ context.Context, kid string) (*jwks.Key, error) {
	if k, ok := s.keys[kid]; ok {
		return k, nil
	}
	return nil, fmt.Errorf("%w: %q", jwks.ErrUnknownKey, kid)
}

// members returns the members of a JWKS entry by their exact names, as
// PowerSync reads them (a struct would take "KTY" for "kty"), or nil when
// the entry is not a JSON object.
func members(raw json.RawMessage) map[string]json.RawMessage {
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil {
		return nil
	}
	return m
}

// stringMember returns the member name of m when it is a string, and
// whether it is.
func stringMember(m map[string]json.RawMessage, name string) (string, bool) {
	var s *string
	if json.Unmarshal(m[name], &s) != nil || s == nil {
		return "", false
	}
	return *s, true
}

// analyzeJWKS reads doc with remote.ReadDocument, as a remote.KeySet
// would, and as PowerSync would: a key that publishes its private half is
// still used by PowerSync (with a warning here). The document is read once:
// every entry the report describes is one remote read.
func analyzeJWKS(doc []byte) (*keySet, error) {
	entries, err := remote.ReadDocument(doc)
	if err != nil {
		return nil, err
	}

	s := &keySet{keys: make(map[string]*jwks.Key), dropped: make(map[string]string)}
	for _, e := range entries {
		if e.Err == nil {
			s.keys[e.Key.KeyID()] = e.Key
		}
	}
	for i, sk := range entries {
		if sk.Err == nil {
			continue
		}
		kty, _ := stringMember(members(sk.JSON), "kty")
		out := skippedKey{Index: i, KeyID: sk.KeyID, Reason: strings.TrimPrefix(sk.Err.Error(), "remote: ")}
		switch {
		case errors.Is(sk.Err, remote.ErrPrivateKey):
			out.Warning = true
			out.PowerSync = "WARNING: the JWKS publishes private key material: anyone who reads it can sign tokens PowerSync accepts"
			out.Fix = "take the key as compromised: publish a new key (public members only: kty, kid, alg, use and n, e or crv, x, y), sign with it, and remove this one"
			if kty == "oct" {
				out.PowerSync += "; PowerSync skips oct keys of a JWKS URI (HS256 secrets belong in PowerSync's own configuration)"
			} else if k := publicHalf(sk.JSON); k != nil {
				// PowerSync does not refuse private members: it uses the key.
				s.keys[k.KeyID()] = k
				out.PowerSync += "; PowerSync still uses the key"
			}
		case errors.Is(sk.Err, remote.ErrNotForVerifying):
			out.PowerSync = "PowerSync drops this key without a word: tokens it signed are refused with PSYNC_S2101 (unknown kid)"
			out.Fix = `publish the key with "use": "sig" and no "key_ops" (or "key_ops": ["verify"])`
		case errors.Is(sk.Err, remote.ErrNoKeyID):
			out.PowerSync = `no token can name this key: PowerSync uses only the key whose "kid" is the token's`
			out.Fix = `give the key a "kid", and sign tokens with that kid in their header`
		case errors.Is(sk.Err, jwks.ErrDuplicateKeyID):
			out.PowerSync = "PowerSync tries only the first key with this kid; this library's verifiers use neither"
			out.Fix = "give each key a kid of its own"
		case kty != "RSA" && kty != "EC" && kty != "OKP":
			out.PowerSync = "PowerSync skips keys whose kty is not RSA, EC or OKP"
			out.Fix = "publish RSA, EC or OKP (Ed25519) public keys"
		case errors.Is(sk.Err, jwks.ErrKeyFormat):
			out.PowerSync = "PowerSync cannot import this key, and one key it cannot import fails its whole JWKS refresh: then every token is refused"
			out.Fix = "remove or repair the key: validate every key before publishing it (jwks.ParseKey, remote.ParseDocument)"
			s.problems = append(s.problems, problem{
				Code:   codeS2101,
				Rule:   "JWKS key PowerSync cannot import",
				Detail: fmt.Sprintf("key %d of the JWKS (kid %s): %s. %s", i, quote.Value(sk.KeyID), out.Reason, out.PowerSync),
				Fix:    out.Fix,
			})
		default:
			out.PowerSync = "PowerSync may import this key, but cannot verify tokens with it (or may fail to import it, which fails its whole JWKS refresh)"
			out.Fix = "publish a key of one of RS256, RS384, RS512 (2048 bits or more), ES256, ES384, ES512 or EdDSA, whose curve matches its alg"
		}
		if sk.KeyID != "" {
			if _, used := s.keys[sk.KeyID]; !used {
				s.dropped[sk.KeyID] = out.Reason
			}
		}
		s.skipped = append(s.skipped, out)
	}
	for kid := range s.keys {
		s.kids = append(s.kids, kid)
	}
	slices.Sort(s.kids)
	for i, e := range entries {
		if _, hasAlg := stringMember(members(e.JSON), "alg"); !hasAlg && e.KeyID != "" && s.keys[e.KeyID] != nil {
			s.notes = append(s.notes, fmt.Sprintf(`key %d (kid %s) has no "alg": PowerSync then accepts any algorithm of its key type, and this library's verifiers take %s; set "alg"`,
				i, quote.Value(e.KeyID), s.keys[e.KeyID].Algorithm()))
		}
	}
	return s, nil
}

// publicHalf returns the public key of a JWKS entry that carries private
// members, as PowerSync would use it, or nil if the entry is of no use
// without them either. It is read by remote.ParseDocument like any entry.
func publicHalf(raw json.RawMessage) *jwks.Key {
	var members map[string]json.RawMessage
	if json.Unmarshal(raw, &members) != nil {
		return nil
	}
	for _, name := range []string{"d", "p", "q", "dp", "dq", "qi", "oth"} {
		delete(members, name)
	}
	entry, err := json.Marshal(members)
	if err != nil {
		return nil
	}
	keys, _, err := remote.ParseDocument(append(append([]byte(`{"keys":[`), entry...), "]}"...))
	if err != nil || len(keys) != 1 {
		return nil
	}
	return keys[0]
}
