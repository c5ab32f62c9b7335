package remote_test

import (
	"errors"
	"fmt"
	"log"

	"github.com/powersync-jwks/jwks"
	"github.com/powersync-jwks/jwks/remote"
)

// Check a JWKS document before publishing it: which keys a KeySet (and
// PowerSync) would use, and why the others are skipped.
func ExampleParseDocument() {
	key, _ := jwks.GenerateKey(jwks.ES256, jwks.WithKeyID("key-1"))
	ks, _ := jwks.NewKeySet(key)
	doc := ks.JWKS()
	// A document that also holds a key for signing only.
	doc = append(doc[:len(doc)-2], `,{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","kid":"key-2","key_ops":["sign"]}]}`...)

	keys, skipped, err := remote.ParseDocument(doc)
	if err != nil {
		log.Fatal(err) // not {"keys": […]}: a KeySet would keep its last good set
	}
	for _, k := range keys {
		fmt.Println("used:", k.KeyID(), k.Algorithm())
	}
	for _, s := range skipped {
		fmt.Println("skipped:", s.KeyID, errors.Is(s.Err, remote.ErrNotForVerifying))
	}
	// Output:
	// used: key-1 ES256
	// skipped: key-2 true
}
