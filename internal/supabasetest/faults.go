package supabasetest

import (
	"net/http"
	"time"
)

// An Endpoint names one endpoint of the server, for fault injection.
type Endpoint int

// The server's endpoints.
const (
	EndpointJWKS Endpoint = iota // GET /auth/v1/.well-known/jwks.json
	EndpointUser                 // GET /auth/v1/user

	endpointCount = iota
)

// String returns the endpoint's path.
func (e Endpoint) String() string {
	switch e {
	case EndpointJWKS:
		return "/auth/v1/.well-known/jwks.json"
	case EndpointUser:
		return "/auth/v1/user"
	}
	return "unknown endpoint"
}

// A Failure is how a down endpoint fails.
type Failure int

// The ways an endpoint can fail.
const (
	// NoFailure serves the endpoint normally.
	NoFailure Failure = iota
	// Unavailable answers 503 Service Unavailable with a JSON body, as the
	// gateway does when GoTrue is down.
	Unavailable
	// Hang never answers: the request waits until its context ends (the
	// client's timeout or cancellation) or the test ends.
	Hang
	// Reset closes the connection without an answer: the client sees a
	// transport error, not an HTTP status.
	Reset
)

// fault is the injected behaviour of one endpoint.
type fault struct {
	delay   time.Duration
	failure Failure
}

// SetDelay makes the endpoints (all of them when none is named) wait d
// before answering, or failing; zero removes the delay. A request whose
// context ends during the wait, or that is still waiting when the test
// ends, gets no answer.
func (s *Server) SetDelay(d time.Duration, endpoints ...Endpoint) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range orAll(endpoints) {
		s.faults[e].delay = d
	}
}

// SetFailure makes the endpoints (all of them when none is named) fail as
// f says, until Restore or SetFailure(NoFailure).
func (s *Server) SetFailure(f Failure, endpoints ...Endpoint) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range orAll(endpoints) {
		s.faults[e].failure = f
	}
}

// Restore brings the endpoints (all of them when none is named) back up:
// no delay, no failure.
func (s *Server) Restore(endpoints ...Endpoint) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range orAll(endpoints) {
		s.faults[e] = fault{}
	}
}

// JWKSRequests returns how many requests reached the JWKS endpoint, failed
// and delayed ones included.
func (s *Server) JWKSRequests() int { return int(s.requests[EndpointJWKS].Load()) }

// UserRequests returns how many requests reached the /user endpoint, failed
// and delayed ones included.
func (s *Server) UserRequests() int { return int(s.requests[EndpointUser].Load()) }

// orAll returns endpoints, or every endpoint when there is none.
func orAll(endpoints []Endpoint) []Endpoint {
	if len(endpoints) > 0 {
		return endpoints
	}
	all := make([]Endpoint, endpointCount)
	for i := range all {
		all[i] = Endpoint(i)
	}
	return all
}

// endpoint wraps the handler of e with its counter and its faults.
func (s *Server) endpoint(e Endpoint, serve http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.requests[e].Add(1)
		s.mu.Lock()
		f := s.faults[e]
		s.mu.Unlock()

		if f.delay > 0 {
			timer := time.NewTimer(f.delay)
			select {
			case <-timer.C:
			case <-r.Context().Done():
				timer.Stop()
				panic(http.ErrAbortHandler)
			case <-s.closing:
				timer.Stop()
				panic(http.ErrAbortHandler)
			}
		}
		switch f.failure {
		case Unavailable:
			writeJSON(w, http.StatusServiceUnavailable, gatewayError{Message: "Service Unavailable"})
			return
		case Hang:
			select {
			case <-r.Context().Done():
			case <-s.closing:
			}
			panic(http.ErrAbortHandler) // no answer, not an empty 200
		case Reset:
			if hj, ok := w.(http.Hijacker); ok {
				if conn, _, err := hj.Hijack(); err == nil {
					_ = conn.Close()
					return
				}
			}
			panic(http.ErrAbortHandler) // aborts the response without an answer
		}
		serve(w, r)
	})
}
