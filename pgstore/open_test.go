package pgstore

import (
	"context"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const password = "s3cr3t-Pa55" // must show in no error

// closedPort returns a port of 127.0.0.1 nothing listens on.
func closedPort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	require.NoError(t, l.Close())
	return port
}

// silentServer accepts connections and never says a word, like a server
// behind a network that drops the replies.
func silentServer(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var (
		mu    sync.Mutex // guards conns
		conns []net.Conn
	)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}

func TestOpenUnreachable(t *testing.T) {
	tests := []struct {
		name    string
		url     string
		timeout bool // the server is silent: ctx ends the wait
		want    string
	}{
		{"refused", "postgres://pgstore:" + password + "@127.0.0.1:" + closedPort(t) + "/ring?sslmode=disable", false, `cannot reach the database at 127.0.0.1:`},
		{"refused, key=value", "host=127.0.0.1 port=" + closedPort(t) + " user=pgstore password=" + password + " sslmode=disable", false, "cannot reach the database"},
		{"silent", "postgres://pgstore:" + password + "@127.0.0.1:" + silentServer(t) + "/ring?sslmode=disable", true, "cannot reach the database"},
		{"silent, TLS preferred", "postgres://pgstore:" + password + "@127.0.0.1:" + silentServer(t) + "/ring", true, "cannot reach the database"},
		{"bad port", "postgres://pgstore:" + password + "@127.0.0.1:notaport/ring", false, "reading the database URL"},
		{"bad key=value", "host=127.0.0.1 password='" + password + "' port=x", false, "reading the database URL"},
		// A raw @ in the password: pgx splits the user information at the
		// first @, url.Parse at the last, so the rest of the password
		// would pass for the host. It is refused before either reads it.
		{"raw @ in the password", "postgres://pgstore:" + password[:4] + "@" + password[4:] + "@127.0.0.1:" + closedPort(t) + "/ring", false,
			"the database URL has more than one @ before its host"},
		{"raw @ in the password, bad sslmode", "postgresql://pgstore:" + password[:4] + "@" + password[4:] + "@127.0.0.1/ring?sslmode=bogus", false,
			"the database URL has more than one @ before its host"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
			defer cancel()
			start := time.Now()
			s, err := Open(ctx, tt.url)
			elapsed := time.Since(start)
			require.Error(t, err)
			assert.Nil(t, s)
			t.Logf("after %v: %v", elapsed.Round(time.Millisecond), err)
			assert.Less(t, elapsed, 2*time.Second, "Open gives up when ctx is done")
			assert.Contains(t, err.Error(), "pgstore: "+tt.want)
			if tt.timeout {
				assert.ErrorIs(t, err, context.DeadlineExceeded)
			}
			assert.NotContains(t, err.Error(), password)
			assert.NotContains(t, err.Error(), "Pa55")
			assert.NotContains(t, err.Error(), password[4:])
		})
	}
}
