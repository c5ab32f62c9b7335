package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/powersync-jwks/jwks"
	"github.com/powersync-jwks/jwks/internal/supabasetest"
	"github.com/powersync-jwks/jwks/internal/testkit"
)

// scraped is one scrape of /metrics: its families, and the text they were
// parsed from.
type scraped struct {
	families map[string]*dto.MetricFamily
	text     string
}

// startWithMetrics runs the command as startRun does, with a metrics
// listener on a free loopback port, and returns the URL of its /metrics.
func startWithMetrics(t testing.TB, env map[string]string, args ...string) (*running, string) {
	t.Helper()
	r := startRun(t, env, append([]string{"-metrics-listen", "127.0.0.1:0"}, args...)...)
	rec := findRecord(t, r.logs.String(), "metrics listening")
	assert.Equal(t, routeMetrics, rec["path"])
	addr, _ := rec["addr"].(string)
	require.NotEmpty(t, addr, "the metrics listener's address")
	return r, "http://" + addr + routeMetrics
}

// scrape gets url and parses it as the Prometheus text format.
func scrape(t testing.TB, url string) scraped {
	t.Helper()
	res := do(t, "GET", url)
	require.Equal(t, http.StatusOK, res.status, "%s", res.body)
	require.True(t, strings.HasPrefix(res.header.Get("Content-Type"), "text/plain; version=0.0.4"), res.header.Get("Content-Type"))
	p := expfmt.NewTextParser(model.LegacyValidation) // every name is a classic one
	families, err := p.TextToMetricFamilies(bytes.NewReader(res.body))
	require.NoError(t, err, "%s", res.body)
	return scraped{families: families, text: string(res.body)}
}

// series returns the samples of the metric family name, keyed by their
// labels ("code=200,route=/healthz", sorted; "" for none): the value of a
// counter or gauge, the sample count of a histogram. It is nil when the
// family is absent.
func (s scraped) series(name string) map[string]float64 {
	mf := s.families[name]
	if mf == nil {
		return nil
	}
	out := map[string]float64{}
	for _, m := range mf.GetMetric() {
		var labels []string
		for _, lp := range m.GetLabel() {
			labels = append(labels, lp.GetName()+"="+lp.GetValue())
		}
		sort.Strings(labels)
		key := strings.Join(labels, ",")
		switch {
		case m.Counter != nil:
			out[key] = m.GetCounter().GetValue()
		case m.Gauge != nil:
			out[key] = m.GetGauge().GetValue()
		case m.Histogram != nil:
			out[key] = float64(m.GetHistogram().GetSampleCount())
		case m.Untyped != nil:
			out[key] = m.GetUntyped().GetValue()
		}
	}
	return out
}

// value returns the sample of name with exactly the labels given
// ("name=value", sorted), failing the test when there is none.
func (s scraped) value(t testing.TB, name string, labels ...string) float64 {
	t.Helper()
	v, ok := s.series(name)[strings.Join(labels, ",")]
	require.True(t, ok, "no sample %s{%s} in:\n%s", name, strings.Join(labels, ","), s.series(name))
	return v
}

// requests is the number of requests the main listener has counted.
func (s scraped) requests() int {
	n := 0.0
	for _, v := range s.series("powersync_auth_http_requests_total") {
		n += v
	}
	return int(n)
}

// scrapeAfter scrapes url once the main listener has counted n requests.
// A request is counted after its handler returns; its client may have its
// answer by then (a handler that flushes, an answer over the buffer's
// size), so the counts are waited for, then compared exactly.
func scrapeAfter(t testing.TB, url string, n int) scraped {
	t.Helper()
	var s scraped
	waitFor(t, 5*time.Second, "the requests to be counted", func() bool {
		s = scrape(t, url)
		return s.requests() >= n
	})
	require.Equal(t, n, s.requests(), "requests counted: %v", s.series("powersync_auth_http_requests_total"))
	return s
}

// TestMetrics runs the server with a static key, the anonymous route and
// metrics, through a scripted sequence, and checks each count of /metrics.
func TestMetrics(t *testing.T) {
	signing := newSecretKey(t, jwks.ES256)
	env := map[string]string{envPrivateKey: signing.secret, envPowerSyncURL: testPowerSyncURL}
	r, metricsURL := startWithMetrics(t, env, "-anonymous", "-anonymous-burst", "3", "-anonymous-every", "1h")

	var tokens []string
	for range 3 {
		tokens = append(tokens, do(t, "GET", r.url+routeAuthAnonymous).tokenBody(t).Token)
	}
	assert.Equal(t, http.StatusTooManyRequests, do(t, "POST", r.url+routeAuthAnonymous).status)
	assert.Equal(t, http.StatusMethodNotAllowed, do(t, "PUT", r.url+routeAuthAnonymous).status)
	first := do(t, "GET", r.url+routeJWKS)
	require.Equal(t, http.StatusOK, first.status)
	require.NotEmpty(t, first.header.Get("ETag"))
	assert.Equal(t, http.StatusNotModified, do(t, "GET", r.url+routeJWKS, "If-None-Match: "+first.header.Get("ETag")).status)
	assert.Equal(t, http.StatusMethodNotAllowed, do(t, "POST", r.url+routeJWKS).status)
	assert.Equal(t, http.StatusOK, do(t, "GET", r.url+routeJWKSFunction).status)
	assert.Equal(t, http.StatusNotFound, do(t, "GET", r.url+"/nope?token="+tokens[0]).status)
	assert.Equal(t, http.StatusNotFound, do(t, "BREW", r.url+"/coffee").status)
	assert.Equal(t, http.StatusNotFound, do(t, "GET", r.url+routeMetrics).status, "/metrics is not on the main listener")
	assert.Equal(t, http.StatusOK, do(t, "GET", r.url+routeHealth).status)
	assert.Equal(t, http.StatusOK, do(t, "GET", r.url+routeReady).status)

	s := scrapeAfter(t, metricsURL, 14)
	anon, wellKnown := "route="+routeAuthAnonymous, "route="+routeJWKS
	assert.Equal(t, map[string]float64{
		"code=200,method=GET," + anon:                    3,
		"code=429,method=POST," + anon:                   1,
		"code=405,method=PUT," + anon:                    1,
		"code=200,method=GET," + wellKnown:               1,
		"code=304,method=GET," + wellKnown:               1,
		"code=405,method=POST," + wellKnown:              1,
		"code=200,method=GET,route=" + routeJWKSFunction: 1,
		"code=404,method=GET,route=unknown":              2,
		"code=404,method=other,route=unknown":            1,
		"code=200,method=GET,route=" + routeHealth:       1,
		"code=200,method=GET,route=" + routeReady:        1,
	}, s.series("powersync_auth_http_requests_total"))
	assert.Equal(t, map[string]float64{
		anon: 5, wellKnown: 3, "route=" + routeJWKSFunction: 1, "route=unknown": 3, "route=" + routeHealth: 1, "route=" + routeReady: 1,
	}, s.series("powersync_auth_http_request_duration_seconds"))
	assert.Equal(t, map[string]float64{anon: 3}, s.series("powersync_auth_tokens_issued_total"))
	assert.Equal(t, map[string]float64{
		"reason=rate_limited," + anon:       1,
		"reason=method_not_allowed," + anon: 1,
	}, s.series("powersync_auth_tokens_refused_total"))
	assert.Equal(t, map[string]float64{"code=200": 2, "code=304": 1, "code=405": 1}, s.series("powersync_auth_jwks_responses_total"))

	assert.Equal(t, map[string]float64{"alg=ES256,kid=" + signing.key.KeyID(): 1}, s.series("powersync_auth_signing_key_info"))
	assert.Equal(t, map[string]float64{"": 1}, s.series("powersync_auth_ready"))
	info := s.series("powersync_auth_build_info")
	require.Len(t, info, 1)
	for labels, v := range info {
		assert.Equal(t, 1.0, v)
		assert.Contains(t, labels, "goversion="+runtime.Version())
		assert.Regexp(t, `version=\S+`, labels)
	}
	for _, name := range []string{"go_goroutines", "go_memstats_alloc_bytes", "process_cpu_seconds_total", "process_open_fds"} {
		assert.Contains(t, s.families, name, "the Go and process collectors")
	}
	for name := range s.families {
		assert.False(t, strings.HasPrefix(name, "powersync_auth_keyring_") || strings.HasPrefix(name, "powersync_auth_supabase_"),
			"%s: no key ring, no Supabase", name)
	}
	assert.NotContains(t, s.families, "powersync_auth_signing_key_age_seconds", "the age of POWERSYNC_PRIVATE_KEY is not known")

	secrets := append([]string{signing.secret}, signing.private...)
	for _, tok := range tokens {
		secrets = append(secrets, tok, tok[strings.LastIndexByte(tok, '.')+1:])
	}
	requireNoSecrets(t, s.text, secrets...)
	assert.NotContains(t, s.text, "/nope", "never a path")
	assert.NotContains(t, s.text, "BREW", "never a client's method")

	// The metrics listener serves /metrics alone.
	base := strings.TrimSuffix(metricsURL, routeMetrics)
	for _, path := range []string{"/", routeHealth, routeJWKS, routeMetrics + "/x"} {
		res := do(t, "GET", base+path)
		assert.Equal(t, http.StatusNotFound, res.status, path)
		assert.Equal(t, "not_found", res.errorCode(t), path)
	}
	post := do(t, "POST", metricsURL)
	assert.Equal(t, http.StatusMethodNotAllowed, post.status)
	assert.Equal(t, "method_not_allowed", post.errorCode(t))
	assert.Equal(t, http.StatusOK, do(t, "HEAD", metricsURL).status)
	assert.Equal(t, 14, scrape(t, metricsURL).requests(), "the metrics listener's requests are not counted")

	assert.Equal(t, exitOK, r.stop())
	findRecord(t, r.logs.String(), "stopped")
	_, err := http.Get(metricsURL) //nolint:bodyclose // it fails
	assert.Error(t, err, "the metrics listener is closed")
}

// TestMetricsSupabase checks the counts of signed-in requests in strict
// mode: tokens issued and refused by reason, the calls to /auth/v1/user by
// status, and the fetches of the project's JWKS, one of which fails.
func TestMetricsSupabase(t *testing.T) {
	sb := supabasetest.New(t, supabasetest.WithJWKSETag())
	alice, bob := sb.NewUser(), sb.NewUser()
	env := map[string]string{
		envPrivateKey:   newSecretKey(t, jwks.ES256).secret,
		envPowerSyncURL: testPowerSyncURL,
		envSupabaseURL:  sb.URL(),
		envAnonKey:      sb.PublishableKey(),
	}
	r, metricsURL := startWithMetrics(t, env, "-supabase-strict")
	waitFor(t, 10*time.Second, "the Supabase JWKS to load", func() bool {
		return scrape(t, metricsURL).value(t, "powersync_auth_ready") == 1
	})

	bearer := func(token string) string { return "Authorization: Bearer " + token }
	assert.Equal(t, http.StatusUnauthorized, do(t, "GET", r.url+routeAuth).status)
	assert.Equal(t, http.StatusUnauthorized, do(t, "GET", r.url+routeAuth, bearer(sb.Token(alice, supabasetest.Expired()))).status)
	do(t, "GET", r.url+routeAuth, bearer(sb.Token(alice))).tokenBody(t)
	bobToken := sb.Token(bob)
	do(t, "POST", r.url+routeAuth, bearer(bobToken)).tokenBody(t)

	sb.SetFailure(supabasetest.Unavailable, supabasetest.EndpointUser)
	assert.Equal(t, http.StatusServiceUnavailable, do(t, "GET", r.url+routeAuth, bearer(sb.Token(alice))).status)
	sb.Restore()
	sb.SignOut(bob.ID)
	assert.Equal(t, http.StatusUnauthorized, do(t, "GET", r.url+routeAuth, bearer(bobToken)).status, "signed out")

	// A token of a key the server has not seen makes it fetch the JWKS
	// again: failing while the JWKS is down, 304 once it is back.
	sb.SetFailure(supabasetest.Unavailable, supabasetest.EndpointJWKS)
	assert.Equal(t, http.StatusServiceUnavailable, do(t, "GET", r.url+routeAuth, bearer(sb.Token(alice, supabasetest.SignedByUnknownKey()))).status)
	sb.Restore()
	assert.Equal(t, http.StatusUnauthorized, do(t, "GET", r.url+routeAuth, bearer(sb.Token(alice, supabasetest.SignedByUnknownKey()))).status)

	s := scrapeAfter(t, metricsURL, 8)
	route := "route=" + routeAuth
	assert.Equal(t, map[string]float64{route: 2}, s.series("powersync_auth_tokens_issued_total"))
	assert.Equal(t, map[string]float64{
		"reason=no_credentials," + route:  1,
		"reason=expired," + route:         1,
		"reason=unavailable," + route:     2,
		"reason=unauthenticated," + route: 1,
		"reason=unknown_key," + route:     1,
	}, s.series("powersync_auth_tokens_refused_total"))
	// Only the tokens that verify are checked with Supabase.
	assert.Equal(t, map[string]float64{
		"cause=strict,code=200": 2,
		"cause=strict,code=503": 1,
		"cause=strict,code=403": 1,
	}, s.series("powersync_auth_supabase_user_calls_total"))
	assert.Equal(t, map[string]float64{"cause=strict": 4}, s.series("powersync_auth_supabase_user_call_duration_seconds"))
	assert.Equal(t, 4, sb.UserRequests())
	assert.Equal(t, map[string]float64{"result=loaded": 1, "result=not_modified": 1, "result=failed": 1},
		s.series("powersync_auth_supabase_jwks_fetches_total"))
	assert.Equal(t, 3.0, s.value(t, "powersync_auth_supabase_jwks_fetch_duration_seconds"))
	assert.Equal(t, 3, sb.JWKSRequests())
	assert.Equal(t, float64(len(sb.PublishedKeyIDs())), s.value(t, "powersync_auth_supabase_jwks_keys"))
	assert.Equal(t, 1.0, s.value(t, "powersync_auth_supabase_jwks_usable"))
	assert.Equal(t, 1.0, s.value(t, "powersync_auth_ready"))
	requireNoSecrets(t, s.text, sb.PublishableKey(), sb.Token(alice))
}

// TestMetricsReady starts with the Supabase JWKS down: the ready gauge and
// the usability of the JWKS are 0, and turn 1 once it loads. An HS256
// token, without SUPABASE_JWT_SECRET, is a call to /auth/v1/user.
func TestMetricsReady(t *testing.T) {
	sb := supabasetest.New(t)
	alice := sb.NewUser()
	sb.SetFailure(supabasetest.Unavailable, supabasetest.EndpointJWKS)
	env := map[string]string{
		envPrivateKey:   newSecretKey(t, jwks.ES256).secret,
		envPowerSyncURL: testPowerSyncURL,
		envSupabaseURL:  sb.URL(),
		envAnonKey:      sb.AnonKey(),
	}
	r, metricsURL := startWithMetrics(t, env)
	waitFor(t, 10*time.Second, "a failed fetch", func() bool {
		return scrape(t, metricsURL).value(t, "powersync_auth_supabase_jwks_fetches_total", "result=failed") >= 1
	})
	s := scrape(t, metricsURL)
	assert.Equal(t, 0.0, s.value(t, "powersync_auth_ready"))
	assert.Equal(t, 0.0, s.value(t, "powersync_auth_supabase_jwks_usable"))
	assert.Equal(t, 0.0, s.value(t, "powersync_auth_supabase_jwks_keys"))
	assert.Equal(t, http.StatusServiceUnavailable, do(t, "GET", r.url+routeReady).status)

	sb.Restore()
	waitFor(t, 10*time.Second, "the signed-in route to recover", func() bool {
		return do(t, "GET", r.url+routeAuth, "Authorization: Bearer "+sb.Token(alice)).status == http.StatusOK
	})
	s = scrape(t, metricsURL)
	assert.Equal(t, 1.0, s.value(t, "powersync_auth_ready"))
	assert.Equal(t, 1.0, s.value(t, "powersync_auth_supabase_jwks_usable"))
	assert.Equal(t, 1.0, s.value(t, "powersync_auth_supabase_jwks_fetches_total", "result=loaded"))

	do(t, "GET", r.url+routeAuth, "Authorization: Bearer "+sb.Token(alice, supabasetest.SignedWith(supabasetest.HS256))).tokenBody(t)
	waitFor(t, 5*time.Second, "the HS256 request to be counted", func() bool {
		return len(scrape(t, metricsURL).series("powersync_auth_supabase_user_calls_total")) > 0
	})
	s = scrape(t, metricsURL)
	assert.Equal(t, map[string]float64{"cause=hs256,code=200": 1}, s.series("powersync_auth_supabase_user_calls_total"))
	assert.Equal(t, map[string]float64{"cause=hs256": 1}, s.series("powersync_auth_supabase_user_call_duration_seconds"))
}

// TestMetricsKeyRing runs the server on a key ring file and changes the
// ring under it with the keys subcommands: the gauges follow the ring as
// the server reads it, while the events counted are the server's own (the
// first key), not the subcommands'. A ring file others may read fails the
// refreshes until its mode is fixed.
func TestMetricsKeyRing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ring.json")
	env := map[string]string{"POWERSYNC_AUTH_STORE": path}
	started := time.Now()
	r, metricsURL := startWithMetrics(t, env, append([]string{"-anonymous", "-anonymous-burst", "0"}, fastRing...)...)
	first := kidsOf(listKeys(t, env), "active")
	require.Len(t, first, 1)

	s := scrape(t, metricsURL)
	events := func(staged, promoted, retired, failed, recovered float64) map[string]float64 {
		return map[string]float64{
			"type=staged": staged, "type=imported": 0, "type=promoted": promoted, "type=retired": retired,
			"type=revoked": 0, "type=removed": 0, "type=refresh_failed": failed, "type=refresh_recovered": recovered,
		}
	}
	ringKeys := func(next, active, retired float64) map[string]float64 {
		return map[string]float64{"state=next": next, "state=active": active, "state=retired": retired, "state=revoked": 0}
	}
	assert.Equal(t, events(1, 1, 0, 0, 0), s.series("powersync_auth_keyring_events_total"), "the first key: staged as the active key")
	assert.Equal(t, ringKeys(0, 1, 0), s.series("powersync_auth_keyring_keys"))
	assert.Equal(t, map[string]float64{"alg=ES256,kid=" + first[0]: 1}, s.series("powersync_auth_signing_key_info"))
	age := s.value(t, "powersync_auth_signing_key_age_seconds")
	assert.GreaterOrEqual(t, age, 0.0)
	assert.LessOrEqual(t, age, time.Since(started).Seconds())
	last := s.value(t, "powersync_auth_keyring_last_refresh_timestamp_seconds")
	assert.InDelta(t, float64(time.Now().Unix()), last, float64(time.Since(started)/time.Second)+2)
	assert.Equal(t, 1.0, s.value(t, "powersync_auth_ready"))

	res := runKeysCmd(t, env, append([]string{"stage"}, fastRing...)...)
	require.Equal(t, exitOK, res.code, res.stderr)
	waitFor(t, 5*time.Second, "the next key in the gauge", func() bool {
		return scrape(t, metricsURL).value(t, "powersync_auth_keyring_keys", "state=next") == 1
	})
	next := kidsOf(listKeys(t, env), "next")
	require.Len(t, next, 1)
	res = runKeysCmd(t, env, append([]string{"promote", "-force"}, fastRing...)...)
	require.Equal(t, exitOK, res.code, res.stderr)
	waitFor(t, 5*time.Second, "the promoted key in the gauge", func() bool {
		_, ok := scrape(t, metricsURL).series("powersync_auth_signing_key_info")["alg=ES256,kid="+next[0]]
		return ok
	})
	s = scrape(t, metricsURL)
	assert.Equal(t, events(1, 1, 0, 0, 0), s.series("powersync_auth_keyring_events_total"), "the subcommands' changes are theirs to report")
	assert.Equal(t, ringKeys(0, 1, 1), s.series("powersync_auth_keyring_keys"))
	assert.Len(t, s.series("powersync_auth_signing_key_info"), 1)

	// A file others may read is refused: the server signs on, ready, and
	// counts one failure until the mode is fixed.
	require.NoError(t, os.Chmod(path, 0o644))
	waitFor(t, 10*time.Second, "a refresh failure", func() bool {
		return scrape(t, metricsURL).value(t, "powersync_auth_keyring_events_total", "type=refresh_failed") == 1
	})
	assert.Equal(t, 1.0, scrape(t, metricsURL).value(t, "powersync_auth_ready"), "a store out of reach does not make the server unready")
	fixed := time.Now()
	require.NoError(t, os.Chmod(path, 0o600))
	waitFor(t, 10*time.Second, "the recovery", func() bool {
		return scrape(t, metricsURL).value(t, "powersync_auth_keyring_events_total", "type=refresh_recovered") == 1
	})
	s = scrape(t, metricsURL)
	assert.Equal(t, events(1, 1, 0, 1, 1), s.series("powersync_auth_keyring_events_total"))
	assert.GreaterOrEqual(t, s.value(t, "powersync_auth_keyring_last_refresh_timestamp_seconds"), float64(fixed.UnixNano())/1e9-1)
	assert.Equal(t, exitOK, r.stop())
}

// TestMetricsRotation lets the server rotate its key itself, in seconds:
// the staging, promotion and retirement are its events.
func TestMetricsRotation(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ring.json")
	env := map[string]string{"POWERSYNC_AUTH_STORE": path}
	// Publish-ahead 3s: a next key at 3s, promoted at 6s, the next one staged at 9s.
	_, metricsURL := startWithMetrics(t, env, append([]string{"-rotate-every", "6s"}, fastRing...)...)
	first := kidsOf(listKeys(t, env), "active")
	require.Len(t, first, 1)

	var s scraped
	waitFor(t, 20*time.Second, "the rotation", func() bool {
		s = scrape(t, metricsURL)
		return s.value(t, "powersync_auth_keyring_events_total", "type=promoted") == 2
	})
	ev := s.series("powersync_auth_keyring_events_total")
	// The successor's successor is staged 3 s after the promotion: a
	// scrape that came late on a loaded machine may see it too.
	staged := ev["type=staged"]
	assert.Contains(t, []float64{2, 3}, staged, "the first key, its successor, and maybe the next one")
	assert.Equal(t, 2.0, ev["type=promoted"])
	assert.Equal(t, 1.0, ev["type=retired"])
	assert.Equal(t, map[string]float64{"state=next": staged - 2, "state=active": 1, "state=retired": 1, "state=revoked": 0},
		s.series("powersync_auth_keyring_keys"), "a next key for each staging after the two promoted keys")
	info := s.series("powersync_auth_signing_key_info")
	require.Len(t, info, 1)
	assert.NotContains(t, info, "alg=ES256,kid="+first[0], "the successor signs")
	assert.Less(t, s.value(t, "powersync_auth_signing_key_age_seconds"), 6.0, "the successor's age, not the first key's")
	keys := listKeys(t, env)
	assert.Contains(t, info, "alg=ES256,kid="+kidsOf(keys, "active")[0])
	assert.Equal(t, first, kidsOf(keys, "retired"))
}

// TestMetricsFunctionsPaths checks that each route is counted under its
// own pattern, each token route from 0, and that the access log and the
// metrics see the same requests.
func TestMetricsFunctionsPaths(t *testing.T) {
	env := map[string]string{envPrivateKey: newSecretKey(t, jwks.ES256).secret, envPowerSyncURL: testPowerSyncURL}
	r, metricsURL := startWithMetrics(t, env, "-anonymous", "-functions-paths", "-access-log")
	do(t, "GET", r.url+functionsPrefix+routeAuthAnonymous).tokenBody(t)
	assert.Equal(t, http.StatusOK, do(t, "GET", r.url+functionsPrefix+routeJWKSFunction).status)

	s := scrapeAfter(t, metricsURL, 2)
	assert.Equal(t, map[string]float64{
		"route=" + routeAuthAnonymous:                   0,
		"route=" + functionsPrefix + routeAuthAnonymous: 1,
	}, s.series("powersync_auth_tokens_issued_total"))
	assert.Equal(t, map[string]float64{
		"code=200,method=GET,route=" + functionsPrefix + routeAuthAnonymous: 1,
		"code=200,method=GET,route=" + functionsPrefix + routeJWKSFunction:  1,
	}, s.series("powersync_auth_http_requests_total"))
	waitFor(t, 5*time.Second, "the access log", func() bool {
		return strings.Count(r.logs.String(), `"msg":"request"`) == 2
	})
}

// TestMetricsOff checks that without -metrics-listen there are no metrics:
// no observer, no wrapper around the routes, no listener, nothing logged.
func TestMetricsOff(t *testing.T) {
	sb := supabasetest.New(t)
	s := newTestServer(t, map[string]string{envSupabaseURL: sb.URL()}, "-anonymous")
	assert.Nil(t, s.app.metrics)
	assert.IsType(t, &http.ServeMux{}, s.app.handler, "the mux itself: no instrument wrapper")

	r := startRun(t, map[string]string{envPrivateKey: newSecretKey(t, jwks.ES256).secret}, "-anonymous")
	assert.Equal(t, http.StatusNotFound, do(t, "GET", r.url+routeMetrics).status)
	assert.Equal(t, exitOK, r.stop())
	for _, rec := range jsonRecords(t, r.logs.String()) {
		msg, _ := rec["msg"].(string)
		assert.NotContains(t, strings.ToLower(msg), "metrics", "%v", rec)
	}

	with := newTestServer(t, nil, "-metrics-listen", "127.0.0.1:0")
	assert.NotNil(t, with.app.metrics)
	assert.NotContains(t, with.logs.String(), "metrics listening", "newApp listens on nothing: run does")
}

// TestMetricsListenFailures checks that -metrics-listen on the address of
// -listen is a bad configuration (status 2), and a metrics address in use
// a failure to listen (status 1), as for the main listener.
func TestMetricsListenFailures(t *testing.T) {
	env := envOf(map[string]string{envPrivateKey: newSecretKey(t, jwks.ES256).secret})
	var stderr bytes.Buffer
	code := run(t.Context(), []string{"-listen", "127.0.0.1:8091", "-metrics-listen", "127.0.0.1:8091"}, env, io.Discard, &stderr)
	assert.Equal(t, exitConfig, code)
	assert.Contains(t, stderr.String(), "-metrics-listen is the address of -listen: /metrics needs a listener of its own")

	busy, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer busy.Close()
	var logs testkit.LogBuffer
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second) // a run that served would end, and fail the test
	defer cancel()
	code = run(ctx, []string{"-listen", "127.0.0.1:0", "-metrics-listen", busy.Addr().String(), "-log-format", "json"}, env, io.Discard, &logs)
	assert.Equal(t, exitFailure, code)
	rec := findRecord(t, logs.String(), "listening on "+busy.Addr().String()+" for /metrics (-metrics-listen)")
	assert.Equal(t, "ERROR", rec["level"])
	assert.False(t, slices.ContainsFunc(jsonRecords(t, logs.String()), func(r logRecord) bool {
		return strings.HasSuffix(r["msg"].(string), "listening") && r["level"] == "INFO"
	}), "neither listener announced")
}

func TestUpstreamStatusLabel(t *testing.T) {
	for status, want := range map[int]string{
		0: "none", 200: "200", 401: "401", 403: "403", 429: "429", 503: "503", 504: "504",
		201: "2xx", 418: "4xx", 599: "5xx", 302: "3xx", 1000: "other", -1: "other", 99: "other",
	} {
		assert.Equal(t, want, upstreamStatusLabel(status), "%d", status)
	}
}
