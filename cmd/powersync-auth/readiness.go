package main

import (
	"encoding/json"
	"net/http"

	"github.com/powersync-jwks/jwks"
	"github.com/powersync-jwks/jwks/supabase"
)

// readiness answers GET /readyz: 200 {"status":"ready"} when the server can
// hand out tokens, and 503 with the error shape of every other answer when
// it cannot, saying why. It is ready when it has a signing key and, where
// Supabase is configured, when the project's JWKS has loaded and is not
// older than the key set's maximum staleness (after which signed-in
// requests get 503). A key ring store that cannot be reached does not make
// it unready: the server signs and serves the JWKS with the keys it has.
// /healthz stays the liveness check: 200 while the process serves.
type readiness struct {
	ks    *jwks.KeySet
	users *supabase.Authenticator // nil without Supabase
}

// notReady is why the server is not ready, as a machine code and a text;
// the zero value is ready.
type notReady struct{ code, text string }

// check says whether the server is ready, and why not.
func (rd readiness) check() notReady {
	if rd.ks.SigningKey() == nil {
		return notReady{"no_signing_key", "no signing key is loaded"}
	}
	if rd.users != nil {
		keys := rd.users.JWKS()
		switch {
		case keys.LastFetch().IsZero():
			return notReady{"supabase_jwks", "the Supabase project's JWKS has not loaded yet"}
		case !keys.Usable():
			return notReady{"supabase_jwks", "the Supabase project's JWKS could not be fetched for over an hour"}
		}
	}
	return notReady{}
}

var readyBody = []byte(`{"status":"ready"}` + "\n")

func (rd readiness) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", "use GET or HEAD")
		return
	}
	nr := rd.check()
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	body := readyBody
	status := http.StatusOK
	if nr.code != "" {
		status = http.StatusServiceUnavailable
		body, _ = json.Marshal(struct {
			Error       string `json:"error"`
			Description string `json:"error_description"`
			Reason      string `json:"reason"`
		}{"not_ready", nr.text, nr.code})
		body = append(body, '\n')
	}
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		w.Write(body) //nolint:errcheck // the client went away
	}
}
