package main

import (
	"log/slog"
	"net/http"
	"net/netip"

	"github.com/powersync-jwks/jwks/internal/clientaddr"
)

// accessLog returns the sink of the access log (-access-log): one INFO
// line "request" per answered request, with its method, route (the
// pattern, never the path, whose query could hold anything), status,
// duration, body size and client (named through -trusted-proxies as the
// rate limit names it). Headers are never logged: the Authorization header
// holds a token.
func accessLog(logger *slog.Logger, trusted []netip.Prefix) func(*http.Request, answer) {
	return func(r *http.Request, a answer) {
		client := "-"
		if addr := clientaddr.Of(r, trusted); addr.IsValid() {
			client = addr.String()
		}
		logger.LogAttrs(r.Context(), slog.LevelInfo, "request",
			slog.String("method", methodLabel(r.Method)),
			slog.String("route", a.route),
			slog.Int("status", a.status),
			slog.Float64("duration_ms", float64(a.duration.Microseconds())/1000),
			slog.Int64("bytes", a.bytes),
			slog.String("client", client),
		)
	}
}

// methodLabel is r.Method when it is a method of HTTP/1.1 or PATCH, and
// "other" for anything else: a method is any token a client sends, and
// neither a log line nor a metric label should carry a client's inventions.
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return m
	}
	return "other"
}
