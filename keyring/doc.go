// Package keyring rotates the signing keys of a service that is its own
// PowerSync auth provider without failing a request, on one machine or on
// many replicas that share one key ring.
//
// A Manager keeps the ring (every key, with its state and times) in a
// Store, and keeps a [jwks.KeySet] in step with it: the key set that the
// replica's Signer signs with and its JWKS handler publishes. Every change of
// the ring is a compare-and-swap on the store, so replicas agree on one ring
// and never both make one change; signing never waits for any of it.
//
// # Serving with a rotating key ring
//
// Make the Manager at start-up, before serving, and hand its KeySet to the
// Signer and the JWKS handler:
//
//	store, err := keyring.NewFileStore("/var/lib/powersync-auth/keyring.json")
//	if err != nil {
//		log.Fatal(err) // not a regular file, others may read it, ...
//	}
//	policy := keyring.Policy{RotateEvery: 30 * 24 * time.Hour}
//	ring, err := keyring.New(ctx, store, policy, keyring.WithKeyEncryptionKeys(kek))
//	if err != nil {
//		log.Fatal(err) // the ring cannot be read: do not start
//	}
//	signer, err := jwks.NewSigner(ring.KeySet(), os.Getenv("POWERSYNC_URL"))
//	if err != nil {
//		log.Fatal(err)
//	}
//	jwksHandler, err := jwks.NewJWKSHandler(ring.KeySet(), jwks.WithMaxAge(keyring.DefaultJWKSMaxAge))
//	if err != nil {
//		log.Fatal(err)
//	}
//	tokenHandler, err := jwks.NewTokenHandler(signer, authenticator)
//	if err != nil {
//		log.Fatal(err)
//	}
//	mux.Handle("GET /.well-known/jwks.json", jwksHandler)
//	mux.Handle("/powersync-auth", tokenHandler)
//
// New loads the ring once (an error when the store cannot be read), makes
// the first key of an empty ring, and starts a goroutine, running until ctx
// is done, that follows the store and applies the Policy. The key set is
// replaced whole on every change: the Signer and the handler see the change
// at once, and requests in flight finish with the keys they started with.
// A replica that cannot read the store goes on signing and serving with the
// keys it has, logs once that the ring cannot be refreshed and once that it
// can again, and rotates when the store is back; Manager.Healthy says so to
// a readiness check.
//
// # The lifecycle of a key
//
// A key is next (published, not signing), then active (signing: exactly one
// key of the ring is), then retired (published until its last token has
// expired), then removed from the ring. A revoked key leaves the JWKS at
// once and never signs again: it is for a key that has leaked, and its
// tokens fail as soon as verifiers have fetched the JWKS again, which is the
// point. Revoking the active key promotes the next key at once, or makes a
// new one; verifiers that have not fetched that key yet refuse its first
// tokens and refetch.
//
// With Policy.RotateEvery set, the Manager stages a next key when the active
// key is RotateEvery − PublishAhead old and promotes it when the active key is
// RotateEvery old (and the next key has been published for PublishAhead:
// later, after a gap). By hand (the zero Policy, or any time): Manager.Stage,
// Manager.Promote (refused before the key's publish-ahead is over, unless
// forced, and the refusal says what would fail), Manager.Revoke, and
// Manager.Import to bring an existing key, such as the original example's
// POWERSYNC_PRIVATE_KEY, in as the first active key of an empty ring.
//
// # Timing: why no verifier meets an unknown key
//
// PowerSync caches the JWKS in each of its processes: a request 5 minutes or
// more after the last fetch starts a refetch and is still checked against
// the old copy; a token whose kid is not in the copy is refused and starts
// a refetch (rate-limited). So the Manager keeps two rules (see Policy):
//
//   - A next key is in every replica's JWKS at least PublishAhead ≥
//     StorePoll + JWKSMaxAge + VerifierRefresh before any replica signs with
//     it: every replica reads it within StorePoll of its staging, every
//     cached copy of the JWKS (a CDN's, a client's) holds it within
//     JWKSMaxAge more, and every verifier that sees traffic has fetched it
//     within VerifierRefresh more.
//   - A retired key stays published for Retention = StorePoll +
//     MaxTokenLifetime + Leeway after its successor's promotion: the last
//     replica to see the promotion signs with the old key for up to
//     StorePoll, and its last token is accepted until MaxTokenLifetime plus
//     the verifiers' leeway later.
//
// One case no signer can prevent: a PowerSync process that has seen no
// request since before the next key was published still holds the old copy
// when the first token of the new key reaches it; it refuses that token
// once, then refetches, and the client retries on 401 with a new token.
//
// After a gap in a replica's view of the ring (a refresh or write that
// failed, or no refresh for more than twice StorePoll), the next keys it
// sees count their publish-ahead again from the end of the gap: a key staged
// just before the store became unreachable may have reached only some
// replicas. What no
// replica can see is a replica cut off from the store while the others
// reach it: it signs on with the keys it has, and once the others have
// rotated past its active key's retention, verifiers that fetch the JWKS from
// them refuse its tokens. Watch Manager.Healthy. The ring's times are
// stamped by one replica and compared by others: keep the replicas' clocks
// in step (NTP), and add any skew to PublishAhead.
//
// # Stores
//
// A Store holds the encoded ring and changes it by compare-and-swap:
// NewMemoryStore for tests and one process (it notifies changes),
// NewFileStore for one machine (one file, mode 0600, written atomically, a
// lock between processes; today's key file of the ready server reads as a
// ring of its key), and the module github.com/powersync-jwks/jwks/pgstore for
// replicas sharing PostgreSQL.
//
// # Encryption at rest
//
// With WithKeyEncryptionKeys, the private key of every next and active key
// is sealed with AES-256-GCM under the first key-encryption key, the kid as
// associated data (a sealed key moved to another entry does not decrypt);
// the others only decrypt, so that the key-encryption key can be changed:
// add the new one second everywhere, put it first, call Manager.Rewrap,
// then drop the old one. Retired and revoked keys are kept as public keys
// only. Without a key-encryption key private keys are stored in clear, and
// New logs that once.
//
// # Events
//
// WithEvents reports each change this Manager makes (staged, imported,
// promoted, retired, revoked, removed) and its refresh failures and
// recoveries, for metrics.
package keyring
