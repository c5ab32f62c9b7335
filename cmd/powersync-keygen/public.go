package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"

	"github.com/powersync-jwks/jwks"
)

// publicFormats are the formats that print only public information, of the
// key given with -key: PowerSync's own configuration.
var publicFormats = []string{"jwks", "powersync-yaml"}

func isPublicFormat(f string) bool { return slices.Contains(publicFormats, f) }

// checkPublicFlags checks the flags that go with a public format: -key, and
// none of the flags that make or write a new key.
func checkPublicFlags(cfg *config, set map[string]bool) error {
	if !isPublicFormat(cfg.format) {
		if set["key"] {
			return usagef("-key is for -format %s; to re-encode a key, use '%s convert'", publicFormatList(), program)
		}
		return nil
	}
	if cfg.key == "" {
		return usagef("-format %s prints the public half of a key you have: give it with -key FILE (or -key - for standard input), such as the private JWK of '%s -format json -out key.json'", cfg.format, program)
	}
	for _, name := range []string{"alg", "kid", "bits", "out", "force"} {
		if set[name] {
			return usagef("-%s makes or writes a new key; -format %s describes the key of -key (redirect standard output to keep it)", name, cfg.format)
		}
	}
	return nil
}

func publicFormatList() string {
	return publicFormats[0] + " and " + publicFormats[1]
}

// maxKeyInput bounds a key file or standard input: the largest JWK of a
// 4096-bit RSA key is about 3.3 KB.
const maxKeyInput = 1 << 20

// readKey reads the key in the file path, or standard input for "-", in any
// form jwks.ParseKey reads, with opts. It returns the input too.
func readKey(path string, stdin io.Reader, opts ...jwks.KeyOption) (*jwks.Key, []byte, error) {
	var r io.Reader = stdin
	name := "standard input"
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return nil, nil, err
		}
		defer f.Close()
		r, name = f, path
	}
	data, err := io.ReadAll(io.LimitReader(r, maxKeyInput+1))
	if err != nil {
		return nil, nil, fmt.Errorf("reading %s: %w", name, err)
	}
	if len(data) > maxKeyInput {
		return nil, nil, fmt.Errorf("%s holds more than %d bytes: not a key", name, maxKeyInput)
	}
	key, err := jwks.ParseKey(data, opts...)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", name, err) // names the reason, never the key
	}
	return key, data, nil
}

// describe prints the public format cfg.format of the key of -key.
func describe(cfg *config, stdin io.Reader, stdout io.Writer) error {
	key, _, err := readKey(cfg.key, stdin)
	if err != nil {
		return err
	}
	var out []byte
	switch cfg.format {
	case "jwks":
		out, err = publicJWKS(key)
	case "powersync-yaml":
		out, err = powerSyncYAML(key)
	}
	if err != nil {
		return err
	}
	if _, err := stdout.Write(out); err != nil {
		return fmt.Errorf("writing the public key: %w", err)
	}
	return nil
}

// publicJWKS returns the JWKS document of key's public half, as
// jwks.NewJWKSHandler serves it, indented.
func publicJWKS(key *jwks.Key) ([]byte, error) {
	ks, err := jwks.NewKeySet(nil, key.PublicOnly())
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if err := json.Indent(&b, ks.JWKS(), "", "  "); err != nil {
		return nil, err
	}
	b.WriteByte('\n')
	return b.Bytes(), nil
}

// powerSyncYAML returns the client_auth section of a self-hosted PowerSync
// Service's configuration that verifies tokens with key's public half,
// inline (PowerSync's static JWKS: no JWKS URI to fetch), and an audience
// list to fill in.
func powerSyncYAML(key *jwks.Key) ([]byte, error) {
	pub, err := key.MarshalPublic(jwks.FormatJWK)
	if err != nil {
		return nil, err
	}
	members, err := orderedMembers(indentJWK(pub))
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "# PowerSync Service configuration (self-hosted): verify tokens with the public key\n")
	fmt.Fprintf(&b, "# %q (%s), made by %s, without fetching a JWKS URI.\n", key.KeyID(), key.Algorithm(), program)
	b.WriteString("client_auth:\n  jwks:\n    keys:\n")
	for i, m := range members {
		prefix := "        "
		if i == 0 {
			prefix = "      - "
		}
		// A JSON string is a YAML double-quoted scalar.
		fmt.Fprintf(&b, "%s%s: %s\n", prefix, m.name, m.value)
	}
	b.WriteString("  audience:\n")
	b.WriteString("    # Replace with the audience of your tokens, byte for byte: the URL given to\n")
	b.WriteString("    # jwks.NewSigner (POWERSYNC_URL), e.g. your PowerSync instance URL.\n")
	b.WriteString("    - \"https://powersync.example.com\"\n")
	return b.Bytes(), nil
}

// member is one member of a JSON object, its value as JSON.
type member struct {
	name  string
	value json.RawMessage
}

// orderedMembers returns the members of the JSON object data in their
// order in data.
func orderedMembers(data []byte) ([]member, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, fmt.Errorf("not a JSON object")
	}
	var out []member
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		name, _ := tok.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
		nameJSON, _ := json.Marshal(name)
		if string(nameJSON) == `"`+name+`"` {
			out = append(out, member{name, v})
		} else {
			out = append(out, member{string(nameJSON), v})
		}
	}
	return out, nil
}

// parseSubcommand parses the flags of a subcommand, with its usage text on
// stdout for -h, and returns its one optional argument, "-" when there is
// none.
func parseSubcommand(fs *flag.FlagSet, args []string, usage string, stdout io.Writer) (string, error) {
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			fs.SetOutput(stdout)
			fmt.Fprint(stdout, usage)
			fs.PrintDefaults()
		}
		return "", usageOrHelp(err)
	}
	switch fs.NArg() {
	case 0:
		return "-", nil
	case 1:
		return fs.Arg(0), nil
	}
	return "", usagef("unexpected argument %q: give one key file, or - for standard input", fs.Arg(1))
}
