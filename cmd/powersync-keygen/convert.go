package main

import (
	"flag"
	"fmt"
	"io"

	"github.com/powersync-jwks/jwks"
)

const convertUsage = `Usage: powersync-keygen convert -to jwk|secret|pem [-public] [-kid ID] [-alg ALG] [FILE|-]

Reads a key in any form (a JWK, a base64 JWK secret such as
POWERSYNC_PRIVATE_KEY, PEM), from FILE or standard input, and prints it in
another: jwk (JWK JSON), secret (standard base64 of the JWK JSON, the form of
POWERSYNC_PRIVATE_KEY and POWERSYNC_PUBLIC_KEY) or pem (PKCS#8, or PKIX for a
public key). A private key stays private unless -public is given. The kid and
alg are kept where the target holds them (jwk, secret); PEM holds neither,
and standard error says what to load it with.

Flags:
`

// runConvert is "powersync-keygen convert".
func runConvert(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet(program+" convert", flag.ContinueOnError)
	to := fs.String("to", "", "the `form` to print: jwk, secret or pem")
	public := fs.Bool("public", false, "print the public half only")
	kid := fs.String("kid", "", "the key `ID`, for an input without one (PEM) or to change it (default: the input's, else its thumbprint)")
	alg := fs.String("alg", "", "the `algorithm`, for an input without one (PEM; default: RS256 for RSA, the curve's for EC and Ed25519)")
	path, err := parseSubcommand(fs, args, convertUsage, stdout)
	if err != nil {
		return err
	}
	format, ok := map[string]jwks.KeyFormat{"jwk": jwks.FormatJWK, "secret": jwks.FormatSecret, "pem": jwks.FormatPEM}[*to]
	if !ok {
		return usagef("-to %q: use jwk, secret or pem", *to)
	}
	var opts []jwks.KeyOption
	if *kid != "" {
		opts = append(opts, jwks.WithKeyID(*kid))
	}
	if *alg != "" {
		a, ok := lookupAlgorithm(*alg)
		if !ok {
			return usagef("unsupported -alg %q: use one of %s", *alg, algorithmList())
		}
		opts = append(opts, jwks.WithAlgorithm(a))
	}
	key, _, err := readKey(path, stdin, opts...)
	if err != nil {
		return err
	}

	var out []byte
	if key.CanSign() && !*public {
		out, err = key.MarshalPrivate(format)
	} else {
		out, err = key.MarshalPublic(format)
	}
	if err != nil {
		return err
	}
	switch format {
	case jwks.FormatJWK:
		out = append(indentJWK(out), '\n')
	case jwks.FormatSecret:
		out = append(out, '\n')
	}
	if _, err := stdout.Write(out); err != nil {
		return fmt.Errorf("writing the key: %w", err)
	}
	if format == jwks.FormatPEM {
		fmt.Fprintf(stderr, "%s: PEM records neither the key ID nor the algorithm: load it with key ID %q and algorithm %s.\n", program, key.KeyID(), key.Algorithm())
	}
	return nil
}
