package supabasetest

import (
	"encoding/json"
	"maps"
	"strings"
	"time"
)

// A User is a snapshot of one of the project's users. It is the caller's
// copy: changing it changes nothing on the server.
type User struct {
	ID           string         // a random UUID, the sub of the user's tokens
	Email        string         // lowercased, as GoTrue stores it; "" for anonymous users
	Phone        string         // "" unless set with Phone
	AppMetadata  map[string]any // {"provider":"email","providers":["email"]} by default
	UserMetadata map[string]any // user-editable: never authorise on it
	IsAnonymous  bool           // made by NewAnonymousUser (signInAnonymously)
	CreatedAt    time.Time
}

// A UserOption configures NewUser and NewAnonymousUser.
type UserOption func(*User)

// UserID sets the user's ID (a UUID; GoTrue refuses a token whose sub is
// not one). The default is a random UUID.
func UserID(id string) UserOption { return func(u *User) { u.ID = id } }

// Email sets the user's email. The default is a random address at
// example.com.
func Email(email string) UserOption { return func(u *User) { u.Email = strings.ToLower(email) } }

// Phone sets the user's phone number, digits without "+" as GoTrue stores
// them.
func Phone(phone string) UserOption { return func(u *User) { u.Phone = phone } }

// AppMetadata sets the user's app_metadata, replacing the default.
func AppMetadata(m map[string]any) UserOption { return func(u *User) { u.AppMetadata = m } }

// UserMetadata sets the user's user_metadata.
func UserMetadata(m map[string]any) UserOption { return func(u *User) { u.UserMetadata = m } }

// userRecord is the server's state of a user.
type userRecord struct {
	user        User
	lastSignIn  time.Time // zero before the first session
	bannedUntil time.Time // zero when not banned
}

// NewUser adds a user signed up with email and password (confirmed), and
// returns a copy of it.
func (s *Server) NewUser(opts ...UserOption) *User {
	s.t.Helper()
	u := User{
		ID:           newUUID(),
		Email:        "user-" + newUUID()[:8] + "@example.com",
		AppMetadata:  map[string]any{"provider": "email", "providers": []any{"email"}},
		UserMetadata: map[string]any{},
	}
	return s.addUser(u, opts)
}

// NewAnonymousUser adds a user made by signInAnonymously: is_anonymous
// true, no email, no identity, empty app_metadata, and yet a real user with
// role and aud authenticated.
func (s *Server) NewAnonymousUser(opts ...UserOption) *User {
	s.t.Helper()
	u := User{
		ID:           newUUID(),
		AppMetadata:  map[string]any{},
		UserMetadata: map[string]any{},
		IsAnonymous:  true,
	}
	return s.addUser(u, opts)
}

// addUser applies opts to u and stores a copy.
func (s *Server) addUser(u User, opts []UserOption) *User {
	s.t.Helper()
	for _, opt := range opts {
		opt(&u)
	}
	for _, m := range []map[string]any{u.AppMetadata, u.UserMetadata} {
		if _, err := json.Marshal(m); err != nil {
			s.t.Fatalf("supabasetest: metadata is not JSON: %v", err)
			return nil
		}
	}
	u.CreatedAt = s.now().UTC()
	u = u.clone()
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.users[u.ID]; ok {
		s.t.Fatalf("supabasetest: a user with ID %s already exists", u.ID)
		return nil
	}
	s.users[u.ID] = &userRecord{user: u}
	c := u.clone()
	return &c
}

// User returns a copy of the user with id, if it exists.
func (s *Server) User(id string) (*User, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, ok := s.users[id]
	if !ok {
		return nil, false
	}
	u := rec.user.clone()
	return &u, true
}

// DeleteUser deletes a user and its sessions, as the admin API's hard
// delete does. Its tokens still verify locally until they expire, but /user
// answers 403 user_not_found.
func (s *Server) DeleteUser(id string) {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.users[id]; !ok {
		s.t.Fatalf("supabasetest: DeleteUser(%q): no such user", id)
		return
	}
	delete(s.users, id)
	for sid, uid := range s.sessions {
		if uid == id {
			delete(s.sessions, sid)
		}
	}
}

// BanUser bans a user for d (ban_duration in the admin API). Its sessions
// stay, but /user answers 403 user_banned while the ban lasts, as GoTrue
// does since supabase/auth#2642 (older GoTrue answered 200).
func (s *Server) BanUser(id string, d time.Duration) {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, ok := s.users[id]
	if !ok {
		s.t.Fatalf("supabasetest: BanUser(%q): no such user", id)
		return
	}
	rec.bannedUntil = s.now().Add(d).UTC()
}

// UnbanUser lifts a ban (ban_duration "none").
func (s *Server) UnbanUser(id string) {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, ok := s.users[id]
	if !ok {
		s.t.Fatalf("supabasetest: UnbanUser(%q): no such user", id)
		return
	}
	rec.bannedUntil = time.Time{}
}

// A Session is one sign-in of a user: its access tokens carry its ID as
// session_id, and revoking it makes /user refuse them.
type Session struct {
	s          *Server
	id         string
	userID     string
	user       User      // the user at sign-in, for tokens minted after a deletion
	signedInAt time.Time // the amr timestamp
}

// ID returns the session's ID, a UUID.
func (sess *Session) ID() string { return sess.id }

// UserID returns the ID of the signed-in user.
func (sess *Session) UserID() string { return sess.userID }

// AccessToken mints an access token of the session, shaped as GoTrue's
// from the user's current state (or its last one if it was deleted).
func (sess *Session) AccessToken(opts ...TokenOption) string {
	sess.s.t.Helper()
	return sess.s.accessToken(sess, opts)
}

// SignIn starts a session of u (password sign-in, or anonymous sign-in for
// an anonymous user), as a sign-in does.
func (s *Server) SignIn(u *User) *Session {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, ok := s.users[u.ID]
	if !ok {
		s.t.Fatalf("supabasetest: SignIn: no user with ID %s", u.ID)
		return nil
	}
	rec.lastSignIn = s.now().UTC()
	id := newUUID()
	s.sessions[id] = u.ID
	return &Session{s: s, id: id, userID: u.ID, user: rec.user.clone(), signedInAt: rec.lastSignIn}
}

// Token signs u in and returns an access token of the new session: the
// shorthand of SignIn(u).AccessToken(opts...).
func (s *Server) Token(u *User, opts ...TokenOption) string {
	s.t.Helper()
	return s.SignIn(u).AccessToken(opts...)
}

// RevokeSession ends a session (a sign-out, or a revocation by an
// administrator): its tokens still verify locally until they expire, but
// /user answers 403 session_not_found. An unknown ID is ignored, as
// revoking twice is.
func (s *Server) RevokeSession(sessionID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.sessions, sessionID)
}

// SignOut ends every session of a user, as a global sign-out does.
func (s *Server) SignOut(userID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for sid, uid := range s.sessions {
		if uid == userID {
			delete(s.sessions, sid)
		}
	}
}

// clone returns a deep copy of u. Metadata goes through JSON, as GoTrue
// stores it, so numbers come back as float64.
func (u User) clone() User {
	u.AppMetadata = cloneJSON(u.AppMetadata)
	u.UserMetadata = cloneJSON(u.UserMetadata)
	return u
}

// cloneJSON deep-copies a JSON object (addUser checked that it is one);
// nil stays nil.
func cloneJSON(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	b, err := json.Marshal(m)
	if err != nil {
		return maps.Clone(m) // unreachable: keep what can be kept
	}
	var out map[string]any
	if json.Unmarshal(b, &out) != nil {
		return maps.Clone(m)
	}
	return out
}
