package jwks

import (
	"bytes"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"strconv"

	"github.com/lestrrat-go/jwx/v2/jwk"
)

// KeyFormat is an encoding of a key for [Key.MarshalPublic] and
// [Key.MarshalPrivate]. [ParseKey] reads each of them back.
type KeyFormat int

// The encodings of a key.
const (
	// FormatJWK is the JSON of a JWK with "kid", "alg" and "use": "sig".
	FormatJWK KeyFormat = iota + 1
	// FormatSecret is standard base64, with padding, of the JWK JSON, as
	// the PowerSync Edge Functions example prints its POWERSYNC_PRIVATE_KEY
	// and POWERSYNC_PUBLIC_KEY secrets: the base64 JWK secret format.
	FormatSecret
	// FormatPEM is PEM: PKCS#8 "PRIVATE KEY" or PKIX "PUBLIC KEY". It
	// carries neither the key ID nor the algorithm.
	FormatPEM
)

// String returns the format's name: jwk, secret or pem.
func (f KeyFormat) String() string {
	switch f {
	case FormatJWK:
		return "jwk"
	case FormatSecret:
		return "secret"
	case FormatPEM:
		return "pem"
	}
	return "KeyFormat(" + strconv.Itoa(int(f)) + ")"
}

// MarshalPublic encodes the public half of the key. The JWK carries "kty",
// "kid", "alg", "use": "sig" and the public members only: it is what a
// [KeySet] publishes.
func (k *Key) MarshalPublic(f KeyFormat) ([]byte, error) {
	switch f {
	case FormatJWK:
		return bytes.Clone(k.jwk), nil
	case FormatSecret:
		return base64.StdEncoding.AppendEncode(nil, k.jwk), nil
	case FormatPEM:
		der, err := x509.MarshalPKIXPublicKey(k.public)
		if err != nil {
			return nil, fmt.Errorf("%w: %s public key cannot be encoded as PEM", ErrInvalidKey, k.spec.alg)
		}
		return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
	}
	return nil, fmt.Errorf("%w: unknown %v", ErrKeyFormat, f)
}

// MarshalPrivate encodes the private half of the key, for storing it. It is
// the only way key material leaves a [Key]; handle its result as a secret.
// A public key, or an external key (see [NewExternalKey]) whose private
// half is not in the process, returns an error wrapping [ErrPublicKey].
func (k *Key) MarshalPrivate(f KeyFormat) ([]byte, error) {
	if k.signer == nil {
		return nil, fmt.Errorf("%w: key %s has no private half", ErrPublicKey, k.kid)
	}
	if k.external {
		return nil, fmt.Errorf("%w: key %s is external; its private half is not in this process", ErrPublicKey, k.kid)
	}
	switch f {
	case FormatJWK, FormatSecret:
		pk, err := jwk.FromRaw(k.signer)
		if err != nil {
			return nil, fmt.Errorf("%w: %s private key cannot be encoded as a JWK", ErrInvalidKey, k.spec.alg)
		}
		out, err := marshalJWK(pk, k.kid, k.spec.alg)
		if err != nil || f == FormatJWK {
			return out, err
		}
		return base64.StdEncoding.AppendEncode(nil, out), nil
	case FormatPEM:
		der, err := x509.MarshalPKCS8PrivateKey(k.signer)
		if err != nil {
			return nil, fmt.Errorf("%w: %s private key cannot be encoded as PEM", ErrInvalidKey, k.spec.alg)
		}
		return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
	}
	return nil, fmt.Errorf("%w: unknown %v", ErrKeyFormat, f)
}

// marshalJWK adds the key ID, algorithm and use to a jwx key and encodes it.
func marshalJWK(k jwk.Key, kid string, alg Algorithm) ([]byte, error) {
	for name, value := range map[string]any{jwk.KeyIDKey: kid, jwk.AlgorithmKey: string(alg), jwk.KeyUsageKey: "sig"} {
		if err := k.Set(name, value); err != nil {
			return nil, fmt.Errorf("%w: setting JWK %s", ErrInvalidKey, name)
		}
	}
	out, err := json.Marshal(k)
	if err != nil {
		return nil, fmt.Errorf("%w: %s key cannot be encoded as a JWK", ErrInvalidKey, alg)
	}
	return out, nil
}
