package main

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"maps"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/powersync-jwks/jwks"
)

// testAudience is the PowerSync instance the tokens are for.
const testAudience = "https://abc123.powersync.journeyapps.com"

// result is what one run of the command did.
type result struct {
	stdout, stderr string
	code           int
}

// runCheck runs the command in-process, with the clock at now (the real
// clock when zero) and stdin as standard input.
func runCheck(t testing.TB, now time.Time, stdin string, args ...string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	clock := time.Now
	if !now.IsZero() {
		clock = func() time.Time { return now }
	}
	c := &command{stdin: strings.NewReader(stdin), stdout: &stdout, stderr: &stderr, now: clock, client: http.DefaultTransport}
	code := c.run(args)
	return result{stdout: stdout.String(), stderr: stderr.String(), code: code}
}

// checkJSON runs "check -json" and decodes its report.
func checkJSON(t testing.TB, now time.Time, args ...string) (jsonReport, result) {
	t.Helper()
	r := runCheck(t, now, "", append([]string{"check", "-json"}, args...)...)
	require.Contains(t, []int{exitAccepted, exitRefused}, r.code, "stderr: %s", r.stderr)
	var rep jsonReport
	d := json.NewDecoder(strings.NewReader(r.stdout))
	d.DisallowUnknownFields()
	require.NoError(t, d.Decode(&rep), "the -json schema:\n%s", r.stdout)
	return rep, r
}

// jsonReport is the -json schema, decoded strictly.
type jsonReport struct {
	OK       *bool `json:"ok"`
	Problems []struct {
		Code   string `json:"code"`
		Rule   string `json:"rule"`
		Detail string `json:"detail"`
		Fix    string `json:"fix"`
	} `json:"problems"`
	Header map[string]any `json:"header"`
	Claims map[string]any `json:"claims"`
	JWKS   *struct {
		Kids    []string `json:"kids"`
		Skipped []struct {
			Index     int    `json:"index"`
			KeyID     string `json:"kid"`
			Reason    string `json:"reason"`
			PowerSync string `json:"powersync"`
			Fix       string `json:"fix"`
			Warning   bool   `json:"warning"`
		} `json:"skipped"`
		Notes []string `json:"notes"`
	} `json:"jwks"`
}

// codes returns the codes of the report's problems.
func (r jsonReport) codes() []string {
	var out []string
	for _, p := range r.Problems {
		out = append(out, p.Code)
	}
	return out
}

// rules returns the rules of the report's problems.
func (r jsonReport) rules() []string {
	var out []string
	for _, p := range r.Problems {
		out = append(out, p.Rule)
	}
	return out
}

var testKeys sync.Map // "alg/kid" → *jwks.Key

// testKey returns a cached signing key.
func testKey(t testing.TB, alg jwks.Algorithm, kid string) *jwks.Key {
	t.Helper()
	if k, ok := testKeys.Load(string(alg) + "/" + kid); ok {
		return k.(*jwks.Key)
	}
	k, err := jwks.GenerateKey(alg, jwks.WithKeyID(kid))
	require.NoError(t, err)
	actual, _ := testKeys.LoadOrStore(string(alg)+"/"+kid, k)
	return actual.(*jwks.Key)
}

// publicJWK returns the public JWK of k as a map.
func publicJWK(t testing.TB, k *jwks.Key) map[string]any {
	t.Helper()
	b, err := k.MarshalPublic(jwks.FormatJWK)
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(b, &m))
	return m
}

// document returns a JWKS of the entries: keys (their public JWK) or maps.
func document(t testing.TB, entries ...any) []byte {
	t.Helper()
	var list []any
	for _, e := range entries {
		if k, ok := e.(*jwks.Key); ok {
			e = publicJWK(t, k)
		}
		list = append(list, e)
	}
	b, err := json.Marshal(map[string]any{"keys": list})
	require.NoError(t, err)
	return b
}

// serveJWKS serves doc on a loopback server and returns its URL.
func serveJWKS(t testing.TB, doc []byte) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(doc)
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/.well-known/jwks.json"
}

// jwksFile writes doc to a file and returns its path.
func jwksFile(t testing.TB, doc []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "jwks.json")
	require.NoError(t, os.WriteFile(path, doc, 0o600))
	return path
}

// sign mints a token with the library's Signer.
func sign(t testing.TB, key *jwks.Key, audience string, opts ...jwks.SignerOption) string {
	t.Helper()
	ks, err := jwks.NewKeySet(key)
	require.NoError(t, err)
	s, err := jwks.NewSigner(ks, audience, opts...)
	require.NoError(t, err)
	tok, err := s.Sign(context.Background(), "user-1")
	require.NoError(t, err)
	return tok.Raw
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func toJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return b
}

// claimsAt returns claims PowerSync accepts at now, changed by changes (a
// nil value removes a claim).
func claimsAt(now time.Time, changes map[string]any) map[string]any {
	c := map[string]any{"sub": "user-1", "aud": testAudience, "iat": now.Unix() - 10, "exp": now.Unix() + 290}
	for name, v := range changes {
		if v == nil {
			delete(c, name)
		} else {
			c[name] = v
		}
	}
	return c
}

// forge makes a token by hand with any header and claims, signed with key
// by the standard library. A header without "alg" or "kid" gets the key's;
// a nil value removes a member.
func forge(t testing.TB, key *jwks.Key, header, claims map[string]any) string {
	t.Helper()
	h := map[string]any{"alg": string(key.Algorithm()), "kid": key.KeyID(), "typ": "JWT"}
	maps.Copy(h, header)
	for name, v := range h {
		if v == nil {
			delete(h, name)
		}
	}
	return forgeRaw(t, key, toJSON(t, h), toJSON(t, claims))
}

// forgeRaw signs the header and claims given as bytes.
func forgeRaw(t testing.TB, key *jwks.Key, header, claims []byte) string {
	t.Helper()
	input := b64(header) + "." + b64(claims)
	return input + "." + b64(signature(t, key, []byte(input)))
}

// signature signs input with key's algorithm, as a JWS does (R‖S for ECDSA).
func signature(t testing.TB, key *jwks.Key, input []byte) []byte {
	t.Helper()
	der, err := key.MarshalPrivate(jwks.FormatPEM)
	require.NoError(t, err)
	block, _ := pem.Decode(der)
	require.NotNil(t, block)
	priv, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	require.NoError(t, err)
	hash := map[string]crypto.Hash{"256": crypto.SHA256, "384": crypto.SHA384, "512": crypto.SHA512}[string(key.Algorithm())[2:]]
	switch p := priv.(type) {
	case ed25519.PrivateKey:
		return ed25519.Sign(p, input)
	case *rsa.PrivateKey:
		h := hash.New()
		h.Write(input)
		sig, err := rsa.SignPKCS1v15(rand.Reader, p, hash, h.Sum(nil))
		require.NoError(t, err)
		return sig
	case *ecdsa.PrivateKey:
		h := hash.New()
		h.Write(input)
		r, s, err := ecdsa.Sign(rand.Reader, p, h.Sum(nil))
		require.NoError(t, err)
		size := (p.Curve.Params().BitSize + 7) / 8
		return append(fixed(r, size), fixed(s, size)...)
	}
	t.Fatalf("unexpected private key %T", priv)
	return nil
}

func fixed(n *big.Int, size int) []byte {
	b := make([]byte, size)
	return n.FillBytes(b)
}

// derSignature signs input with an ECDSA key as crypto.Signer would: ASN.1.
func derSignature(t testing.TB, key *jwks.Key, input []byte) []byte {
	t.Helper()
	der, err := key.MarshalPrivate(jwks.FormatPEM)
	require.NoError(t, err)
	block, _ := pem.Decode(der)
	priv, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	require.NoError(t, err)
	h := crypto.SHA256.New()
	h.Write(input)
	sig, err := ecdsa.SignASN1(rand.Reader, priv.(*ecdsa.PrivateKey), h.Sum(nil))
	require.NoError(t, err)
	return sig
}
