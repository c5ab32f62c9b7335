package keyring

import (
	"fmt"
	"time"

	"github.com/powersync-jwks/jwks"
)

// Policy defaults: PowerSync's own periods, and the library's defaults for
// the JWKS max-age and the token lifetime.
const (
	DefaultJWKSMaxAge       = jwks.DefaultJWKSMaxAge    // 5m
	DefaultVerifierRefresh  = 5 * time.Minute           // PowerSync's refresh period
	DefaultStorePoll        = 30 * time.Second          // how often a replica re-reads the store
	DefaultMaxTokenLifetime = jwks.DefaultTokenLifetime // 5m
	DefaultLeeway           = jwks.DefaultLeeway        // 60s, PowerSync's
	DefaultAlgorithm        = jwks.ES256                // of the keys a Manager makes
)

// maxLeeway is the largest leeway a jwks.Verifier accepts.
const maxLeeway = 5 * time.Minute

// A Policy says when a [Manager] rotates keys, and how long keys stay
// published around a rotation. Zero fields take their defaults; the zero
// Policy rotates by hand only, with PowerSync's periods.
//
// The periods describe the deployment, and the Manager can only trust them:
// serve the JWKS with [jwks.WithMaxAge](JWKSMaxAge) or less, sign tokens that
// live MaxTokenLifetime or less, and verify them with a leeway of Leeway or
// less. Then, with every replica's clock within a second or so of the others:
//
//   - A key reaches the view of every replica within StorePoll of being
//     written to the store (sooner with a store that notifies), every HTTP
//     cache within JWKSMaxAge more, and every verifier that sees traffic
//     refreshes within VerifierRefresh more. So a next key is published for
//     PublishAhead ≥ [Policy.SafePublishAhead] = StorePoll + JWKSMaxAge +
//     VerifierRefresh before it signs, and a PublishAhead below that is an
//     error: tokens signed in the gap would be refused.
//   - The replica that sees a promotion last keeps signing with the old key
//     for up to StorePoll; its last token lives MaxTokenLifetime and is
//     accepted Leeway beyond. So a retired key stays published for
//     [Policy.Retention] = StorePoll + MaxTokenLifetime + Leeway after its
//     successor's promotion, and is then removed.
//   - With automatic rotation on, the next key is staged when the active key
//     is RotateEvery − PublishAhead old, so that it has been published for
//     PublishAhead when the active key is RotateEvery old: RotateEvery must
//     exceed PublishAhead. It need not exceed PublishAhead + Retention: with
//     a shorter period the JWKS holds several retired keys at once, which
//     costs verifiers nothing (they look a token's key up by its kid). With
//     RotateEvery ≥ PublishAhead + Retention it never holds more than two
//     keys: the active key and either the retired or the next one.
//
// Durations may be shorter than a second (tests run the lifecycle in
// milliseconds); a command that reads them from flags should require whole
// seconds.
type Policy struct {
	// RotateEvery is how long a key signs before the next key replaces it.
	// Zero (the default) rotates by hand only: Manager.Stage and
	// Manager.Promote.
	RotateEvery time.Duration

	// PublishAhead is how long a next key is published before it may sign.
	// Zero means SafePublishAhead(); less than that is an error.
	PublishAhead time.Duration

	// JWKSMaxAge is the Cache-Control max-age the JWKS is served with
	// (default DefaultJWKSMaxAge, 5m): how long CDNs and clients may cache it.
	JWKSMaxAge time.Duration

	// VerifierRefresh is how stale a verifier's cached JWKS may be while it
	// sees traffic (default DefaultVerifierRefresh, 5m: PowerSync refreshes
	// on the first request 5 minutes after its last fetch).
	VerifierRefresh time.Duration

	// StorePoll is how often each replica re-reads the store besides the
	// store's notifications (default DefaultStorePoll, 30s). It bounds how
	// long a change takes to reach every replica, the store's write
	// included.
	StorePoll time.Duration

	// MaxTokenLifetime is the longest lifetime of a token any replica signs
	// (default DefaultMaxTokenLifetime, 5m).
	MaxTokenLifetime time.Duration

	// Leeway is the exp leeway of the verifiers (default DefaultLeeway, 60s,
	// PowerSync's).
	Leeway time.Duration

	// Algorithm is the algorithm of the keys the Manager makes (default
	// DefaultAlgorithm, ES256). Imported keys keep their own.
	Algorithm jwks.Algorithm
}

// withDefaults returns p with its zero fields set to their defaults.
func (p Policy) withDefaults() Policy {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&p.JWKSMaxAge, DefaultJWKSMaxAge)
	def(&p.VerifierRefresh, DefaultVerifierRefresh)
	def(&p.StorePoll, DefaultStorePoll)
	def(&p.MaxTokenLifetime, DefaultMaxTokenLifetime)
	def(&p.Leeway, DefaultLeeway)
	def(&p.PublishAhead, p.SafePublishAhead())
	if p.Algorithm == "" {
		p.Algorithm = DefaultAlgorithm
	}
	return p
}

// SafePublishAhead returns the shortest time a next key must be published
// before it signs: StorePoll + JWKSMaxAge + VerifierRefresh (10m30s with the
// defaults), with the defaults of zero fields.
func (p Policy) SafePublishAhead() time.Duration {
	d := p
	if d.StorePoll == 0 {
		d.StorePoll = DefaultStorePoll
	}
	if d.JWKSMaxAge == 0 {
		d.JWKSMaxAge = DefaultJWKSMaxAge
	}
	if d.VerifierRefresh == 0 {
		d.VerifierRefresh = DefaultVerifierRefresh
	}
	return d.StorePoll + d.JWKSMaxAge + d.VerifierRefresh
}

// Retention returns how long a retired key stays published after its
// successor's promotion: StorePoll + MaxTokenLifetime + Leeway (6m30s with
// the defaults), with the defaults of zero fields.
func (p Policy) Retention() time.Duration {
	d := p.withDefaults()
	return d.StorePoll + d.MaxTokenLifetime + d.Leeway
}

// Validate reports whether p, with its defaults, is a policy a Manager can
// follow without failing a token: every duration positive (RotateEvery may be
// zero), PublishAhead at least SafePublishAhead, RotateEvery more than
// PublishAhead, MaxTokenLifetime at most 24h (PowerSync's limit), Leeway at
// most 5m, and a supported Algorithm. The error names the fields (as
// written in Go) and their values. New calls it.
func (p Policy) Validate() error {
	for _, f := range []struct {
		name string
		d    time.Duration
	}{
		{"RotateEvery", p.RotateEvery}, {"PublishAhead", p.PublishAhead},
		{"JWKSMaxAge", p.JWKSMaxAge}, {"VerifierRefresh", p.VerifierRefresh},
		{"StorePoll", p.StorePoll}, {"MaxTokenLifetime", p.MaxTokenLifetime},
		{"Leeway", p.Leeway},
	} {
		if f.d < 0 {
			return fmt.Errorf("keyring: policy: %s %v is negative", f.name, f.d)
		}
	}
	d := p.withDefaults()
	if !d.Algorithm.Supported() {
		return fmt.Errorf("keyring: policy: Algorithm %q is not supported (one of %v)", d.Algorithm, jwks.Algorithms())
	}
	if d.MaxTokenLifetime > jwks.MaxTokenLifetime {
		return fmt.Errorf("keyring: policy: MaxTokenLifetime %v is over %v, PowerSync's limit", d.MaxTokenLifetime, jwks.MaxTokenLifetime)
	}
	if d.Leeway > maxLeeway {
		return fmt.Errorf("keyring: policy: Leeway %v is over %v", d.Leeway, maxLeeway)
	}
	if safe := d.SafePublishAhead(); d.PublishAhead < safe {
		return fmt.Errorf("keyring: policy: PublishAhead %v is below the safe minimum %v "+
			"(StorePoll %v + JWKSMaxAge %v + VerifierRefresh %v): verifiers could meet tokens of a key "+
			"they have not fetched yet", d.PublishAhead, safe, d.StorePoll, d.JWKSMaxAge, d.VerifierRefresh)
	}
	if d.RotateEvery > 0 && d.RotateEvery <= d.PublishAhead {
		return fmt.Errorf("keyring: policy: RotateEvery %v must exceed PublishAhead %v: "+
			"the next key is staged RotateEvery − PublishAhead after each promotion", d.RotateEvery, d.PublishAhead)
	}
	return nil
}
