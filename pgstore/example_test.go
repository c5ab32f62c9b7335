package pgstore_test

import (
	"context"
	"errors"
	"log"
	"os"

	"github.com/powersync-jwks/jwks/keyring"
	"github.com/powersync-jwks/jwks/pgstore"
)

// A service hands the Store to keyring.New, which does all of this itself;
// by hand, a change is a load, a decision, and a swap, again on a conflict.
func ExampleOpen() {
	ctx := context.Background()
	store, err := pgstore.Open(ctx, os.Getenv("DATABASE_URL"), pgstore.WithRing("billing"))
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()

	for {
		version, data, err := store.Load(ctx)
		if err != nil {
			log.Fatal(err)
		}
		_, err = store.CompareAndSwap(ctx, version, append(data, '.'))
		if errors.Is(err, keyring.ErrConflict) {
			continue // another replica changed the ring first: decide again
		}
		if err != nil {
			log.Fatal(err)
		}
		break
	}
}
