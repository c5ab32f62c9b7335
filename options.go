package jwks

import "time"

// A SignerOption configures [NewSigner].
type SignerOption interface{ applySigner(*Signer) }

// A VerifierOption configures [NewVerifier].
type VerifierOption interface{ applyVerifier(*Verifier) }

// An Option configures a [Signer] and a [Verifier] alike. Each option's
// documentation says what it means to each.
type Option interface {
	SignerOption
	VerifierOption
}

type signerOption func(*Signer)

func (f signerOption) applySigner(s *Signer) { f(s) }

type verifierOption func(*Verifier)

func (f verifierOption) applyVerifier(v *Verifier) { f(v) }

type sharedOption struct {
	signer   func(*Signer)
	verifier func(*Verifier)
}

func (o sharedOption) applySigner(s *Signer)     { o.signer(s) }
func (o sharedOption) applyVerifier(v *Verifier) { o.verifier(v) }

// WithExtraAudiences adds audiences to the one given to [NewSigner] or
// [NewVerifier]. A [Signer] then writes "aud" as an array of all of them
// (PowerSync accepts a token when any element is one of its audiences); a
// [Verifier] accepts a token whose "aud" holds any of them. Audiences are
// compared byte for byte: "https://x.example" and "https://x.example/" are
// different audiences.
func WithExtraAudiences(more ...string) Option {
	return sharedOption{
		signer:   func(s *Signer) { s.audiences = append(s.audiences, more...) },
		verifier: func(v *Verifier) { v.audiences = append(v.audiences, more...) },
	}
}

// WithIssuer sets the issuer. A [Signer] writes it as the "iss" claim of
// every token (PowerSync does not check it; an issuer containing
// "supabase.co" makes PowerSync's diagnostics call the token a Supabase
// token). A [Verifier] requires "iss" to be exactly this value.
func WithIssuer(iss string) Option {
	return sharedOption{
		signer:   func(s *Signer) { s.issuer = iss },
		verifier: func(v *Verifier) { v.issuer = iss },
	}
}

// WithClock sets the function that tells the current time (default, as
// when not set, [time.Now]): the "iat" a [Signer] writes, the "now" a
// [Verifier] compares "exp", "nbf" and "iat" with. It is meant for tests.
func WithClock(now func() time.Time) Option {
	return sharedOption{
		signer:   func(s *Signer) { s.now = now },
		verifier: func(v *Verifier) { v.now = now },
	}
}
