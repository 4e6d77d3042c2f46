package serve

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"
)

// BenchmarkHandler measures one request through the handler (no network):
// JSON body of 1 or 64 rows read, batched alone, answered in JSON.
func BenchmarkHandler(b *testing.B) {
	dir := b.TempDir()
	trainModel(b, dir, 1)
	s, _ := newTestServer(b, Options{}, dir)
	for _, n := range []int{1, 64} {
		body := jsonRows(planeRows(n, 2))
		for _, op := range []string{"encode", "score"} {
			b.Run(op+"/"+map[int]string{1: "1row", 64: "64rows"}[n], func(b *testing.B) {
				req := httptest.NewRequest("POST", "/v1/models/m0/"+op, nil)
				req.Header.Set("Content-Type", TypeJSON)
				w := &sink{h: http.Header{}}
				rd := bytes.NewReader(body)
				req.Body = readCloser{rd}
				b.ReportAllocs()
				for b.Loop() {
					rd.Reset(body)
					w.code, w.n = 200, 0
					s.ServeHTTP(w, req)
					if w.code != 200 || w.n == 0 {
						b.Fatalf("%d", w.code)
					}
				}
				b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
			})
		}
	}
}

type readCloser struct{ *bytes.Reader }

func (readCloser) Close() error { return nil }

// sink is a ResponseWriter that keeps only the status and the length.
type sink struct {
	h    http.Header
	code int
	n    int
}

func (s *sink) Header() http.Header         { return s.h }
func (s *sink) WriteHeader(code int)        { s.code = code }
func (s *sink) Write(b []byte) (int, error) { s.n += len(b); return len(b), nil }

// TestHandlerAllocs: a JSON /encode or /score request through the handler
// (no network; body read, batched, run, answered) allocates the same few
// times for 1 row as for 64: the body, parse, job, batch and answer
// buffers are reused, and what is left is net/http's, the context's and
// the metrics' per-request bookkeeping.
func TestHandlerAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector makes sync.Pool drop buffers on purpose")
	}
	dir := t.TempDir()
	trainModel(t, dir, 1)
	s, _ := newTestServer(t, Options{}, dir)
	for _, op := range []string{"encode", "score"} {
		var allocs []float64
		for _, n := range []int{1, 64} {
			body := jsonRows(planeRows(n, 2))
			req := httptest.NewRequest("POST", "/v1/models/m0/"+op, nil)
			req.Header.Set("Content-Type", TypeJSON)
			w := &sink{h: http.Header{}}
			rd := bytes.NewReader(body)
			req.Body = readCloser{rd}
			one := func() {
				rd.Reset(body)
				w.code, w.n = 200, 0
				s.ServeHTTP(w, req)
				if w.code != 200 || w.n == 0 {
					t.Fatalf("%s of %d rows: %d", op, n, w.code)
				}
			}
			for range 10 { // fill the pools
				one()
			}
			allocs = append(allocs, testing.AllocsPerRun(200, one))
		}
		t.Logf("/%s: %.1f allocations for 1 row, %.1f for 64", op, allocs[0], allocs[1])
		if allocs[1] > allocs[0]+1 || allocs[1] > 24 {
			t.Errorf("/%s: %.1f allocations for 1 row, %.1f for 64: the hot path allocates per row", op, allocs[0], allocs[1])
		}
	}
}
