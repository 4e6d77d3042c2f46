package viz

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	_ "github.com/aegpu/aegpu/backends"
	"github.com/aegpu/aegpu/engine"
)

// openCPU opens the CPU backend for a test.
func openCPU(tb testing.TB) engine.Backend {
	tb.Helper()
	b, _, err := engine.Open("cpu")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { b.Close() })
	return b
}

// startServer starts a visualizer (the toy data unless o says otherwise) on
// the CPU backend behind an httptest server on 127.0.0.1.
func startServer(tb testing.TB, o Options) (*Server, *httptest.Server) {
	tb.Helper()
	return startServerWith(tb, o, nil)
}

// startServerWith is startServer with the server's handler wrapped by wrap
// (nil: none).
func startServerWith(tb testing.TB, o Options, wrap func(http.Handler) http.Handler) (*Server, *httptest.Server) {
	tb.Helper()
	if o.Backend == nil {
		o.Backend = openCPU(tb)
	}
	s, err := New(o)
	if err != nil {
		tb.Fatal(err)
	}
	var h http.Handler = s
	if wrap != nil {
		h = wrap(s)
	}
	ts := httptest.NewServer(h)
	tb.Cleanup(func() {
		s.Close() // ends the event streams first
		ts.Close()
	})
	return s, ts
}

// post sends a control body and returns the status code and decoded reply.
func post(tb testing.TB, url, body string) (int, map[string]any) {
	tb.Helper()
	resp, err := http.Post(url+"/api/control", "application/json", bytes.NewBufferString(body))
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		tb.Fatalf("POST %s: reply is not JSON: %v", body, err)
	}
	return resp.StatusCode, out
}

// do runs a control request through Server.Do.
func do(tb testing.TB, s *Server, c Control) Status {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := s.Do(ctx, c)
	if err != nil {
		tb.Fatalf("%s: %v", c.Action, err)
	}
	return st
}

func ptr[T any](v T) *T { return &v }

// waitStep waits, for up to 30 s, until the model has trained past step
// after: a loaded machine can take long for the first steps after a start
// or reset, so a fixed sleep before pausing is not enough. The caller's
// own check then fails if no step came.
func waitStep(srv *Server, after int64) {
	for wait := time.Now().Add(30 * time.Second); srv.State().Status.Step <= after && time.Now().Before(wait); {
		time.Sleep(20 * time.Millisecond)
	}
}
