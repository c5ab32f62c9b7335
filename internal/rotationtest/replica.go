package rotationtest

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/powersync-jwks/jwks"
	"github.com/powersync-jwks/jwks/keyring"
)

// A replica is one server: a Manager on its Store, serving its JWKS
// (GET /jwks) and minting tokens (/token) on its own loopback listener.
type replica struct {
	srv   *httptest.Server
	store keyring.Store
	live  atomic.Pointer[process] // nil while it restarts
}

// A process is one run of a replica.
type process struct {
	m      *keyring.Manager
	cancel context.CancelFunc
	mux    http.Handler
}

func newReplica(t testing.TB, store keyring.Store, cfg Config) *replica {
	t.Helper()
	r := &replica{store: store}
	proc, err := startProcess(store, cfg)
	if err != nil {
		t.Fatalf("starting a replica: %v", err)
	}
	r.live.Store(proc)
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		proc := r.live.Load()
		if proc == nil {
			http.Error(w, "restarting", http.StatusServiceUnavailable)
			return
		}
		proc.mux.ServeHTTP(w, req)
	}))
	t.Cleanup(func() {
		r.srv.Close()
		if proc := r.live.Load(); proc != nil {
			proc.stop()
		}
	})
	return r
}

func startProcess(store keyring.Store, cfg Config) (*process, error) {
	ctx, cancel := context.WithCancel(context.Background())
	p, err := func() (*process, error) {
		m, err := keyring.New(ctx, store, cfg.Policy, append([]keyring.Option{keyring.WithLogger(nil)}, cfg.Options...)...)
		if err != nil {
			return nil, err
		}
		signer, err := jwks.NewSigner(m.KeySet(), Audience, jwks.WithTokenLifetime(cfg.TokenLifetime))
		if err != nil {
			return nil, err
		}
		jh, err := jwks.NewJWKSHandler(m.KeySet())
		if err != nil {
			return nil, err
		}
		th, err := jwks.NewTokenHandler(signer, jwks.Anonymous(), jwks.WithLogger(slog.New(slog.DiscardHandler)))
		if err != nil {
			return nil, err
		}
		mux := http.NewServeMux()
		mux.Handle("GET /jwks", jh)
		mux.Handle("/token", th)
		return &process{m: m, cancel: cancel, mux: mux}, nil
	}()
	if err != nil {
		cancel()
	}
	return p, err
}

// stop stops the process's Manager and waits for its goroutine.
func (p *process) stop() {
	p.cancel()
	<-p.m.Done()
}

func (r *replica) current() *process { return r.live.Load() }

// restart stops the replica's Manager, answers 503 for cfg.RestartDown,
// and starts a new one on the replica's store.
func (r *replica) restart(cfg Config) error {
	r.live.Swap(nil).stop()
	time.Sleep(cfg.RestartDown)
	proc, err := startProcess(r.store, cfg)
	if err != nil {
		return err
	}
	r.live.Store(proc)
	return nil
}
