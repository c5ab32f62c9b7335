package supabase

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/powersync-jwks/jwks"
	"github.com/powersync-jwks/jwks/internal/quote"
	"github.com/powersync-jwks/jwks/internal/redirect"
)

// maxUserResponse bounds the body of an /auth/v1/user answer.
const maxUserResponse = 1 << 20

// A User is the signed-in Supabase user an [Authenticator] established, as
// its verified access token (or Supabase's /auth/v1/user) describes it.
type User struct {
	ID          string         // the user's UUID: "sub", and the PowerSync token's subject
	Role        string         // "role", normally "authenticated"
	Email       string         // "email", may be empty
	Phone       string         // "phone", may be empty
	IsAnonymous bool           // "is_anonymous": a Supabase anonymous sign-in
	SessionID   string         // "session_id"
	AAL         string         // "aal": authenticator assurance level, aal1 or aal2
	AppMetadata map[string]any // "app_metadata", set by the server only (unlike user_metadata, which users can edit: never authorise on it)
	Claims      *jwks.Claims   // all the claims of the access token

	clientID *string // "client_id", for the OAuth client policy
}

// userOf reads the user from the claims of an access token, by the claims'
// exact names.
func userOf(c *jwks.Claims) (*User, error) {
	u := &User{ID: c.Subject, Claims: c}
	for _, m := range []struct {
		name string
		dst  any
	}{
		{"role", &u.Role}, {"is_anonymous", &u.IsAnonymous}, {"session_id", &u.SessionID},
		{"email", &u.Email}, {"phone", &u.Phone}, {"aal", &u.AAL}, {"app_metadata", &u.AppMetadata},
		{"client_id", &u.clientID},
	} {
		if _, err := c.Get(m.name, m.dst); err != nil {
			return nil, fmt.Errorf("supabase: access token: %w: %v: %w", jwks.ErrMalformed, err, jwks.ErrUnauthenticated)
		}
	}
	return u, nil
}

// userResponse is what /auth/v1/user answers, as far as it is read.
type userResponse struct {
	ID          string         `json:"id"`
	Email       string         `json:"email"`
	Phone       string         `json:"phone"`
	IsAnonymous bool           `json:"is_anonymous"`
	AppMetadata map[string]any `json:"app_metadata"`
}

// confirm asks Supabase's /auth/v1/user whether the token is good, and
// updates u from the answer, which must be about the token's subject.
func (a *Authenticator) confirm(ctx context.Context, raw string, u *User) (err error) {
	ctx, cancel := context.WithTimeout(ctx, a.cfg.userTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.userURL, nil)
	if err != nil {
		return fmt.Errorf("supabase: building the /auth/v1/user request: %w", err)
	}
	req.Header.Set("apikey", a.cfg.apiKey)
	req.Header.Set("Authorization", "Bearer "+raw)
	req.Header.Set("Accept", "application/json")
	start := time.Now()
	status := 0 // of the answer, for the observer
	if a.cfg.observe != nil {
		defer func() { a.observeCall(start, status, err) }()
	}
	res, err := a.cfg.client.Do(req)
	if err != nil {
		// The error text of net/http names the URL, never the headers.
		return fmt.Errorf("supabase: /auth/v1/user: %w: %w", err, jwks.ErrUnavailable)
	}
	defer res.Body.Close()
	status = res.StatusCode
	body, err := io.ReadAll(io.LimitReader(res.Body, maxUserResponse))
	if err != nil {
		return fmt.Errorf("supabase: reading /auth/v1/user: %w: %w", err, jwks.ErrUnavailable)
	}
	a.log.Debug("supabase: /auth/v1/user answered", "status", res.StatusCode, "elapsed", time.Since(start))
	if err := redirect.Refused(res); err != nil {
		// Not followed: the apikey and the caller's token stay here.
		return fmt.Errorf("supabase: /auth/v1/user answered %w: %w", err, jwks.ErrUnavailable)
	}
	switch {
	case res.StatusCode == http.StatusOK:
	case res.StatusCode == http.StatusTooManyRequests || res.StatusCode >= 500:
		return fmt.Errorf("supabase: /auth/v1/user answered %d: %w", res.StatusCode, jwks.ErrUnavailable)
	default:
		// 401 and 403: a revoked session, a deleted or banned user, a
		// refused token. Supabase's error code says which, for the log.
		var gotrue struct {
			ErrorCode string `json:"error_code"`
		}
		_ = json.Unmarshal(body, &gotrue)
		return fmt.Errorf("supabase: /auth/v1/user answered %d %s: %w", res.StatusCode, quote.Value(gotrue.ErrorCode), jwks.ErrUnauthenticated)
	}
	var user userResponse
	if err := json.Unmarshal(body, &user); err != nil {
		return fmt.Errorf("supabase: /auth/v1/user answered something other than a user: %w", jwks.ErrUnavailable)
	}
	if user.ID == "" || user.ID != u.ID {
		return fmt.Errorf("supabase: /auth/v1/user answered for another user than the token's subject: %w", jwks.ErrUnauthenticated)
	}
	// The token's role stays: a custom access token hook may have set it,
	// and it is what the project's row level security sees.
	u.Email, u.Phone, u.IsAnonymous = user.Email, user.Phone, user.IsAnonymous
	if user.AppMetadata != nil {
		u.AppMetadata = user.AppMetadata
	}
	return nil
}
