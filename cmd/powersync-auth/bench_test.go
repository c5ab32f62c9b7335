package main

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/powersync-jwks/jwks"
)

// BenchmarkObservation measures what metrics and the access log add to a
// request of the ready server, in process: the anonymous route (whose
// token of the second is signed once and handed to every caller, so that
// the observation is not lost in a signature) and the JWKS route, with
// nothing on, with -metrics-listen, and with -metrics-listen and
// -access-log (to a JSON logger that discards). Run with
//
//	go test -run '^$' -bench Observation -benchmem -count 6 ./cmd/powersync-auth
//
// and compare each route's rows: "off" is the floor.
func BenchmarkObservation(b *testing.B) {
	secret := newSecretKey(b, jwks.ES256).secret
	for _, mode := range []struct {
		name string
		args []string
	}{
		{"off", nil},
		{"metrics", []string{"-metrics-listen", "127.0.0.1:0"}},
		{"metrics+accesslog", []string{"-metrics-listen", "127.0.0.1:0", "-access-log"}},
	} {
		args := append([]string{"-anonymous", "-anonymous-burst", "0"}, mode.args...)
		c, err := parseConfig(args, envOf(map[string]string{envPrivateKey: secret, envPowerSyncURL: testPowerSyncURL}), io.Discard)
		require.NoError(b, err)
		logger := slog.New(slog.NewJSONHandler(io.Discard, nil))
		a, err := newApp(b.Context(), c, logger)
		require.NoError(b, err)
		b.Cleanup(a.close)
		for _, route := range []string{routeAuthAnonymous, routeJWKS} {
			b.Run(route[1:]+"/"+mode.name, func(b *testing.B) {
				req := httptest.NewRequest(http.MethodGet, route, nil)
				req.RemoteAddr = "192.0.2.1:1234"
				b.ReportAllocs()
				for b.Loop() {
					rec := httptest.NewRecorder()
					a.handler.ServeHTTP(rec, req)
					if rec.Code != http.StatusOK {
						b.Fatalf("status %d: %s", rec.Code, rec.Body)
					}
				}
			})
		}
	}
}
