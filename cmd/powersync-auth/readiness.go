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
// Supabase is configured, once the project's JWKS has loaded: a replica
// that has never reached Supabase would answer every signed-in request
// with 503.
//
// Once loaded, the JWKS keeps the server ready even when later fetches
// fail, and even when the last good copy is over the key set's maximum
// staleness (an hour) and signed-in requests get 503 again: a load
// balancer that took every replica out then would also take away the JWKS,
// which PowerSync needs for the tokens it already holds, and the anonymous
// route, which need no Supabase. Supabase's state stays visible in the log
// and the metrics (supabase_jwks_usable). A key ring store that cannot be
// reached does not make the server unready either: it signs and serves the
// JWKS with the keys it has. /healthz stays the liveness check: 200 while
// the process serves.
type readiness struct {
	ks    *jwks.KeySet
	users *supabase.Authenticator // nil without Supabase
}

// A readinessState says whether the server is ready and, when it is not,
// why: a machine code and a text.
type readinessState struct {
	ready      bool
	code, text string
}

// check says whether the server is ready, and why not.
func (rd readiness) check() readinessState {
	switch {
	case rd.ks.SigningKey() == nil:
		return readinessState{code: "no_signing_key", text: "no signing key is loaded"}
	case rd.users != nil && rd.users.JWKS().LastFetch().IsZero():
		return readinessState{code: "supabase_jwks", text: "the Supabase project's JWKS has not loaded yet"}
	}
	return readinessState{ready: true}
}

// readyBody is the answer of /readyz when the server is ready.
var readyBody = []byte(`{"status":"ready"}` + "\n")

// ServeHTTP answers /readyz (see readiness) to GET and HEAD.
func (rd readiness) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !allowGetHead(w, r) {
		return
	}
	st := rd.check()
	if st.ready {
		writeJSON(w, r, http.StatusOK, readyBody)
		return
	}
	body, _ := json.Marshal(struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
		Reason      string `json:"reason"`
	}{"not_ready", st.text, st.code})
	writeJSON(w, r, http.StatusServiceUnavailable, append(body, '\n'))
}
