package serve

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aegpu/aegpu/cpu_fallback"
)

// lockedBuffer is a log destination the handler writes while the test
// reads it.
type lockedBuffer struct {
	mu sync.Mutex
	sb strings.Builder
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.sb.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.sb.String()
}

// TestRequestLogAndErrors: at debug level every request gets one
// structured line (method, path, model, version, rows, status, duration),
// and /metrics counts the errors by status code; at info level requests
// are not logged.
func TestRequestLogAndErrors(t *testing.T) {
	dir := t.TempDir()
	trainModel(t, dir, 1)
	ref := referenceOf(t, dir, planeRows(1, 1))
	var logBuf lockedBuffer
	log := slog.New(slog.NewTextHandler(&logBuf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	_, hs := newTestServer(t, Options{Logger: log}, dir)
	c := hs.Client()
	post(t, c, hs.URL+"/v1/models/m0/score", TypeJSON, jsonRows(planeRows(3, 1)))
	post(t, c, hs.URL+"/v1/models/m0/score", TypeJSON, []byte(`{"rows":[[1,2]]}`))
	post(t, c, hs.URL+"/v1/models/nope/encode", TypeJSON, jsonRows(planeRows(1, 1)))
	post(t, c, hs.URL+"/v1/models/m0/encode", "text/plain", []byte("1,2,3"))
	lines := grepLines(logBuf.String(), "msg=request")
	for _, want := range []string{
		"level=DEBUG msg=request method=POST path=/v1/models/m0/score model=m0 version=" + ref.version + " rows=3 status=200 duration=",
		"path=/v1/models/m0/score model=m0 version=" + ref.version + " rows=0 status=400",
		`path=/v1/models/nope/encode model="" version="" rows=0 status=404`,
		"path=/v1/models/m0/encode model=m0 version=" + ref.version + " rows=0 status=415",
	} {
		if !strings.Contains(lines, want) {
			t.Errorf("no log line with %s:\n%s", want, lines)
		}
	}
	if n := strings.Count(lines, "\n") + 1; n != 4 {
		t.Errorf("%d request lines for 4 requests:\n%s", n, lines)
	}
	resp, err := c.Get(hs.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	mb, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`aegpu_serve_errors_total{code="400"} 1`, `aegpu_serve_errors_total{code="404"} 1`, `aegpu_serve_errors_total{code="415"} 1`,
		`aegpu_serve_requests_total{code="404",model="",op="encode"} 1`, `aegpu_serve_requests_total{code="400",model="m0",op="score"} 1`} {
		if !strings.Contains(string(mb), want) {
			t.Errorf("/metrics lacks %s:\n%s", want, grepLines(string(mb), "aegpu_serve_errors"))
		}
	}

	var quiet lockedBuffer
	_, hs2 := newTestServer(t, Options{Logger: slog.New(slog.NewTextHandler(&quiet, nil))}, dir)
	post(t, hs2.Client(), hs2.URL+"/v1/models/m0/score", TypeJSON, jsonRows(planeRows(3, 1)))
	if strings.Contains(quiet.String(), "msg=request") {
		t.Errorf("a request logged at info level:\n%s", quiet.String())
	}
}

// TestCheckAddr: loopback hosts (IPv4, IPv6, localhost) are told apart
// from the others, on which aegpu serve warns.
func TestCheckAddr(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:8080": true, "127.0.0.2:0": true, "[::1]:8080": true, "localhost:8080": true, "LOCALHOST:1": true,
		"0.0.0.0:8080": false, ":8080": false, "[::]:8080": false, "192.168.1.10:80": false, "example.com:80": false,
	} {
		if got, err := CheckAddr(addr); err != nil || got != want {
			t.Errorf("CheckAddr(%q) = %v, %v; want %v", addr, got, err, want)
		}
	}
	for _, bad := range []string{"127.0.0.1", "8080", ""} {
		if _, err := CheckAddr(bad); err == nil {
			t.Errorf("CheckAddr(%q): no error", bad)
		}
	}
}

// TestDrain: when Serve's context is done (SIGTERM in aegpu serve) with a
// request in flight, /readyz answers 503 at once, new connections are no
// longer accepted, the request in flight is answered 200, and Serve
// returns nil once it is.
func TestDrain(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "m")
	trainModel(t, dir, 4)
	b := cpu_fallback.New(1)
	defer b.Close()
	s, err := New(Options{Backend: b}, Model{Name: "m", Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx, ln) }()

	v := s.models["m"].cur
	s.dev.Lock() // the device is busy: the request stays in flight
	locked := true
	defer func() {
		if locked {
			s.dev.Unlock()
		}
	}()
	answered := make(chan int, 1)
	go func() {
		cl := &http.Client{Timeout: 20 * time.Second}
		resp, err := cl.Post("http://"+addr+"/v1/models/m/encode", TypeJSON, strings.NewReader(string(jsonRows(planeRows(2, 1)))))
		if err != nil {
			t.Errorf("the request in flight: %v", err)
			answered <- 0
			return
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		answered <- resp.StatusCode
	}()
	for v.started.Load() < 1 { // the batcher holds the request and waits for the device
		time.Sleep(time.Millisecond)
	}
	cancel()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		w := httptest.NewRecorder()
		s.ServeHTTP(w, httptest.NewRequest("GET", "/readyz", nil))
		if w.Code == http.StatusServiceUnavailable {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz while draining: %d %s", w.Code, w.Body)
		}
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			break // the listener is closed
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("the server still accepts connections while draining")
		}
	}
	select {
	case err := <-served:
		t.Fatalf("Serve returned (%v) with a request in flight", err)
	case <-time.After(100 * time.Millisecond):
	}
	s.dev.Unlock()
	locked = false
	if code := <-answered; code != 200 {
		t.Errorf("the request in flight was answered %d", code)
	}
	select {
	case err := <-served:
		if err != nil {
			t.Errorf("Serve: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after the drain")
	}
}
