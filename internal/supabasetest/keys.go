package supabasetest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"slices"
	"strings"
)

// Algorithm is a JWS algorithm a Supabase project signs access tokens with.
type Algorithm string

// The algorithms Supabase Auth signs with.
const (
	// ES256 is ECDSA with P-256 and SHA-256: the default of the asymmetric
	// JWT signing keys of new Supabase projects.
	ES256 Algorithm = "ES256"
	// RS256 is RSASSA-PKCS1-v1_5 with SHA-256, offered as an alternative
	// asymmetric signing key.
	RS256 Algorithm = "RS256"
	// HS256 is HMAC with SHA-256 keyed with the project's legacy JWT
	// secret. It is never published in the JWKS.
	HS256 Algorithm = "HS256"
)

// rsaBits is the size of the RSA keys the server makes, as Supabase's.
const rsaBits = 2048

// signingKey is one asymmetric key of the project. It is immutable.
type signingKey struct {
	kid    string
	alg    Algorithm
	signer crypto.Signer
	jwk    json.RawMessage // the public JWK as the JWKS publishes it
}

// publicJWK is a public key as Supabase's JWKS shows it: its members in
// lexical order, "ext": true as the Web Crypto export Supabase uses adds it,
// the verify operation only, and no private member.
type publicJWK struct {
	Alg    Algorithm `json:"alg"`
	Crv    string    `json:"crv,omitempty"`
	E      string    `json:"e,omitempty"`
	Ext    bool      `json:"ext"`
	KeyOps []string  `json:"key_ops"`
	KID    string    `json:"kid"`
	Kty    string    `json:"kty"`
	N      string    `json:"n,omitempty"`
	Use    string    `json:"use"`
	X      string    `json:"x,omitempty"`
	Y      string    `json:"y,omitempty"`
}

// newSigningKey makes a key of alg with a UUID key ID, as hosted projects
// name their keys.
func newSigningKey(alg Algorithm) (*signingKey, error) {
	k := &signingKey{kid: newUUID(), alg: alg}
	pub := publicJWK{Alg: alg, Ext: true, KeyOps: []string{"verify"}, KID: k.kid, Use: "sig"}
	b64 := base64.RawURLEncoding.EncodeToString
	switch alg {
	case ES256:
		priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("supabasetest: generate ES256 key: %w", err)
		}
		ecdhPub, err := priv.PublicKey.ECDH()
		if err != nil {
			return nil, fmt.Errorf("supabasetest: encode ES256 key: %w", err)
		}
		point := ecdhPub.Bytes() // 0x04 || X || Y, each 32 bytes
		k.signer = priv
		pub.Kty, pub.Crv, pub.X, pub.Y = "EC", "P-256", b64(point[1:33]), b64(point[33:])
	case RS256:
		priv, err := rsa.GenerateKey(rand.Reader, rsaBits)
		if err != nil {
			return nil, fmt.Errorf("supabasetest: generate RS256 key: %w", err)
		}
		k.signer = priv
		pub.Kty = "RSA"
		pub.N = b64(priv.PublicKey.N.Bytes())
		pub.E = b64(big.NewInt(int64(priv.PublicKey.E)).Bytes())
	default:
		return nil, fmt.Errorf("supabasetest: %q is not an asymmetric algorithm (want ES256 or RS256)", alg)
	}
	doc, err := json.Marshal(pub)
	if err != nil {
		return nil, fmt.Errorf("supabasetest: encode JWK: %w", err)
	}
	k.jwk = doc
	return k, nil
}

// keyring is one immutable state of the project's asymmetric keys, with the
// JWKS document built from it.
type keyring struct {
	current  *signingKey   // signs new tokens; nil for a legacy (HS256) project
	standby  []*signingKey // published ahead of use, next to become current
	previous []*signingKey // used before, still published, newest first
	byKID    map[string]*signingKey
	doc      []byte // {"keys":[…]}: current, standby, previous
	etag     string // strong ETag of doc, quoted
}

// newKeyring builds a keyring and its document.
func newKeyring(current *signingKey, standby, previous []*signingKey) *keyring {
	kr := &keyring{
		current:  current,
		standby:  standby,
		previous: previous,
		byKID:    make(map[string]*signingKey),
	}
	var all []*signingKey
	if current != nil {
		all = append(all, current)
	}
	all = append(all, standby...)
	all = append(all, previous...)
	parts := make([]string, 0, len(all))
	for _, k := range all {
		kr.byKID[k.kid] = k
		parts = append(parts, string(k.jwk))
	}
	kr.doc = []byte(`{"keys":[` + strings.Join(parts, ",") + `]}`)
	sum := sha256.Sum256(kr.doc)
	kr.etag = `"` + base64.RawURLEncoding.EncodeToString(sum[:16]) + `"`
	return kr
}

// keyOf returns the published key that signs alg tokens by default: the
// current key when it has that algorithm, else a standby or previous one.
func (kr *keyring) keyOf(alg Algorithm) *signingKey {
	if kr.current != nil && kr.current.alg == alg {
		return kr.current
	}
	for _, k := range slices.Concat(kr.standby, kr.previous) {
		if k.alg == alg {
			return k
		}
	}
	return nil
}

// CurrentKeyID returns the key ID of the key that signs new tokens, or ""
// for a legacy project, whose tokens are signed with the HS256 secret.
func (s *Server) CurrentKeyID() string {
	if k := s.keys.Load().current; k != nil {
		return k.kid
	}
	return ""
}

// PublishedKeyIDs returns the key IDs of the JWKS document, in its order:
// the current key, then standby keys, then previously used keys.
func (s *Server) PublishedKeyIDs() []string {
	kr := s.keys.Load()
	ids := make([]string, 0, len(kr.byKID))
	if kr.current != nil {
		ids = append(ids, kr.current.kid)
	}
	for _, k := range slices.Concat(kr.standby, kr.previous) {
		ids = append(ids, k.kid)
	}
	return ids
}

// AddStandbyKey makes a key of alg (ES256 or RS256) and publishes it as a
// standby key: in the JWKS, signing nothing yet, and the next to become
// current on RotateKeys. It returns the new key's ID.
func (s *Server) AddStandbyKey(alg Algorithm) string {
	s.t.Helper()
	k, err := newSigningKey(alg)
	if err != nil {
		s.t.Fatalf("%v", err)
		return ""
	}
	s.keyMu.Lock()
	defer s.keyMu.Unlock()
	kr := s.keys.Load()
	s.keys.Store(newKeyring(kr.current, append(slices.Clone(kr.standby), k), kr.previous))
	return k.kid
}

// RotateKeys makes the oldest standby key current (or, with no standby
// key, a new key of the current key's algorithm, ES256 for a legacy
// project) and keeps the old current key published as previously used, as
// Supabase's "Rotate keys" does. Tokens signed before stay valid until their
// key is revoked. It returns the new current key's ID.
func (s *Server) RotateKeys() string {
	s.t.Helper()
	s.keyMu.Lock()
	defer s.keyMu.Unlock()
	kr := s.keys.Load()
	standby := slices.Clone(kr.standby)
	var next *signingKey
	if len(standby) > 0 {
		next, standby = standby[0], standby[1:]
	} else {
		alg := ES256
		if kr.current != nil {
			alg = kr.current.alg
		}
		k, err := newSigningKey(alg)
		if err != nil {
			s.t.Fatalf("%v", err)
			return ""
		}
		next = k
	}
	previous := slices.Clone(kr.previous)
	if kr.current != nil {
		previous = append([]*signingKey{kr.current}, previous...)
	}
	s.keys.Store(newKeyring(next, standby, previous))
	return next.kid
}

// RevokeKey removes a standby or previously used key from the JWKS: tokens
// it signed stop verifying, here and for any verifier that refetches the
// document. Like Supabase, it refuses to revoke the current key (rotate
// first); an unknown key ID fails the test.
func (s *Server) RevokeKey(kid string) {
	s.t.Helper()
	s.keyMu.Lock()
	defer s.keyMu.Unlock()
	kr := s.keys.Load()
	switch {
	case kr.current != nil && kr.current.kid == kid:
		s.t.Fatalf("supabasetest: RevokeKey(%q): the current key cannot be revoked; RotateKeys first", kid)
		return
	case kr.byKID[kid] == nil:
		s.t.Fatalf("supabasetest: RevokeKey(%q): no such published key", kid)
		return
	}
	other := func(k *signingKey) bool { return k.kid == kid }
	s.keys.Store(newKeyring(kr.current,
		slices.DeleteFunc(slices.Clone(kr.standby), other),
		slices.DeleteFunc(slices.Clone(kr.previous), other)))
}

// serveJWKS answers GET /auth/v1/.well-known/jwks.json as GoTrue does:
// the public keys, Content-Type: application/json and Cache-Control:
// public, max-age=600. With WithJWKSETag it also sends a strong ETag and
// answers a matching If-None-Match with 304 Not Modified.
func (s *Server) serveJWKS(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeJSON(w, http.StatusMethodNotAllowed, gotrueError{
			Code: http.StatusMethodNotAllowed, ErrorCode: "method_not_allowed", Msg: "Method Not Allowed",
		})
		return
	}
	kr := s.keys.Load()
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "public, max-age=600")
	if s.cfg.jwksETag {
		h.Set("ETag", kr.etag)
		if noneMatch(r.Header.Values("If-None-Match"), kr.etag) {
			w.WriteHeader(http.StatusNotModified)
			return
		}
	}
	_, _ = w.Write(kr.doc)
}

// noneMatch reports whether an If-None-Match header lists etag (or "*"),
// comparing weakly as RFC 9110 asks for GET.
func noneMatch(values []string, etag string) bool {
	for _, v := range values {
		for tag := range strings.SplitSeq(v, ",") {
			tag = strings.TrimPrefix(strings.TrimSpace(tag), "W/")
			if tag == "*" || tag == etag {
				return true
			}
		}
	}
	return false
}
