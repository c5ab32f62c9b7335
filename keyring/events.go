package keyring

import "time"

// An EventType says what happened to a key, or to a replica's view of the
// ring.
type EventType string

// The events a Manager reports to the function given with WithEvents.
const (
	EventStaged           EventType = "staged"            // a new key entered the ring (as next, or as the first active key)
	EventImported         EventType = "imported"          // an existing key entered the ring
	EventPromoted         EventType = "promoted"          // a key became the active key
	EventRetired          EventType = "retired"           // the active key was replaced; it stays published until its tokens expire
	EventRevoked          EventType = "revoked"           // a key left the JWKS at once, for good
	EventRemoved          EventType = "removed"           // a retired key left the ring, its retention over
	EventRefreshFailed    EventType = "refresh_failed"    // this replica could not read or change the ring (reported once until it recovers)
	EventRefreshRecovered EventType = "refresh_recovered" // this replica reads the ring again
)

// An Event is something that happened to the ring, reported to the function
// given with WithEvents, for metrics. Key events are reported by the replica
// whose change made them (once for the whole deployment, not by every
// replica that sees them); refresh events by each replica for itself.
type Event struct {
	Type EventType
	KID  string    // the key's ID; empty for the refresh events
	Time time.Time // when it happened, by the clock of the replica that reports it
}
