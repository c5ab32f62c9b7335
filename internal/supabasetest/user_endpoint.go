package supabasetest

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jws"
)

// bearerPattern is GoTrue's: one "Bearer " (or "bearer ") and no space in
// the token.
var bearerPattern = regexp.MustCompile(`^(?:B|b)earer (\S+$)`)

// nilUUID is the session_id GoTrue treats as "no session".
const nilUUID = "00000000-0000-0000-0000-000000000000"

// apiVersionHeader is the header by which a client (supabase-js does) asks
// GoTrue for the 2024-01-01 error shape.
const apiVersionHeader = "X-Supabase-Api-Version"

// apiVersion20240101 is the only API version GoTrue knows besides the
// initial one.
var apiVersion20240101 = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// gotrueError is GoTrue's error body (its HTTPError).
type gotrueError struct {
	Code      int    `json:"code"`
	ErrorCode string `json:"error_code,omitempty"`
	Msg       string `json:"msg"`
}

// gotrueError20240101 is GoTrue's error body for clients that send
// X-Supabase-Api-Version: 2024-01-01 or later.
type gotrueError20240101 struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// gatewayError is the error body of Supabase's API gateway, which answers
// before GoTrue sees the request.
type gatewayError struct {
	Message string `json:"message"`
	Hint    string `json:"hint,omitempty"`
}

// apiError is an error /user answers with.
type apiError struct {
	status int
	code   string // GoTrue's error_code
	msg    string
}

// badJWT is GoTrue's answer to a token it cannot parse or verify; detail is
// worded as golang-jwt words it.
func badJWT(format string, args ...any) *apiError {
	return &apiError{http.StatusForbidden, "bad_jwt",
		"invalid JWT: unable to parse or verify signature, " + fmt.Sprintf(format, args...)}
}

// writeJSON writes v as the JSON body of a response with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		status, body = http.StatusInternalServerError, []byte(`{"code":500,"error_code":"unexpected_failure","msg":"encode"}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// writeGoTrueError writes e as GoTrue does: the x-sb-error-code header,
// and the body shape the request's API version asks for.
func writeGoTrueError(w http.ResponseWriter, r *http.Request, e *apiError) {
	w.Header().Set("X-Sb-Error-Code", e.code)
	if v, err := time.Parse(time.DateOnly, r.Header.Get(apiVersionHeader)); err == nil && !v.Before(apiVersion20240101) {
		w.Header().Set(apiVersionHeader, apiVersion20240101.Format(time.DateOnly))
		writeJSON(w, e.status, gotrueError20240101{Code: e.code, Message: e.msg})
		return
	}
	writeJSON(w, e.status, gotrueError{Code: e.status, ErrorCode: e.code, Msg: e.msg})
}

// serveUser answers GET /auth/v1/user as Supabase does: first the API
// gateway's apikey check, then GoTrue's requireAuthentication and UserGet.
func (s *Server) serveUser(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", "GET")
		writeGoTrueError(w, r, &apiError{http.StatusMethodNotAllowed, "method_not_allowed", "Method Not Allowed"})
		return
	}

	// The gateway.
	apikey := r.Header.Get("apikey")
	if apikey == "" {
		apikey = r.URL.Query().Get("apikey")
	}
	switch {
	case apikey == "":
		writeJSON(w, http.StatusUnauthorized, gatewayError{
			Message: "No API key found in request",
			Hint:    "No `apikey` request header or url param was found.",
		})
		return
	case apikey != s.anonKey && apikey != s.serviceRoleKey && apikey != s.publishableKey && apikey != s.secretKey:
		writeJSON(w, http.StatusUnauthorized, gatewayError{
			Message: "Invalid API key",
			Hint:    "Double check your Supabase `anon` or `service_role` API key.",
		})
		return
	}

	// GoTrue.
	m := bearerPattern.FindStringSubmatch(r.Header.Get("Authorization"))
	if m == nil {
		writeGoTrueError(w, r, &apiError{http.StatusUnauthorized, "no_authorization", "This endpoint requires a Bearer token"})
		return
	}
	token := m[1]
	// The gateway hands GoTrue a JWT of the key's role in place of an
	// sb_ key sent as the bearer value (supabase-js does, signed out).
	switch token {
	case s.publishableKey:
		token = s.anonJWT
	case s.secretKey:
		token = s.serviceRoleJWT
	}
	claims, e := s.verify(token)
	if e != nil {
		writeGoTrueError(w, r, e)
		return
	}
	body, e := s.userFor(claims)
	if e != nil {
		writeGoTrueError(w, r, e)
		return
	}
	want := r.Header.Get("X-JWT-AUD")
	if want == "" {
		want = RoleAuthenticated
	}
	if aud := audience(claims["aud"]); len(aud) == 0 || aud[0] != want {
		writeGoTrueError(w, r, &apiError{http.StatusBadRequest, "validation_failed", "Token audience doesn't match request audience"})
		return
	}
	writeJSON(w, http.StatusOK, body)
}

// verify checks a bearer token as GoTrue's parseJWTClaims does: the
// algorithm, the key (by kid, or the legacy secret for HS256 with no kid),
// the signature, exp and nbf. It does not check iss or aud.
func (s *Server) verify(token string) (map[string]any, *apiError) {
	if strings.Count(token, ".") != 2 {
		return nil, badJWT("token is malformed: token contains an invalid number of segments")
	}
	msg, err := jws.Parse([]byte(token))
	if err != nil || len(msg.Signatures()) != 1 {
		return nil, badJWT("token is malformed: could not JSON decode header")
	}
	hdr := msg.Signatures()[0].ProtectedHeaders()
	alg := Algorithm(hdr.Algorithm().String())
	if alg != ES256 && alg != RS256 && alg != HS256 {
		return nil, badJWT("token signature is invalid: signing method %s is invalid", alg)
	}

	var key any
	switch kid := hdr.KeyID(); {
	case kid != "":
		k := s.keys.Load().byKID[kid]
		if k == nil {
			return nil, badJWT("token is unverifiable: error while executing keyfunc: invalid kid: %s", kid)
		}
		if k.alg != alg {
			return nil, badJWT("token signature is invalid: key is of invalid type")
		}
		key = k.signer.Public()
	case alg == HS256:
		key = []byte(s.cfg.legacySecret)
	default:
		return nil, badJWT("token is unverifiable: error while executing keyfunc: missing kid")
	}
	payload, err := jws.Verify([]byte(token), jws.WithKey(jwa.SignatureAlgorithm(alg), key))
	if err != nil {
		reason := map[Algorithm]string{
			ES256: "crypto/ecdsa: verification error",
			RS256: "crypto/rsa: verification error",
			HS256: "signature is invalid",
		}[alg]
		return nil, badJWT("token signature is invalid: %s", reason)
	}

	claims, err := decodeClaims(payload)
	if err != nil {
		return nil, badJWT("token is malformed: could not JSON decode claim: %v", err)
	}
	now := s.now()
	if exp, ok := claims["exp"].(json.Number); ok {
		if !now.Before(numericDate(exp)) {
			return nil, badJWT("token has invalid claims: token is expired")
		}
	}
	if nbf, ok := claims["nbf"].(json.Number); ok {
		if now.Before(numericDate(nbf)) {
			return nil, badJWT("token has invalid claims: token is not valid yet")
		}
	}
	return claims, nil
}

// decodeClaims decodes a JWT payload, numbers as json.Number, and checks
// the types of the claims GoTrue decodes into typed fields.
func decodeClaims(payload []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	var claims map[string]any
	if err := dec.Decode(&claims); err != nil {
		return nil, err
	}
	if claims == nil {
		return nil, fmt.Errorf("not a JSON object")
	}
	for _, name := range []string{"iss", "sub", "session_id", "role", "email", "phone"} {
		if v, ok := claims[name]; ok {
			if _, isString := v.(string); !isString {
				return nil, fmt.Errorf("%s is not a string", name)
			}
		}
	}
	for _, name := range []string{"exp", "nbf", "iat"} {
		if v, ok := claims[name]; ok {
			if _, isNumber := v.(json.Number); !isNumber {
				return nil, fmt.Errorf("%s is not a number", name)
			}
		}
	}
	if v, ok := claims["aud"]; ok && audience(v) == nil {
		if _, isString := v.(string); !isString {
			return nil, fmt.Errorf("aud is not a string or an array of strings")
		}
	}
	if v, ok := claims["is_anonymous"]; ok {
		if _, isBool := v.(bool); !isBool {
			return nil, fmt.Errorf("is_anonymous is not a boolean")
		}
	}
	return claims, nil
}

// numericDate converts a JWT NumericDate (seconds, maybe fractional).
func numericDate(n json.Number) time.Time {
	f, err := n.Float64()
	if err != nil {
		return time.Time{}
	}
	return time.Unix(0, int64(f*float64(time.Second)))
}

// audience returns the aud claim as a list: a string is a list of one;
// nil for anything else.
func audience(v any) []string {
	switch aud := v.(type) {
	case string:
		return []string{aud}
	case []any:
		out := make([]string, 0, len(aud))
		for _, a := range aud {
			s, ok := a.(string)
			if !ok {
				return nil
			}
			out = append(out, s)
		}
		return out
	}
	return nil
}

// userFor finds the user and session that verified claims name, as
// GoTrue's maybeLoadUserOrSession does, and returns the user's JSON.
func (s *Server) userFor(claims map[string]any) (*userJSON, *apiError) {
	sub, _ := claims["sub"].(string)
	if sub == "" {
		return nil, &apiError{http.StatusForbidden, "bad_jwt", "invalid claim: missing sub claim"}
	}
	if !isUUID(sub) {
		return nil, &apiError{http.StatusBadRequest, "bad_jwt", "invalid claim: sub claim must be a UUID"}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, ok := s.users[sub]
	if !ok {
		return nil, &apiError{http.StatusForbidden, "user_not_found", "User from sub claim in JWT does not exist"}
	}
	if sid, _ := claims["session_id"].(string); sid != "" && sid != nilUUID {
		if !isUUID(sid) {
			return nil, &apiError{http.StatusForbidden, "bad_jwt", "invalid claim: session_id claim must be a UUID"}
		}
		if _, ok := s.sessions[sid]; !ok {
			return nil, &apiError{http.StatusForbidden, "session_not_found", "Session from session_id claim in JWT does not exist"}
		}
	}
	if rec.bannedUntil.After(s.now()) {
		return nil, &apiError{http.StatusForbidden, "user_banned", "User is banned"}
	}
	return rec.json(), nil
}

// isUUID reports whether v is a UUID in its canonical form.
func isUUID(v string) bool {
	if len(v) != 36 {
		return false
	}
	for i, c := range v {
		switch {
		case i == 8 || i == 13 || i == 18 || i == 23:
			if c != '-' {
				return false
			}
		case '0' <= c && c <= '9', 'a' <= c && c <= 'f', 'A' <= c && c <= 'F':
		default:
			return false
		}
	}
	return true
}

// userJSON is the user as GoTrue's /user answers it (models.User), less the
// fields this server has no use for (factors, invitations, changes).
type userJSON struct {
	ID               string         `json:"id"`
	Aud              string         `json:"aud"`
	Role             string         `json:"role"`
	Email            string         `json:"email"`
	EmailConfirmedAt *time.Time     `json:"email_confirmed_at,omitempty"`
	Phone            string         `json:"phone"`
	PhoneConfirmedAt *time.Time     `json:"phone_confirmed_at,omitempty"`
	ConfirmedAt      *time.Time     `json:"confirmed_at,omitempty"`
	LastSignInAt     *time.Time     `json:"last_sign_in_at,omitempty"`
	AppMetadata      map[string]any `json:"app_metadata"`
	UserMetadata     map[string]any `json:"user_metadata"`
	Identities       []identityJSON `json:"identities"`
	CreatedAt        time.Time      `json:"created_at"`
	UpdatedAt        time.Time      `json:"updated_at"`
	BannedUntil      *time.Time     `json:"banned_until,omitempty"`
	IsAnonymous      bool           `json:"is_anonymous"`
}

// identityJSON is one of the user's identities (models.Identity).
type identityJSON struct {
	IdentityID   string         `json:"identity_id"`
	ID           string         `json:"id"`
	UserID       string         `json:"user_id"`
	IdentityData map[string]any `json:"identity_data"`
	Provider     string         `json:"provider"`
	LastSignInAt *time.Time     `json:"last_sign_in_at,omitempty"`
	CreatedAt    time.Time      `json:"created_at"`
	UpdatedAt    time.Time      `json:"updated_at"`
	Email        string         `json:"email,omitempty"`
}

// json returns the record as /user shows it. The caller holds s.mu.
func (rec *userRecord) json() *userJSON {
	u := rec.user.clone()
	created := u.CreatedAt
	out := &userJSON{
		ID:           u.ID,
		Aud:          RoleAuthenticated,
		Role:         RoleAuthenticated,
		Email:        u.Email,
		Phone:        u.Phone,
		AppMetadata:  u.AppMetadata,
		UserMetadata: u.UserMetadata,
		Identities:   []identityJSON{},
		CreatedAt:    created,
		UpdatedAt:    created,
		IsAnonymous:  u.IsAnonymous,
	}
	if out.AppMetadata == nil {
		out.AppMetadata = map[string]any{}
	}
	if out.UserMetadata == nil {
		out.UserMetadata = map[string]any{}
	}
	if last := rec.lastSignIn; !last.IsZero() { // copies: out outlives the lock
		out.LastSignInAt, out.UpdatedAt = &last, last
	}
	if until := rec.bannedUntil; !until.IsZero() {
		out.BannedUntil = &until
	}
	if u.IsAnonymous {
		return out
	}
	identity := func(provider, email string) identityJSON {
		return identityJSON{
			IdentityID: derivedUUID(u.ID + "/" + provider),
			ID:         u.ID,
			UserID:     u.ID,
			IdentityData: map[string]any{
				"email": u.Email, "email_verified": u.Email != "", "phone_verified": u.Phone != "", "sub": u.ID,
			},
			Provider:     provider,
			LastSignInAt: out.LastSignInAt,
			CreatedAt:    created,
			UpdatedAt:    out.UpdatedAt,
			Email:        email,
		}
	}
	if u.Email != "" {
		out.EmailConfirmedAt, out.ConfirmedAt = &created, &created
		out.Identities = append(out.Identities, identity("email", u.Email))
	}
	if u.Phone != "" {
		out.PhoneConfirmedAt, out.ConfirmedAt = &created, &created
		out.Identities = append(out.Identities, identity("phone", ""))
	}
	return out
}

// derivedUUID returns a UUID (version 5 layout) derived from name, so that
// an identity keeps its ID from one answer to the next.
func derivedUUID(name string) string {
	sum := sha256.Sum256([]byte(name))
	b := sum[:16]
	b[6] = b[6]&0x0f | 0x50
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
