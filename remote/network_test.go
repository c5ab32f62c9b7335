package remote

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/powersync-jwks/jwks"
	"github.com/powersync-jwks/jwks/internal/testkit"
)

// The tests in this file use real loopback sockets and real time: the path
// a KeySet takes in production, with http.DefaultClient.

func TestLoopback(t *testing.T) {
	a := testkit.NewKey(t, jwks.ES256, jwks.WithKeyID("a"))
	srv, url := newLoopbackServer(t, serveDoc(docOf(t, a), "Cache-Control", "max-age=600"))
	ks := newLoopbackKeySet(t, url)
	k, err := ks.LookupKey(context.Background(), "a")
	require.NoError(t, err)
	assert.True(t, k.Equal(a))
	assert.Equal(t, "application/json", srv.lastHeader("Accept"))
	require.NoError(t, ks.Refresh(context.Background()))
	assert.Equal(t, 2, srv.fetches())
}

func TestLoopbackServerComesUpLater(t *testing.T) {
	a := testkit.NewKey(t, jwks.ES256, jwks.WithKeyID("a"))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())

	ks := newLoopbackKeySet(t, "http://"+addr+"/jwks.json")
	_, err = ks.LookupKey(context.Background(), "a")
	require.ErrorIs(t, err, jwks.ErrUnavailable)
	assert.Empty(t, ks.KeyIDs())

	// The server comes up on the same address.
	ln, err = net.Listen("tcp", addr)
	require.NoError(t, err)
	srv := httptest.NewUnstartedServer(serveDoc(docOf(t, a)))
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)

	require.NoError(t, ks.Refresh(context.Background()))
	k, err := ks.LookupKey(context.Background(), "a")
	require.NoError(t, err)
	assert.True(t, k.Equal(a))
}

func TestConcurrentLookupsDuringRotation(t *testing.T) {
	keys := []*jwks.Key{testkit.NewKey(t, jwks.ES256, jwks.WithKeyID("k0")), testkit.NewKey(t, jwks.ES256, jwks.WithKeyID("k1")), testkit.NewKey(t, jwks.ES256, jwks.WithKeyID("k2"))}
	docs := [][]byte{docOf(t, keys[0], keys[1]), docOf(t, keys[1], keys[2])}
	var served atomic.Int32
	_, url := newLoopbackServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Write(docs[served.Add(1)%2])
	})
	ks := newLoopbackKeySet(t, url)
	ctx := context.Background()

	var wg sync.WaitGroup
	wg.Go(func() {
		for range 50 {
			assert.NoError(t, ks.Refresh(ctx))
		}
	})
	for range 8 {
		wg.Go(func() {
			for range 200 {
				k, err := ks.LookupKey(ctx, "k1")
				if !assert.NoError(t, err) || !assert.True(t, k.Equal(keys[1])) {
					return
				}
				ks.KeyIDs()
			}
		})
	}
	wg.Wait()
}
