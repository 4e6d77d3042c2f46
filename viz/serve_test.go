package viz

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// serveOn starts s.Serve on a fresh 127.0.0.1 port with the given limits and
// returns the address; the server stops when the test ends.
func serveOn(t *testing.T, maxConns int, body time.Duration) string {
	t.Helper()
	oldMax, oldBody := MaxConns, BodyTimeout
	MaxConns, BodyTimeout = maxConns, body
	t.Cleanup(func() { MaxConns, BodyTimeout = oldMax, oldBody })
	s, err := New(Options{Backend: openCPU(t), LoopbackOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return ln.Addr().String()
}

// A control request whose body never arrives is answered and its
// connection closed after BodyTimeout, instead of being held.
func TestControlBodyTimeout(t *testing.T) {
	addr := serveOn(t, 8, 300*time.Millisecond)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "POST /api/control HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{", addr)
	c.SetReadDeadline(time.Now().Add(5 * time.Second)) // the test's own bound
	start := time.Now()
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err == nil {
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatalf("no answer within 5 s: the stalled body holds the connection")
	}
	if err == nil && resp.StatusCode < 400 {
		t.Errorf("stalled body answered %d, want an error status", resp.StatusCode)
	}
	t.Logf("stalled body ended after %v (%v)", time.Since(start).Round(time.Millisecond), err)
}

// At most MaxConns connections are served at once: with the slots held by
// idle connections a request waits, and is served once one closes.
func TestConnectionCap(t *testing.T) {
	addr := serveOn(t, 3, time.Second)
	var held []net.Conn
	for range 3 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
	}
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	time.Sleep(100 * time.Millisecond) // the server accepts the three
	get := func(timeout time.Duration) error {
		cl := &http.Client{Timeout: timeout, Transport: &http.Transport{DisableKeepAlives: true}}
		resp, err := cl.Get("http://" + addr + "/api/state")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	}
	if err := get(500 * time.Millisecond); err == nil {
		t.Fatal("a fourth connection was served while three held every slot")
	}
	held[0].Close()
	if err := get(10 * time.Second); err != nil {
		t.Fatalf("after a slot was freed: %v", err)
	}
}

// Paths that are not valid file names are 404, not 500.
func TestStaticBadPaths(t *testing.T) {
	_, ts := startServer(t, Options{})
	for _, p := range []string{"/static/%ff%fe", "/static/../server.go", "/static/a//b", "/static/%00", "/static/app.js%00"} {
		resp, err := http.Get(ts.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: %d %s, want 404", p, resp.StatusCode, strings.TrimSpace(string(b)))
		}
	}
	resp, err := http.Get(ts.URL + "/static/app.js")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("GET /static/app.js: %v %v", resp.StatusCode, err)
	}
	resp.Body.Close()
}
