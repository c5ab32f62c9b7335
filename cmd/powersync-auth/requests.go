package main

import (
	"net/http"
	"time"
)

// An answer is what the server records of one request it answered, for the
// access log and the metrics. It holds nothing of the request's headers or
// body: never a token.
type answer struct {
	route    string        // the route's pattern (Request.Pattern); routeUnknown for a path that is no route
	status   int           // the status written (200 when the handler wrote a body without one)
	bytes    int64         // the body bytes written
	duration time.Duration // from the start of the request to the end of its answer
}

// routeUnknown is the route of a request for a path that is not a route:
// one label for every such path, whose values are unbounded.
const routeUnknown = "unknown"

// instrument returns h (the server's mux) with each request it answers
// reported to every one of sinks, in order, on the request's goroutine
// once the answer is written. With no sink it returns h itself: the
// requests pay for nothing.
func instrument(h http.Handler, sinks ...func(*http.Request, answer)) http.Handler {
	if len(sinks) == 0 {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rw := &recordingWriter{ResponseWriter: w}
		h.ServeHTTP(rw, r) // the mux sets r.Pattern on r itself
		a := answer{route: r.Pattern, status: rw.status, bytes: rw.bytes, duration: time.Since(start)}
		if a.route == "" || a.route == "/" {
			a.route = routeUnknown
		}
		if a.status == 0 {
			a.status = http.StatusOK // nothing written: net/http answers 200
		}
		for _, sink := range sinks {
			sink(r, a)
		}
	})
}

// recordingWriter records the status and size of an answer.
type recordingWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

// WriteHeader records the first final status, and writes it.
func (w *recordingWriter) WriteHeader(status int) {
	if w.status == 0 && status >= 200 { // 1xx answers are interim
		w.status = status
	}
	w.ResponseWriter.WriteHeader(status)
}

// Write records the size of b (and status 200 when none was written), and
// writes it.
func (w *recordingWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the server's writer.
func (w *recordingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
