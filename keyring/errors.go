package keyring

import "errors"

// Errors of the Manager's operations and of the ring's encoding, for
// errors.Is. (ErrConflict, of the stores, is beside the Store interface.)
// The messages name key IDs, states, times and key-encryption key IDs, never
// key material.
var (
	// ErrUnknownKey: no key of the ring has the key ID given.
	ErrUnknownKey = errors.New("keyring: no such key")

	// ErrNoNextKey: Promote("") found no next key to promote.
	ErrNoNextKey = errors.New("keyring: no next key")

	// ErrTooEarly: Promote refused a next key that has been published for
	// less than the policy's PublishAhead. The message says which verifiers
	// may refuse its tokens, and until when, if the promotion is forced.
	ErrTooEarly = errors.New("keyring: next key not published long enough")

	// ErrKeyState: the key is not in a state that allows the operation, such
	// as promoting a retired key, or importing a key the ring has revoked.
	ErrKeyState = errors.New("keyring: operation not allowed in the key's state")

	// ErrCorrupt: the stored ring cannot be decoded, breaks the ring's
	// invariant (one active key, unique key IDs), or a sealed private key
	// does not decrypt (altered, or moved to another key ID).
	ErrCorrupt = errors.New("keyring: unreadable key ring")

	// ErrUnknownKEK: a private key of the ring is sealed with a
	// key-encryption key that is not configured (see WithKeyEncryptionKeys).
	// The message names the key-encryption key's ID.
	ErrUnknownKEK = errors.New("keyring: key-encryption key not configured")
)
