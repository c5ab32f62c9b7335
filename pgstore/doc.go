// Package pgstore keeps a key ring of package keyring in PostgreSQL, so
// that every replica of a service signs with the same keys and rotates them
// together: a change is a compare-and-swap in one transaction, and
// LISTEN/NOTIFY tells every replica of it within a second.
//
// It is a module of its own (github.com/powersync-jwks/jwks/pgstore), so
// that the core module pulls in no database driver.
//
// # Using it
//
// Open the store, then hand it to the keyring Manager, which loads the ring,
// makes a first key when it is empty, and applies the rotation policy:
//
//	store, err := pgstore.Open(ctx, os.Getenv("DATABASE_URL"))
//	if err != nil {
//		log.Fatal(err) // the database cannot be reached, or the table not made; never the password
//	}
//	defer store.Close()
//	ring, err := keyring.New(ctx, store, keyring.Policy{RotateEvery: 30 * 24 * time.Hour})
//	if err != nil {
//		log.Fatal(err)
//	}
//	signer, err := jwks.NewSigner(ring.KeySet(), os.Getenv("POWERSYNC_URL"))
//
// A service with a pgxpool.Pool of its own passes it to New instead, and
// closes it after the Store.
//
// # The table
//
// A Store keeps its ring in one row of a table (default
// "powersync_jwks_ring", see WithTable), keyed by the ring's name (default
// "default", see WithRing), so that several services can share a table. New
// and Open make the table if it does not exist:
//
//	CREATE TABLE IF NOT EXISTS powersync_jwks_ring (
//		name       text PRIMARY KEY,
//		version    bigint NOT NULL,
//		data       bytea NOT NULL,
//		updated_at timestamptz NOT NULL DEFAULT now()
//	);
//
// The data column holds the ring as the Manager encodes it: with a
// key-encryption key (keyring.WithKeyEncryptionKeys), the private keys in
// it are sealed; without one they are in clear, and the table is as secret
// as the keys.
//
// # Privileges
//
// The database role needs SELECT, INSERT and UPDATE on the table. To let the
// Store make the table on first use, it also needs CREATE on the schema
// (PostgreSQL 15 no longer grants that on the public schema to every role);
// otherwise make the table yourself with the DDL above, and grant:
//
//	GRANT SELECT, INSERT, UPDATE ON powersync_jwks_ring TO powersync_auth;
//
// LISTEN and NOTIFY need no privilege.
//
// # Notifications
//
// Every change is announced with pg_notify on a channel named after the
// table (see WithChannel), with the ring's name and new version as the
// payload ("default:42"), in the transaction of the change: listeners hear
// of it only once it is committed, and never of a change rolled back.
// Changes listens on a connection of its own and reconnects, with backoff,
// when the connection is lost or the server restarts.
//
// A notification can be lost: one sent while a listener is reconnecting is
// not kept for it. That only delays a change, never loses it: the Manager
// also polls the store (keyring.Policy.StorePoll), and a listener tells the
// Manager to load the ring after every reconnect.
//
// LISTEN needs a session of its own on the server: a connection pooler in
// transaction mode (PgBouncer's pool_mode=transaction) delivers no
// notifications. Point the Store at the server, or at a pooler in session
// mode.
package pgstore
