package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/powersync-jwks/jwks"
)

// PowerSync's error codes for refused tokens.
const (
	codeS2101 = "PSYNC_S2101" // malformed, alg, kid, signature, missing claims, parameters
	codeS2103 = "PSYNC_S2103" // expired
	codeS2104 = "PSYNC_S2104" // lifetime over 86400 s
	codeS2105 = "PSYNC_S2105" // aud missing or not accepted
)

// problem is one rule of PowerSync's that the token (or the JWKS) breaks.
type problem struct {
	Code   string `json:"code"`
	Rule   string `json:"rule"`
	Detail string `json:"detail"`
	Fix    string `json:"fix"`
}

// report is the diagnosis of one token.
type report struct {
	OK       bool           `json:"ok"`
	Problems []problem      `json:"problems"`
	Header   map[string]any `json:"header"`
	Claims   map[string]any `json:"claims"`
	JWKS     jwksReport     `json:"jwks"`

	headerErr, claimsErr string    // why the header or the claims do not decode
	now                  time.Time // the time the token was checked at
}

// jwksReport is what the report says of the JWKS.
type jwksReport struct {
	Kids    []string     `json:"kids"`
	Skipped []skippedKey `json:"skipped"`
	Notes   []string     `json:"notes"`
}

// decodePart decodes a base64url part holding a JSON object, without
// checking anything else.
func decodePart(seg string) (map[string]any, error) {
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		return nil, errors.New("not base64url")
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil || m == nil {
		return nil, errors.New("not a JSON object")
	}
	return m, nil
}

// diagnose checks raw with v (whose key source is set) and explains each
// problem as a rule of PowerSync's.
func diagnose(ctx context.Context, v *jwks.Verifier, raw string, audiences []string, set *keySet, now time.Time) *report {
	r := &report{
		now:      now,
		Problems: []problem{},
		JWKS:     jwksReport{Kids: set.kids, Skipped: set.skipped, Notes: set.notes},
	}
	if r.JWKS.Kids == nil {
		r.JWKS.Kids = []string{}
	}
	if r.JWKS.Skipped == nil {
		r.JWKS.Skipped = []skippedKey{}
	}
	if r.JWKS.Notes == nil {
		r.JWKS.Notes = []string{}
	}
	parts := strings.Split(raw, ".")
	if len(parts) == 3 {
		var err error
		if r.Header, err = decodePart(parts[0]); err != nil {
			r.headerErr = err.Error()
		}
		if r.Claims, err = decodePart(parts[1]); err != nil {
			r.claimsErr = err.Error()
		}
	} else {
		r.headerErr = fmt.Sprintf("the token has %d parts, not 3", len(parts))
	}

	e := explainer{r: r, set: set, audiences: audiences, now: now}
	for _, err := range v.Problems(ctx, raw) {
		r.Problems = append(r.Problems, e.explain(err))
	}
	r.Problems = append(r.Problems, set.problems...)
	r.OK = len(r.Problems) == 0
	return r
}

// explainer turns the Verifier's problems into PowerSync's rules.
type explainer struct {
	r         *report
	set       *keySet
	audiences []string
	now       time.Time
}

// str returns the string member name of m, if it is one.
func str(m map[string]any, name string) (string, bool) {
	s, ok := m[name].(string)
	return s, ok
}

// num returns the numeric member name of m, if it is one.
func num(m map[string]any, name string) (float64, bool) {
	n, ok := m[name].(json.Number)
	if !ok {
		return 0, false
	}
	f, err := n.Float64()
	return f, err == nil
}

// unix formats a NumericDate.
func unix(secs float64) string {
	whole, frac := math.Modf(secs)
	return time.Unix(int64(whole), int64(frac*1e9)).UTC().Format(time.RFC3339)
}

// explain maps one problem of Verifier.Problems to PowerSync's code, by the
// token error it wraps, and says what is wrong and how to fix it.
func (e *explainer) explain(err error) problem {
	part := ""
	var pe *jwks.ProblemError
	if errors.As(err, &pe) {
		part = pe.Part
	}
	msg := strings.TrimPrefix(err.Error(), "jwks: ")
	claims, header := e.r.Claims, e.r.Header
	switch {
	case errors.Is(err, jwks.ErrAudience):
		return e.audience(claims)

	case errors.Is(err, jwks.ErrExpired):
		exp, _ := num(claims, "exp")
		ago := e.now.Truncate(time.Second).Sub(time.Unix(int64(exp), 0))
		return problem{codeS2103, "expired",
			fmt.Sprintf("the token expired at %s, %v ago (PowerSync allows 60 s of clock skew)", unix(exp), ago),
			"fetch a new token: PowerSync's clients do when it answers 401, and when expiresAt is less than 30 s away. If new tokens are already expired, check the clock of the machine that signs them"}

	case errors.Is(err, jwks.ErrLifetime):
		iat, _ := num(claims, "iat")
		exp, _ := num(claims, "exp")
		return problem{codeS2104, "lifetime over 24 hours",
			fmt.Sprintf("exp − iat is %v s (%v), over PowerSync's limit of 86400 s", exp-iat, time.Duration((exp-iat)*float64(time.Second)).Round(time.Second)),
			"mint tokens that live at most 24 hours, better one hour or less (jwks.WithTokenLifetime; the default is 5 minutes): clients fetch a new one when theirs nears expiry"}

	case errors.Is(err, jwks.ErrMissingClaim):
		if s, ok := str(claims, part); ok && s == "" {
			return problem{codeS2101, "empty sub",
				`"sub" is the empty string: PowerSync lets it through as a user id of "", this library refuses it`,
				`set "sub" to the user's id`}
		}
		return problem{codeS2101, "missing claim",
			fmt.Sprintf("the token has no %q claim (names are case-sensitive); PowerSync requires sub, iat and exp", part),
			`sign tokens with "sub" (the user id, a string), "iat" and "exp" (integer seconds since 1970) and "aud"`}

	case errors.Is(err, jwks.ErrNotYetValid):
		if part == "iat" {
			iat, _ := num(claims, "iat")
			return problem{codeS2101, "issued in the future",
				fmt.Sprintf("iat is %s, later than now plus 60 s: PowerSync does not compare iat with its clock, but this library refuses such a token, which would live longer than its lifetime says", unix(iat)),
				"check the clock of the machine that signs the tokens"}
		}
		nbf, _ := num(claims, "nbf")
		return problem{codeS2101, "not yet valid",
			fmt.Sprintf("nbf is %s, later than now plus 60 s", unix(nbf)),
			`leave "nbf" out, or check the clock of the machine that signs the tokens`}

	case errors.Is(err, jwks.ErrUnknownKey):
		return e.unknownKey(header)

	case errors.Is(err, jwks.ErrSignature):
		return e.signature(part, header, msg)

	case errors.Is(err, jwks.ErrMalformed):
		return e.malformed(part, claims, msg)

	case errors.Is(err, jwks.ErrIssuer):
		return problem{codeS2101, "issuer", msg, `PowerSync does not check "iss"`}
	}
	return problem{codeS2101, "refused", msg, ""}
}

// audience explains an "aud" PowerSync does not accept, showing both strings
// as they are, with a hint for the usual near misses.
func (e *explainer) audience(claims map[string]any) problem {
	var auds []string
	switch a := claims["aud"].(type) {
	case string:
		auds = []string{a}
	case []any:
		for _, v := range a {
			if s, ok := v.(string); ok {
				auds = append(auds, s)
			}
		}
	}
	configured := quoteAll(e.audiences)
	fix := "make the token's aud exactly the audience PowerSync is configured with (the audience given to jwks.NewSigner, POWERSYNC_URL), or add the token's aud to PowerSync's audiences (self-hosted: client_auth.audience)"
	if _, present := claims["aud"]; !present || claims["aud"] == nil {
		return problem{codeS2105, "audience",
			fmt.Sprintf(`the token has no "aud" claim; PowerSync accepts %s`, configured),
			fix}
	}
	var hints []string
	for _, got := range auds {
		for _, want := range e.audiences {
			if h := audienceHint(got, want); h != "" && len(auds) == 1 && len(e.audiences) == 1 {
				hints = append(hints, "they "+h)
			} else if h != "" {
				hints = append(hints, fmt.Sprintf("%q and %q %s", got, want, h))
			}
		}
	}
	detail := "the token's aud is not an audience PowerSync accepts (compared byte for byte)\n" +
		"token aud: " + quoteAll(auds) + "\n" +
		"accepted:  " + configured
	if len(auds) == 0 {
		detail = fmt.Sprintf("the token's aud is an empty list; PowerSync accepts %s", configured)
	}
	for _, h := range hints {
		detail += "\nhint: " + h
	}
	return problem{codeS2105, "audience", detail, fix}
}

// audienceHint says how got differs from want when it is a near miss.
func audienceHint(got, want string) string {
	trim := func(s string) string { return strings.TrimRight(s, "/") }
	scheme := func(s string) string {
		_, rest, _ := strings.Cut(s, "://")
		return rest
	}
	switch {
	case got == want:
		return ""
	case trim(got) == trim(want):
		return "differ only by a trailing slash"
	case strings.TrimSpace(got) == strings.TrimSpace(want):
		return "differ only by spaces or a line break (an environment file?)"
	case strings.Contains(got, "://") && strings.Contains(want, "://") && trim(scheme(got)) == trim(scheme(want)):
		return "differ in the scheme (http and https are different audiences)"
	case strings.EqualFold(got, want):
		return "differ only in letter case"
	}
	return ""
}

func quoteAll(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = fmt.Sprintf("%q", s)
	}
	return strings.Join(q, ", ")
}

// unknownKey explains a token whose kid the JWKS does not hold.
func (e *explainer) unknownKey(header map[string]any) problem {
	kids := "no key"
	if len(e.set.kids) > 0 {
		kids = quoteAll(e.set.kids)
	}
	kid, ok := str(header, "kid")
	if !ok || kid == "" {
		return problem{codeS2101, "no kid",
			fmt.Sprintf(`the token's header has no "kid"; PowerSync uses the key whose kid is the header's. The JWKS holds %s`, kids),
			`sign tokens with the key's kid in the header (jwks.Signer does)`}
	}
	detail := fmt.Sprintf("the token's kid %q is not in the JWKS, which holds %s", kid, kids)
	fix := "sign with a key the JWKS publishes, or publish the signing key's public half in the JWKS PowerSync reads (after a rotation, publish the new key before signing with it; PowerSync refetches on an unknown kid at most about once a minute)"
	if why, dropped := e.set.dropped[kid]; dropped {
		detail = fmt.Sprintf("the JWKS has an entry with kid %q, but it is not used: %s. Usable keys: %s", kid, why, kids)
		fix = "repair that entry of the JWKS (see the JWKS section)"
	}
	return problem{codeS2101, "unknown kid", detail, fix}
}

// signature explains an "alg" that is not allowed or not the key's, and a
// signature that does not verify.
func (e *explainer) signature(part string, header map[string]any, msg string) problem {
	alg, _ := str(header, "alg")
	kid, _ := str(header, "kid")
	if part == "alg" {
		fix := "sign with RS256, RS384, RS512, ES256, ES384, ES512 or EdDSA"
		switch {
		case strings.HasPrefix(alg, "HS"):
			fix = "PowerSync verifies HS256 only with a secret in its own configuration, never from a JWKS: sign with an asymmetric key (jwks.GenerateKey) and publish its public half"
		case strings.HasPrefix(alg, "PS"):
			fix = "PowerSync refuses RSA-PSS: sign with RS256 (PKCS#1 v1.5) or ES256"
		}
		return problem{codeS2101, "algorithm not allowed",
			fmt.Sprintf("the token's alg %q is not one PowerSync accepts (RS256, RS384, RS512, ES256, ES384, ES512, EdDSA)", alg), fix}
	}
	if k, ok := e.set.keys[kid]; ok && string(k.Algorithm()) != alg {
		return problem{codeS2101, "alg not the key's",
			fmt.Sprintf("the token's alg is %q, and key %q of the JWKS is %s: PowerSync requires the token's alg to be the key's", alg, kid, k.Algorithm()),
			fmt.Sprintf("sign with %s, or publish the key with the alg it signs with", k.Algorithm())}
	}
	detail := fmt.Sprintf("the signature does not verify with key %q of the JWKS: the token was signed by another key under the same kid, or changed after signing (%s)", kid, msg)
	if strings.HasPrefix(alg, "ES") {
		detail += "; ECDSA signatures must be raw R‖S (64 bytes for ES256), not ASN.1 DER as crypto.Signer returns them"
	}
	return problem{codeS2101, "bad signature", detail,
		"sign with the private key whose public half the JWKS publishes under this kid, and send the token unchanged"}
}

// malformed explains a token PowerSync cannot read, or a claim of the wrong
// type.
func (e *explainer) malformed(part string, claims map[string]any, msg string) problem {
	switch part {
	case "parameters":
		detail := fmt.Sprintf(`"parameters" is %s, not a JSON object: PowerSync hands its members to sync rules as token_parameters`, jsonText(claims["parameters"]))
		if v, ok := claims["parameters"]; ok && v == nil {
			detail = `"parameters" is null: PowerSync lets it through, this library refuses it`
		}
		return problem{codeS2101, "parameters not an object", detail,
			`make "parameters" a JSON object ({"org": "acme"}) or leave it out (jwks.WithParameters takes a map or a struct)`}
	case "sub", "iat", "exp", "nbf", "aud", "iss", "jti":
		if v, ok := claims[part]; ok {
			want := "a string"
			switch part {
			case "iat", "exp", "nbf":
				want = "a number of seconds since 1970"
			case "aud":
				want = "a string or an array of strings"
			}
			iat, iatOK := num(claims, "iat")
			exp, expOK := num(claims, "exp")
			if part == "exp" && iatOK && expOK && exp < iat {
				return problem{codeS2101, "exp before iat",
					fmt.Sprintf("exp (%s) is before iat (%s): PowerSync lets it through, this library refuses it", unix(exp), unix(iat)),
					`set "exp" to "iat" plus the lifetime`}
			}
			if _, isNumber := v.(json.Number); isNumber && (part == "iat" || part == "exp" || part == "nbf") {
				return problem{codeS2101, "time out of range",
					fmt.Sprintf("%q is %s (%s)", part, jsonText(v), msg),
					fmt.Sprintf("write %q as whole seconds since 1970, such as %d", part, e.now.Unix())}
			}
			return problem{codeS2101, "claim of the wrong type",
				fmt.Sprintf("%q is %s; it must be %s (%s)", part, jsonText(v), want, msg),
				fmt.Sprintf("write %q as %s", part, want)}
		}
	case "claims":
		return problem{codeS2101, "malformed token", fmt.Sprintf("the claims are %s (%s)", e.r.claimsErr, msg),
			"the second part of the token must be base64url (no padding) of a JSON object"}
	}
	return problem{codeS2101, "malformed token", msg,
		"a token is a compact JWS: three base64url parts (no padding) joined by dots, a header and claims that are JSON objects, and a signature; copy it whole, without quotes or line breaks"}
}

// maxJSONText is the most bytes of JSON that jsonText returns.
const maxJSONText = 60

// jsonText returns v as JSON, shortened to maxJSONText bytes, cut before a
// rune that would cross the bound (json.Marshal writes valid UTF-8, and so
// does jsonText).
func jsonText(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return "?"
	}
	if len(b) > maxJSONText {
		n := maxJSONText
		for n > 0 && !utf8.RuneStart(b[n]) {
			n--
		}
		return string(b[:n]) + "…"
	}
	return string(b)
}
