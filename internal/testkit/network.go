package testkit

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync"
	"testing"
)

// A Network is an in-memory network for HTTP: a client and any number of
// servers, joined by [net.Pipe] connections instead of sockets. Inside a
// [testing/synctest] bubble, a goroutine that waits on a socket is not
// durably blocked, so the bubble's clock cannot move while a loopback
// server (net/http/httptest) runs; one that waits on a pipe is, and the
// clock moves as the test sleeps. The servers are real [http.Server]s, so
// handlers see what they would see on a socket: chunked bodies, flushes,
// hijacked and reset connections, cancelled requests.
//
// Make a Network inside the bubble that uses it; everything it started is
// stopped when the test ends. It is safe for concurrent use.
type Network struct {
	transport *http.Transport

	mu    sync.Mutex
	hosts map[string]*pipeListener // guarded by mu: by host:port
}

// NewNetwork returns an empty network, closed when the test ends.
func NewNetwork(t testing.TB) *Network {
	n := &Network{hosts: make(map[string]*pipeListener)}
	n.transport = &http.Transport{DialContext: n.dial}
	t.Cleanup(n.close)
	return n
}

// Serve serves h at host (a name such as "jwks.test", with a port if the
// URL names one) until the test ends or [Network.Stop], and returns its URL,
// "http://" + host. A host already served is served by h from now on.
func (n *Network) Serve(host string, h http.Handler) string {
	addr := dialAddr(host)
	l := &pipeListener{addr: addr, conns: make(chan net.Conn), closed: make(chan struct{})}
	srv := &http.Server{Handler: h}
	l.srv = srv
	n.mu.Lock()
	old := n.hosts[addr]
	n.hosts[addr] = l
	n.mu.Unlock()
	if old != nil {
		old.close()
	}
	go srv.Serve(l)
	return "http://" + host
}

// Stop takes host off the network: its connections are closed, and new
// ones are refused, as by a server that is down.
func (n *Network) Stop(host string) {
	addr := dialAddr(host)
	n.mu.Lock()
	l := n.hosts[addr]
	delete(n.hosts, addr)
	n.mu.Unlock()
	if l != nil {
		l.close()
	}
}

// Client returns a client whose connections go over the network. A host
// that is not served refuses them.
func (n *Network) Client() *http.Client {
	return &http.Client{Transport: n.transport}
}

// dialAddr returns the address a client dials for host: host:80 when host
// names no port.
func dialAddr(host string) string {
	if _, _, err := net.SplitHostPort(host); err == nil {
		return host
	}
	return net.JoinHostPort(host, "80")
}

// errRefused is what dialling a host that is not served returns.
var errRefused = errors.New("connection refused")

func (n *Network) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	n.mu.Lock()
	l := n.hosts[addr]
	n.mu.Unlock()
	if l == nil {
		return nil, &net.OpError{Op: "dial", Net: network, Addr: pipeAddr(addr), Err: errRefused}
	}
	return l.dial(ctx, network)
}

func (n *Network) close() {
	n.mu.Lock()
	hosts := n.hosts
	n.hosts = nil
	n.mu.Unlock()
	for _, l := range hosts {
		l.close()
	}
	n.transport.CloseIdleConnections()
}

// A pipeListener is the listening end of one host. Dialling it hands the
// server end of a new pipe to Accept.
type pipeListener struct {
	addr   string // host:port
	srv    *http.Server
	conns  chan net.Conn // unbuffered: a dial waits for Accept
	closed chan struct{}
	once   sync.Once
}

func (l *pipeListener) dial(ctx context.Context, network string) (net.Conn, error) {
	client, server := net.Pipe()
	select {
	case l.conns <- server:
		return client, nil
	case <-l.closed:
		err := &net.OpError{Op: "dial", Net: network, Addr: pipeAddr(l.addr), Err: errRefused}
		client.Close()
		server.Close()
		return nil, err
	case <-ctx.Done():
		client.Close()
		server.Close()
		return nil, ctx.Err()
	}
}

// Accept implements [net.Listener].
func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

// Close implements [net.Listener]; the network closes listeners through
// close, which also closes the server's connections.
func (l *pipeListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

func (l *pipeListener) close() {
	l.Close()
	l.srv.Close()
}

// Addr implements [net.Listener].
func (l *pipeListener) Addr() net.Addr { return pipeAddr(l.addr) }

// pipeAddr is the address of a host of a Network.
type pipeAddr string

// Network implements [net.Addr].
func (a pipeAddr) Network() string { return "pipe" }

// String implements [net.Addr].
func (a pipeAddr) String() string { return string(a) }
