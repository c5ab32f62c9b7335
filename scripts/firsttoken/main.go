// Firsttoken measures a server's start to first token for scripts/loadbench:
// it starts a command, asks url every 200 µs until it answers 200, prints
// the time from just before the start to the end of that answer in
// milliseconds, and stops the command (SIGTERM, then SIGKILL after 5 s).
//
// Usage:
//
//	firsttoken -url http://127.0.0.1:8093/powersync-auth-anonymous -- command [args...]
//
// The command inherits the environment, which is where the caller puts its
// port and secrets. Each attempt is a new connection, as a first client's
// would be. Exits with status 1 when no 200 comes within -timeout or the
// command exits first. SIGINT or SIGTERM stops the command too. Standard
// library only.
package main

import (
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	target := flag.String("url", "", "`URL` to ask until it answers 200")
	timeout := flag.Duration("timeout", 30*time.Second, "give up after this `long`")
	flag.Parse()
	if *target == "" || flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: firsttoken -url URL -- command [args...]")
		os.Exit(2)
	}
	ms, err := measure(*target, *timeout, flag.Args())
	if err != nil {
		fmt.Fprintln(os.Stderr, "firsttoken:", err)
		os.Exit(1)
	}
	fmt.Printf("%.1f\n", ms)
}

func measure(target string, timeout time.Duration, argv []string) (float64, error) {
	client := &http.Client{
		Timeout:   time.Second,
		Transport: &http.Transport{DisableKeepAlives: true, Proxy: nil},
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout = io.Discard
	cmd.Stderr = io.Discard
	exited := make(chan error, 1)
	// Interrupted, it stops the command before it goes.
	interrupted := make(chan os.Signal, 1)
	signal.Notify(interrupted, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(interrupted)

	start := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	go func() { exited <- cmd.Wait() }()
	defer stop(cmd, exited)

	deadline := start.Add(timeout)
	last := "no answer"
	for {
		resp, err := client.Get(target)
		if err != nil {
			last = err.Error()
		} else {
			io.Copy(io.Discard, resp.Body) //nolint:errcheck // only the status matters
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return float64(time.Since(start).Microseconds()) / 1000, nil
			}
			last = resp.Status
		}
		select {
		case err := <-exited:
			exited <- err // for stop
			return 0, fmt.Errorf("%s exited before answering 200: %v", argv[0], err)
		case sig := <-interrupted:
			return 0, fmt.Errorf("interrupted (%v)", sig)
		default:
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("no 200 from %s within %v (last: %s)", target, timeout, last)
		}
		time.Sleep(200 * time.Microsecond)
	}
}

// stop ends the command and waits for it.
func stop(cmd *exec.Cmd, exited chan error) {
	cmd.Process.Signal(syscall.SIGTERM) //nolint:errcheck // it may be gone
	select {
	case <-exited:
	case <-time.After(5 * time.Second):
		cmd.Process.Kill() //nolint:errcheck // it may be gone
		<-exited
	}
}
