// Constserver is the baseline of the JWKS endpoint in scripts/loadbench: a
// handler that writes constant bytes. It fetches a JWKS response once from
// a running server (the ready server's /.well-known/jwks.json), keeps its
// body and headers, and answers every request on the same path with them,
// so that the comparison measures what the library's handler costs over
// writing a precomputed answer, over HTTP.
//
// Usage:
//
//	constserver -listen 127.0.0.1:8092 -from http://127.0.0.1:8090/.well-known/jwks.json
//
// The answer is the fetched status, headers (less Date, which net/http
// writes itself) and body, byte for byte. The server has the limits of
// cmd/powersync-auth's (timeouts, header size) and routes through a
// ServeMux as it does, so that only the handler differs. It runs until
// SIGINT or SIGTERM. Standard library only.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:8092", "`address` to listen on")
	from := flag.String("from", "", "`URL` whose answer to serve (its path is the route)")
	flag.Parse()
	if *from == "" || flag.NArg() != 0 {
		fmt.Fprintln(os.Stderr, "usage: constserver -listen ADDR -from URL")
		os.Exit(2)
	}
	if err := run(*listen, *from); err != nil {
		fmt.Fprintln(os.Stderr, "constserver:", err)
		os.Exit(1)
	}
}

func run(listen, from string) error {
	u, err := url.Parse(from)
	if err != nil {
		return err
	}
	status, header, body, err := fetch(from)
	if err != nil {
		return err
	}
	header.Del("Date")
	header["Content-Length"] = []string{strconv.Itoa(len(body))}

	// The handler sets each header to the slice fetched (no allocation),
	// as the library's JWKS handler does with its prepared values.
	constant := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		h := w.Header()
		for k, v := range header {
			h[k] = v
		}
		w.WriteHeader(status)
		w.Write(body) //nolint:errcheck // the client went away
	})
	mux := http.NewServeMux()
	mux.Handle(u.Path, constant)

	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	// cmd/powersync-auth's limits (its server.go).
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	fmt.Fprintf(os.Stderr, "constserver: serving %d bytes of %s on %s%s\n", len(body), from, ln.Addr(), u.Path)
	if err := srv.Serve(ln); err != http.ErrServerClosed {
		return err
	}
	return nil
}

// fetch GETs from and returns its answer.
func fetch(from string) (int, http.Header, []byte, error) {
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get(from)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, nil, fmt.Errorf("reading %s: %w", from, err)
	}
	if resp.StatusCode != http.StatusOK {
		return 0, nil, nil, fmt.Errorf("%s answered %s", from, resp.Status)
	}
	return resp.StatusCode, resp.Header, body, nil
}
