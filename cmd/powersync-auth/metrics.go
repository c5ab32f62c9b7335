package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/powersync-jwks/jwks"
	"github.com/powersync-jwks/jwks/keyring"
	"github.com/powersync-jwks/jwks/remote"
	"github.com/powersync-jwks/jwks/supabase"
)

// routeMetrics is the path of the metrics listener (-metrics-listen).
const routeMetrics = "/metrics"

// metricsNamespace prefixes every metric of the server's own.
const metricsNamespace = "powersync_auth"

// Histogram buckets, in seconds. A token is signed in well under a
// millisecond; a request that waits for Supabase takes tens of milliseconds
// to the fetch timeout of 10 s.
var (
	requestBuckets  = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}
	supabaseBuckets = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}
)

// metrics are the server's Prometheus metrics, in a registry of their own
// (never the global default one), served by the listener of
// -metrics-listen. A nil *metrics is metrics off: the methods that return
// options, sinks or registrations (requestSink, tokenObserver,
// jwksObserver, supabaseOptions, watchRingEvents, ringEvent) then return
// none, and the handlers measure nothing; the others (handler, watchState)
// are only called when metrics are on.
//
// Every label value is one of a small, fixed set (a route's pattern, a
// method of methodLabel, a status, a reason code of the library); never a
// token, a path or an error's text. The one exception, the kid of
// signing_key_info, changes only when the key does.
type metrics struct {
	reg *prometheus.Registry

	requests        *prometheus.CounterVec   // route, method, code
	requestDuration *prometheus.HistogramVec // route
	tokensIssued    *prometheus.CounterVec   // route
	tokensRefused   *prometheus.CounterVec   // route, reason
	jwksResponses   *prometheus.CounterVec   // code

	supabaseFetches       *prometheus.CounterVec // result
	supabaseFetchDuration prometheus.Histogram
	supabaseKeys          prometheus.Gauge
	userCalls             *prometheus.CounterVec   // cause, code
	userCallDuration      *prometheus.HistogramVec // cause

	ringEvents *prometheus.CounterVec // type
}

// newMetrics returns the metrics of a server with -metrics-listen, with the
// Go runtime's and the process's collectors and build_info registered; the
// rest are registered as the parts they observe are made.
func newMetrics() *metrics {
	version, goVersion := buildLabels()
	buildInfo := prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace:   metricsNamespace,
		Name:        "build_info",
		Help:        "Always 1; the labels name the version of " + program + " (as -version prints it, without the Go version) and the Go version it was built with.",
		ConstLabels: prometheus.Labels{"version": version, "goversion": goVersion},
	})
	buildInfo.Set(1)

	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metricsNamespace,
			Name:      "http_requests_total",
			Help:      "Requests answered, by route (the route's pattern; unknown for a path that is no route), method (other for a non-standard one) and status code.",
		}, []string{"route", "method", "code"}),
		requestDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: metricsNamespace,
			Name:      "http_request_duration_seconds",
			Help:      "Time from the start of a request to the end of its answer, by route.",
			Buckets:   requestBuckets,
		}, []string{"route"}),
		tokensIssued: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metricsNamespace,
			Name:      "tokens_issued_total",
			Help:      "PowerSync tokens issued, by token route.",
		}, []string{"route"}),
		tokensRefused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metricsNamespace,
			Name:      "tokens_refused_total",
			Help:      "Token requests refused, by token route and reason (a fixed code: no_credentials, expired, rate_limited, unavailable, ...).",
		}, []string{"route", "reason"}),
		jwksResponses: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metricsNamespace,
			Name:      "jwks_responses_total",
			Help:      "Answers of the JWKS routes, by status code: 200, 304 (If-None-Match matched) or 405.",
		}, []string{"code"}),
		ringEvents: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metricsNamespace,
			Name:      "keyring_events_total",
			Help:      "Changes this server made to the key ring (staged, imported, promoted, retired, revoked, removed), and its refresh failures and recoveries (refresh_failed, refresh_recovered), by type.",
		}, []string{"type"}),
	}
	for _, code := range []string{"200", "304", "405"} {
		m.jwksResponses.WithLabelValues(code)
	}
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		buildInfo, m.requests, m.requestDuration, m.tokensIssued, m.tokensRefused, m.jwksResponses,
	)
	return m
}

// buildLabels are the labels of build_info: the version of buildVersion
// without its Go version, and the Go version.
func buildLabels() (version, goVersion string) {
	info := buildInfo()
	if info == nil {
		return cmp.Or(version, "unknown"), runtime.Version()
	}
	withoutGo := *info
	withoutGo.GoVersion = ""
	return describeBuild(&withoutGo), cmp.Or(info.GoVersion, runtime.Version())
}

// requestSink returns the sink of instrument that counts and times every
// answered request, or nil when metrics are off.
func (m *metrics) requestSink() func(*http.Request, answer) {
	if m == nil {
		return nil
	}
	return func(r *http.Request, a answer) {
		m.requests.WithLabelValues(a.route, methodLabel(r.Method), statusLabel(a.status)).Inc()
		m.requestDuration.WithLabelValues(a.route).Observe(a.duration.Seconds())
	}
}

// tokenObserver returns the options that have a token handler served at
// path (and, with functions, under functionsPrefix too) count what it
// issues and refuses; none when metrics are off.
func (m *metrics) tokenObserver(path string, functions bool) []jwks.TokenHandlerOption {
	if m == nil {
		return nil
	}
	// Each route's issued count starts at 0, so that a rate over it exists
	// before the first token.
	m.tokensIssued.WithLabelValues(path)
	if functions {
		m.tokensIssued.WithLabelValues(functionsPrefix + path)
	}
	return []jwks.TokenHandlerOption{jwks.WithObserver(m.observeToken)}
}

// observeToken counts one answer of a token handler.
func (m *metrics) observeToken(e jwks.Event) {
	switch e.Kind {
	case jwks.EventTokenIssued:
		m.tokensIssued.WithLabelValues(e.Route).Inc()
	case jwks.EventTokenRefused:
		m.tokensRefused.WithLabelValues(e.Route, e.Reason).Inc()
	}
}

// jwksObserver returns the options that have the JWKS handler count its
// answers; none when metrics are off.
func (m *metrics) jwksObserver() []jwks.JWKSHandlerOption {
	if m == nil {
		return nil
	}
	return []jwks.JWKSHandlerOption{jwks.WithJWKSObserver(func(e jwks.Event) {
		m.jwksResponses.WithLabelValues(statusLabel(e.Status)).Inc()
	})}
}

// supabaseOptions registers the metrics of the Supabase project and returns
// the options that feed them: the fetches of its JWKS and the calls to
// /auth/v1/user. None when metrics are off.
func (m *metrics) supabaseOptions() []supabase.Option {
	if m == nil {
		return nil
	}
	m.supabaseFetches = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: metricsNamespace,
		Name:      "supabase_jwks_fetches_total",
		Help:      "Fetches of the Supabase project's JWKS, by result: loaded, not_modified (304 to a conditional request) or failed (the last good key set is kept).",
	}, []string{"result"})
	for _, r := range []remote.FetchResult{remote.FetchLoaded, remote.FetchNotModified, remote.FetchFailed} {
		m.supabaseFetches.WithLabelValues(string(r))
	}
	m.supabaseFetchDuration = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: metricsNamespace,
		Name:      "supabase_jwks_fetch_duration_seconds",
		Help:      "Time each fetch of the Supabase project's JWKS took, whatever its result.",
		Buckets:   supabaseBuckets,
	})
	m.supabaseKeys = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: metricsNamespace,
		Name:      "supabase_jwks_keys",
		Help:      "Usable keys in the Supabase project's JWKS after the last fetch (the last good set's after a failure; 0 before the first).",
	})
	m.userCalls = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: metricsNamespace,
		Name:      "supabase_user_calls_total",
		Help:      "Calls to Supabase's /auth/v1/user, by cause (strict: -supabase-strict; hs256: a legacy token Supabase must vouch for) and status code (one Supabase or a gateway answers with, else its class such as 4xx; none when no answer came).",
	}, []string{"cause", "code"})
	m.userCallDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: metricsNamespace,
		Name:      "supabase_user_call_duration_seconds",
		Help:      "Time each call to Supabase's /auth/v1/user took, by cause.",
		Buckets:   supabaseBuckets,
	}, []string{"cause"})
	m.reg.MustRegister(m.supabaseFetches, m.supabaseFetchDuration, m.supabaseKeys, m.userCalls, m.userCallDuration)

	return []supabase.Option{
		supabase.WithObserver(m.observeUserCall),
		supabase.WithJWKSOptions(remote.WithObserver(m.observeFetch)),
	}
}

// observeFetch counts and times one fetch of the Supabase project's JWKS.
func (m *metrics) observeFetch(e remote.FetchEvent) {
	m.supabaseFetches.WithLabelValues(string(e.Result)).Inc()
	m.supabaseFetchDuration.Observe(e.Duration.Seconds())
	m.supabaseKeys.Set(float64(e.Keys))
}

// observeUserCall counts and times one call to /auth/v1/user.
func (m *metrics) observeUserCall(e supabase.UserCallEvent) {
	m.userCalls.WithLabelValues(e.Cause, upstreamStatusLabel(e.Status)).Inc()
	m.userCallDuration.WithLabelValues(e.Cause).Observe(e.Duration.Seconds())
}

// statusLabels are the code labels of the HTTP statuses, made once: the
// request path then formats no number.
var statusLabels = func() (labels [600]string) {
	for status := 100; status < len(labels); status++ {
		labels[status] = strconv.Itoa(status)
	}
	return labels
}()

// statusLabel is the code label of a status this server answered.
func statusLabel(status int) string {
	if status >= 100 && status < len(statusLabels) {
		return statusLabels[status]
	}
	return strconv.Itoa(status)
}

// upstreamStatusLabel is the code label of a status Supabase (or a proxy in
// front of it) answered: the status itself when it is one Supabase's Auth
// is known to answer /auth/v1/user with or a gateway's, its class ("4xx",
// "5xx") for any other, "none" when no answer came. Whoever sits upstream
// picks the status: the label must not take whatever it sends.
func upstreamStatusLabel(status int) string {
	switch status {
	case 0:
		return "none"
	case 200, 400, 401, 403, 404, 429, 500, 502, 503, 504:
		return statusLabels[status]
	}
	if status >= 100 && status <= 599 {
		return strconv.Itoa(status/100) + "xx"
	}
	return "other"
}

// watchRingEvents registers keyring_events_total, with every type at 0; nothing
// when metrics are off. It is called before the key ring is made, whose
// first events come while it starts.
func (m *metrics) watchRingEvents() {
	if m == nil {
		return
	}
	for _, t := range []keyring.EventType{
		keyring.EventStaged, keyring.EventImported, keyring.EventPromoted, keyring.EventRetired,
		keyring.EventRevoked, keyring.EventRemoved, keyring.EventRefreshFailed, keyring.EventRefreshRecovered,
	} {
		m.ringEvents.WithLabelValues(string(t))
	}
	m.reg.MustRegister(m.ringEvents)
}

// ringEvent counts one event of the key ring; nothing when metrics are off.
func (m *metrics) ringEvent(e keyring.Event) {
	if m == nil {
		return
	}
	m.ringEvents.WithLabelValues(string(e.Type)).Inc()
}

// watchState registers the gauges read at each scrape: the signing key,
// the key ring, readiness and the usability of the Supabase JWKS.
func (m *metrics) watchState(keys *signingKeys, users *supabase.Authenticator) {
	m.reg.MustRegister(stateCollector{keys: keys, users: users, ready: readiness{ks: keys.ks, users: users}})
}

// The descriptions of stateCollector's gauges.
var (
	signingKeyInfoDesc = prometheus.NewDesc(metricsNamespace+"_signing_key_info",
		"Always 1; the labels name the key that signs tokens now: its key ID and algorithm.",
		[]string{"kid", "alg"}, nil)
	signingKeyAgeDesc = prometheus.NewDesc(metricsNamespace+"_signing_key_age_seconds",
		"Seconds since the key ring's active key started signing. Not exported for a key of POWERSYNC_PRIVATE_KEY without a key ring, whose age is not known.",
		nil, nil)
	ringKeysDesc = prometheus.NewDesc(metricsNamespace+"_keyring_keys",
		"Keys of the key ring as this server last read it, by state: next, active, retired or revoked.",
		[]string{"state"}, nil)
	ringRefreshDesc = prometheus.NewDesc(metricsNamespace+"_keyring_last_refresh_timestamp_seconds",
		"Unix time of this server's last successful read of the key ring's store.",
		nil, nil)
	readyDesc = prometheus.NewDesc(metricsNamespace+"_ready",
		"1 when the server can hand out tokens (/readyz answers 200), 0 when it cannot.",
		nil, nil)
	supabaseUsableDesc = prometheus.NewDesc(metricsNamespace+"_supabase_jwks_usable",
		"1 while the Supabase project's JWKS can verify access tokens (loaded, and not older than an hour), 0 otherwise.",
		nil, nil)
)

// ringStates are the states of keyring_keys, each reported even at 0.
var ringStates = []keyring.State{keyring.StateNext, keyring.StateActive, keyring.StateRetired, keyring.StateRevoked}

// stateCollector reports, at each scrape, the gauges of what the server
// holds: its signing key, its key ring (when it has one), whether it is
// ready, and whether the Supabase JWKS is usable (with Supabase).
type stateCollector struct {
	keys  *signingKeys
	users *supabase.Authenticator // nil without Supabase
	ready readiness
}

// Describe sends the descriptions of the gauges this server reports.
func (s stateCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- signingKeyInfoDesc
	ch <- readyDesc
	if s.keys.ring != nil {
		ch <- signingKeyAgeDesc
		ch <- ringKeysDesc
		ch <- ringRefreshDesc
	}
	if s.users != nil {
		ch <- supabaseUsableDesc
	}
}

// Collect reads the gauges now.
func (s stateCollector) Collect(ch chan<- prometheus.Metric) {
	key := s.keys.ks.SigningKey()
	if key != nil {
		gauge(ch, signingKeyInfoDesc, 1, key.KeyID(), string(key.Algorithm()))
	}
	gauge(ch, readyDesc, boolValue(s.ready.check().ready))
	if s.users != nil {
		gauge(ch, supabaseUsableDesc, boolValue(s.users.JWKS().Usable()))
	}
	if s.keys.ring == nil {
		return
	}
	count := map[keyring.State]int{}
	for _, e := range s.keys.ring.Entries() {
		count[e.State]++
		if key != nil && e.KeyID() == key.KeyID() {
			gauge(ch, signingKeyAgeDesc, time.Since(cmp.Or(e.Activated, e.Created)).Seconds())
		}
	}
	for _, state := range ringStates {
		gauge(ch, ringKeysDesc, float64(count[state]), string(state))
	}
	if last, _ := s.keys.ring.Healthy(); !last.IsZero() {
		gauge(ch, ringRefreshDesc, float64(last.UnixNano())/1e9)
	}
}

// gauge sends a gauge of desc, or the error that keeps it from being one.
func gauge(ch chan<- prometheus.Metric, desc *prometheus.Desc, v float64, labels ...string) {
	g, err := prometheus.NewConstMetric(desc, prometheus.GaugeValue, v, labels...)
	if err != nil {
		g = prometheus.NewInvalidMetric(desc, err)
	}
	ch <- g
}

// boolValue is 1 for true and 0 for false.
func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// handler returns the handler of the metrics listener: /metrics in the
// Prometheus text format to GET and HEAD, and the JSON 404 of the main
// listener to every other path.
func (m *metrics) handler(logger *slog.Logger) http.Handler {
	prom := promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		ErrorLog:            slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		ErrorHandling:       promhttp.ContinueOnError, // a gauge that cannot be read must not hide the others
		Registry:            m.reg,                    // promhttp_metric_handler_errors_total
		MaxRequestsInFlight: 4,
		Timeout:             writeTimeout / 2,
	})
	mux := http.NewServeMux()
	mux.Handle(routeMetrics, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if allowGetHead(w, r) {
			prom.ServeHTTP(w, r)
		}
	}))
	mux.HandleFunc("/", serveNotFound)
	return mux
}

// metricsServer is the listener of -metrics-listen and its server.
type metricsServer struct {
	ln     net.Listener
	srv    *http.Server
	served chan error // Serve's error, once it has returned
}

// listenMetrics opens the listener of -metrics-listen for a's metrics; nil
// when metrics are off.
func listenMetrics(c *config, a *app, logger *slog.Logger) (*metricsServer, error) {
	if a.metrics == nil {
		return nil, nil
	}
	ln, err := net.Listen("tcp", c.metricsListen)
	if err != nil {
		return nil, fmt.Errorf("listening on %s for %s (%s): %w", c.metricsListen, routeMetrics, c.source("metrics-listen"), err)
	}
	return &metricsServer{ln: ln, srv: newHTTPServer(a.metrics.handler(logger), logger), served: make(chan error, 1)}, nil
}

// serve serves /metrics in a goroutine of its own until shutdown.
func (s *metricsServer) serve() {
	if s != nil {
		go func() { s.served <- s.srv.Serve(s.ln) }()
	}
}

// addr is the listener's address, "" when metrics are off.
func (s *metricsServer) addr() string {
	if s == nil {
		return ""
	}
	return s.ln.Addr().String()
}

// close stops the server at once, started or not, for a run that fails.
func (s *metricsServer) close() {
	if s != nil {
		s.srv.Close()
		s.ln.Close()
	}
}

// done returns the channel of Serve's error: nil, which never delivers,
// when metrics are off.
func (s *metricsServer) done() <-chan error {
	if s == nil {
		return nil
	}
	return s.served
}

// shutdown stops the server gracefully, as the main one, and closes it
// when ctx ends first.
func (s *metricsServer) shutdown(ctx context.Context) error {
	if s == nil {
		return nil
	}
	if err := s.srv.Shutdown(ctx); err != nil {
		s.srv.Close()
		return fmt.Errorf("scrapes of %s still running: %w", routeMetrics, err)
	}
	if err := <-s.served; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serving %s: %w", routeMetrics, err)
	}
	return nil
}
