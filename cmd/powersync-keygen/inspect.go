package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"flag"
	"fmt"
	"io"

	"github.com/powersync-jwks/jwks"
)

const inspectUsage = `Usage: powersync-keygen inspect [FILE|-]

Reads a key in any form (a JWK, a base64 JWK secret such as
POWERSYNC_PRIVATE_KEY, PEM), from FILE or standard input, and prints its key
ID, algorithm, type, RFC 7638 thumbprint, public JWK and public PEM. It never
prints private key material.
`

// runInspect is "powersync-keygen inspect".
func runInspect(args []string, stdin io.Reader, stdout io.Writer) error {
	fs := flag.NewFlagSet(program+" inspect", flag.ContinueOnError)
	path, err := parseSubcommand(fs, args, inspectUsage, stdout)
	if err != nil {
		return err
	}
	key, data, err := readKey(path, stdin)
	if err != nil {
		return err
	}
	out, err := inspect(key, namesAlgorithm(data, key))
	if err != nil {
		return err
	}
	if _, err := stdout.Write(out); err != nil {
		return fmt.Errorf("writing the description: %w", err)
	}
	return nil
}

// namesAlgorithm reports whether the input data of key names its algorithm.
// Only an RSA key can be read with more than one: ParseKey refuses an
// algorithm other than the one a JWK names, and a curve fixes its own.
func namesAlgorithm(data []byte, key *jwks.Key) bool {
	other := jwks.RS384
	if key.Algorithm() == jwks.RS384 {
		other = jwks.RS256
	}
	_, isRSA := key.Public().(*rsa.PublicKey)
	_, err := jwks.ParseKey(data, jwks.WithAlgorithm(other))
	return !isRSA || err != nil
}

// inspect describes key from its public half only. namedAlg says whether
// the input named the algorithm.
func inspect(key *jwks.Key, namedAlg bool) ([]byte, error) {
	pub := key.PublicOnly()
	jwk, err := pub.MarshalPublic(jwks.FormatJWK)
	if err != nil {
		return nil, err
	}
	pemText, err := pub.MarshalPublic(jwks.FormatPEM)
	if err != nil {
		return nil, err
	}
	// The thumbprint is the key ID ParseKey gives a key that names none.
	tk, err := jwks.ParseKey(jwk, jwks.WithThumbprintKeyID())
	if err != nil {
		return nil, err
	}
	thumbprint := tk.KeyID()

	var b bytes.Buffer
	kidNote := ""
	if key.KeyID() == thumbprint {
		kidNote = " (the key's thumbprint, as for an input that names no kid)"
	}
	fmt.Fprintf(&b, "kid:        %s%s\n", key.KeyID(), kidNote)
	algNote := ""
	if !namedAlg {
		algNote = " (the input names none: the default for RSA; 'convert -alg' sets another)"
	}
	fmt.Fprintf(&b, "alg:        %s%s\n", key.Algorithm(), algNote)
	fmt.Fprintf(&b, "key:        %s\n", keyType(pub))
	if key.CanSign() {
		fmt.Fprintf(&b, "private:    yes: the input holds the private key (not shown here); keep it secret\n")
	} else {
		fmt.Fprintf(&b, "private:    no: a public key, it only verifies\n")
	}
	fmt.Fprintf(&b, "thumbprint: %s (RFC 7638, SHA-256)\n", thumbprint)
	fmt.Fprintf(&b, "\npublic JWK:\n%s\n", indentJWK(jwk))
	fmt.Fprintf(&b, "\npublic PEM (it records neither the kid nor the alg):\n%s", pemText)
	return b.Bytes(), nil
}

// keyType names the type and size of a public key.
func keyType(k *jwks.Key) string {
	switch p := k.Public().(type) {
	case *rsa.PublicKey:
		return fmt.Sprintf("RSA %d bits", p.N.BitLen())
	case *ecdsa.PublicKey:
		return "EC " + p.Curve.Params().Name
	case ed25519.PublicKey:
		return "OKP Ed25519"
	}
	return fmt.Sprintf("%T", k.Public())
}
