package serve

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aegpu/aegpu/anomaly"
	"github.com/aegpu/aegpu/dataset"
)

// TestEndpoints: encode, reconstruct and score (with explain) answer, in
// JSON and .npy, the bits a 1024-row predictor computes (what aegpu encode
// and aegpu score write), with the model's version and threshold.
func TestEndpoints(t *testing.T) {
	dir := t.TempDir()
	trainModel(t, dir, 1)
	rows := planeRows(40, 7)
	for i := 30; i < 40; i++ {
		rows[i*testCols+3] += 40 // off the plane: flagged
	}
	ref := referenceOf(t, dir, rows)
	_, hs := newTestServer(t, Options{}, dir)
	c := hs.Client()
	base := hs.URL + "/v1/models/m0/"

	code, h, b := post(t, c, base+"encode", TypeJSON, jsonRows(rows))
	a := decodeAnswer(t, b)
	if code != 200 || a.Version != ref.version || h.Get(VersionHeader) != ref.version || a.Rows != 40 || a.Model != "m0" {
		t.Fatalf("encode: %d %s", code, b)
	}
	if i, ok := sameBits(flat(a.Codes), ref.codes); !ok {
		t.Errorf("encode: value %d differs from the predictor's", i)
	}
	code, _, b = post(t, c, base+"reconstruct", TypeJSON, jsonRows(rows))
	a = decodeAnswer(t, b)
	if code != 200 || a.Metric != "mse" {
		t.Fatalf("reconstruct: %d %s", code, b)
	}
	if i, ok := sameBits(flat(a.Reconstructions), ref.recon); !ok {
		t.Errorf("reconstruct: value %d differs", i)
	}
	if i, ok := sameBits(a.Errors, ref.rowErr); !ok {
		t.Errorf("reconstruct errors: row %d differs", i)
	}
	code, _, b = post(t, c, base+"score?explain=3", TypeJSON, jsonRows(rows))
	a = decodeAnswer(t, b)
	if code != 200 || a.Threshold == nil || len(a.Flags) != 40 || len(a.Explain) != 40 {
		t.Fatalf("score: %d %s", code, b)
	}
	if i, ok := sameBits(a.Scores, ref.rowErr); !ok {
		t.Errorf("score: row %d differs", i)
	}
	th, _, _ := anomaly.LoadThreshold(dir)
	scores := anomaly.Scores(ref.rowErr)
	flags, n := anomaly.Flags(scores, &th)
	if !slices.Equal(a.Flags, flags) || n < 10 {
		t.Errorf("flags %v, want %v (%d flagged)", a.Flags, flags, n)
	}
	// every row explained as aegpu score --explain explains a flagged row
	ex, _ := anomaly.Explain(scores, ref.featErr, testCols, nil, -1, 3, 40)
	for i, e := range ex {
		for k, f := range e.Features {
			g := a.Explain[i][k]
			if g.Feature != f.Feature || g.Name != f.Name || g.Error != f.Error {
				t.Fatalf("row %d explanation %d: %+v, want %+v", i, k, g, f)
			}
		}
	}

	// .npy in and out
	req, _ := http.NewRequest("POST", base+"encode", bytes.NewReader(npyRows(rows, testCols)))
	req.Header.Set("Content-Type", TypeNPY)
	req.Header.Set("Accept", TypeNPY)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	tab, err := dataset.ReadNPY(resp.Body, "answer")
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 || resp.Header.Get(VersionHeader) != ref.version {
		t.Fatalf("npy encode: %d %v", resp.StatusCode, err)
	}
	if i, ok := sameBits(tab.Data, ref.codes); !ok || tab.Cols != 2 {
		t.Errorf("npy encode: value %d differs (cols %d)", i, tab.Cols)
	}
	code, _, b = post(t, c, base+"score", TypeNPY, npyRows(rows, testCols))
	if a = decodeAnswer(t, b); code != 200 {
		t.Fatalf("npy score: %d %s", code, b)
	}
	if i, ok := sameBits(a.Scores, ref.rowErr); !ok {
		t.Errorf("npy score: row %d differs", i)
	}
}

// TestBatchedBitIdentical: concurrent requests of 1 to 70 rows, batched
// together (and split across device batches of 32 rows), each get the
// bits their rows give alone.
func TestBatchedBitIdentical(t *testing.T) {
	dir := t.TempDir()
	trainModel(t, dir, 2)
	rows := planeRows(500, 9)
	ref := referenceOf(t, dir, rows)
	s, hs := newTestServer(t, Options{MaxBatch: 32, MaxDelay: 20 * time.Millisecond}, dir)
	c := hs.Client()
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	v := s.models["m0"].cur
	s.dev.Lock() // the device is busy until every request is queued
	for g := range 24 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lo := (g * 17) % 400
			n := 1 + (g*13)%70
			x := rows[lo*testCols : (lo+n)*testCols]
			ops := []string{"encode", "score?explain=2", "reconstruct"}
			op := ops[g%3]
			code, _, b := post(t, c, hs.URL+"/v1/models/m0/"+op, TypeJSON, jsonRows(x))
			a := decodeAnswer(t, b)
			if code != 200 {
				errs <- fmt.Errorf("%s: %d %s", op, code, b)
				return
			}
			var got, want []float32
			switch op {
			case "encode":
				got, want = flat(a.Codes), ref.codes[lo*2:(lo+n)*2]
			case "reconstruct":
				got, want = append(flat(a.Reconstructions), a.Errors...), append(slices.Clone(ref.recon[lo*testCols:(lo+n)*testCols]), ref.rowErr[lo:lo+n]...)
			default:
				got, want = a.Scores, slices.Clone(ref.rowErr[lo:lo+n])
				for i, e := range a.Explain {
					for _, f := range e {
						got, want = append(got, f.Error), append(want, ref.featErr[(lo+i)*testCols+f.Feature])
					}
				}
			}
			if i, ok := sameBits(got, want); !ok {
				errs <- fmt.Errorf("%s of rows %d…%d: value %d differs from the rows alone: %v vs %v", op, lo, lo+n-1, i, got[i], want[i])
			}
		}()
	}
	for v.enqueued.Load() < 24 && len(errs) == 0 {
		time.Sleep(time.Millisecond)
	}
	s.dev.Unlock()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	// Every request is queued before the device frees, and 12 of them
	// hold fewer than MaxBatch rows: whatever order they were queued in,
	// one of those is taken first while others wait, and gathers them.
	// (Counting device batches instead is not order-free: encode and the
	// forward ops run as separate device batches, and some orders give as
	// many as the requests take alone.)
	if got := v.gathers.Load(); got >= 24 {
		t.Errorf("24 concurrent requests ran in %d batches, one each: nothing was batched", got)
	}
	t.Logf("24 requests in %d batches, %d device batches", v.gathers.Load(), v.started.Load())
}

// TestErrors: every error path answers its status code and says why.
func TestErrors(t *testing.T) {
	dir := t.TempDir()
	trainModel(t, dir, 3)
	_, hs := newTestServer(t, Options{MaxRows: 50, MaxBodyBytes: 4096, Token: "s3cret"}, dir)
	slowS, slow := newTestServer(t, Options{}, dir)
	good := planeRows(2, 1)
	nan := slices.Clone(good)
	nan[7] = float32(nan[7] - nan[7]) // 0
	nan[7] /= nan[7]                  // NaN
	cases := []struct {
		name, url, method, ctype, token string
		body                            []byte
		code                            int
		want                            string
	}{
		{"ok", "/v1/models/m0/encode", "POST", TypeJSON, "s3cret", jsonRows(good), 200, `"codes"`},
		{"no token", "/v1/models/m0/encode", "POST", TypeJSON, "", jsonRows(good), 401, "bearer token"},
		{"wrong token", "/v1/models", "GET", "", "nope", nil, 401, "bearer token"},
		{"health needs no token", "/healthz", "GET", "", "", nil, 200, "alive"},
		{"wrong width", "/v1/models/m0/score", "POST", TypeJSON, "s3cret", []byte(`{"rows":[[1,2,3,4,5,6],[1,2,3]]}`), 400, "row 1 has 3 values, model m0 takes 6"},
		{"wrong width npy", "/v1/models/m0/score", "POST", TypeNPY, "s3cret", npyRows(good, 3), 400, "the rows have 3 values, model m0 takes 6"},
		{"NaN npy", "/v1/models/m0/score", "POST", TypeNPY, "s3cret", npyRows(nan, testCols), 400, "row 1 column 1 is NaN"},
		{"NaN json", "/v1/models/m0/encode", "POST", TypeJSON, "s3cret", []byte(`{"rows":[[NaN,1,2,3,4,5]]}`), 400, "NaN or Infinity"},
		{"not json", "/v1/models/m0/encode", "POST", TypeJSON, "s3cret", []byte(`[1,2]`), 400, `the body is not`},
		{"no rows", "/v1/models/m0/encode", "POST", TypeJSON, "s3cret", []byte(`{"rows":[]}`), 400, "no rows"},
		{"too many rows", "/v1/models/m0/encode", "POST", TypeNPY, "s3cret", npyRows(planeRows(51, 1), testCols), 413, "limit of 50"},
		{"oversized body", "/v1/models/m0/encode", "POST", TypeJSON, "s3cret", jsonRows(planeRows(200, 1)), 413, "limit of 4096 bytes"},
		{"wrong content type", "/v1/models/m0/encode", "POST", "application/x-www-form-urlencoded", "s3cret", jsonRows(good), 415, "Content-Type"},
		{"unknown model", "/v1/models/nope/encode", "POST", TypeJSON, "s3cret", jsonRows(good), 404, `no model \"nope\" (served: m0)`},
		{"unknown endpoint", "/v1/models/m0/decode", "POST", TypeJSON, "s3cret", jsonRows(good), 404, "no endpoint"},
		{"wrong method", "/v1/models/m0/encode", "GET", "", "s3cret", nil, 405, ""},
		{"bad explain", "/v1/models/m0/score?explain=7", "POST", TypeJSON, "s3cret", jsonRows(good), 400, "explain"},
		{"explain on encode", "/v1/models/m0/encode?explain=1", "POST", TypeJSON, "s3cret", jsonRows(good), 400, "explain"},
		{"bad timeout", "/v1/models/m0/encode?timeout=soon", "POST", TypeJSON, "s3cret", jsonRows(good), 400, "timeout"},
	}
	for _, tc := range cases {
		req, _ := http.NewRequest(tc.method, hs.URL+tc.url, bytes.NewReader(tc.body))
		if tc.ctype != "" {
			req.Header.Set("Content-Type", tc.ctype)
		}
		if tc.token != "" {
			req.Header.Set("Authorization", "Bearer "+tc.token)
		}
		resp, err := hs.Client().Do(req)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.code || !strings.Contains(string(b), tc.want) {
			t.Errorf("%s: %d %s, want %d with %q", tc.name, resp.StatusCode, b, tc.code, tc.want)
		}
		if tc.code >= 400 && tc.code != 405 && !json.Valid(b) {
			t.Errorf("%s: the error is not JSON: %s", tc.name, b)
		}
	}
	// deadline: the device is busy for longer than the request allows
	slowS.dev.Lock()
	start := time.Now()
	code, _, b := post(t, slow.Client(), slow.URL+"/v1/models/m0/encode?timeout=30ms", TypeJSON, jsonRows(good))
	slowS.dev.Unlock()
	if code != 504 || !strings.Contains(string(b), "deadline of 30ms exceeded") {
		t.Errorf("deadline: %d %s", code, b)
	}
	if d := time.Since(start); d > 4*time.Second {
		t.Errorf("deadline: answered after %s", d)
	}
}

// TestQueueFull: with the device busy and the queue full, a request is
// answered 429 with Retry-After; the waiting ones are answered after.
func TestQueueFull(t *testing.T) {
	dir := t.TempDir()
	trainModel(t, dir, 4)
	s, hs := newTestServer(t, Options{MaxQueue: 1, MaxDelay: time.Microsecond}, dir)
	v := s.models["m0"].cur
	s.dev.Lock() // the device is busy
	locked := true
	defer func() {
		if locked {
			s.dev.Unlock()
		}
	}()
	body := jsonRows(planeRows(1, 1))
	codes := make(chan int, 2)
	send := func() {
		code, _, _ := post(t, hs.Client(), hs.URL+"/v1/models/m0/encode", TypeJSON, body)
		codes <- code
	}
	go send()
	for v.started.Load() < 1 { // the batcher holds the first and waits for the device
		time.Sleep(time.Millisecond)
	}
	go send()
	for len(v.queue) < 1 {
		time.Sleep(time.Millisecond)
	}
	code, h, b := post(t, hs.Client(), hs.URL+"/v1/models/m0/encode", TypeJSON, body)
	if code != 429 || h.Get("Retry-After") != "1" {
		t.Errorf("full queue: %d %s (Retry-After %q)", code, b, h.Get("Retry-After"))
	}
	s.dev.Unlock()
	locked = false
	for range 2 {
		if c := <-codes; c != 200 {
			t.Errorf("a queued request got %d", c)
		}
	}
}

// TestModelsAndMetrics: /v1/models describes the model; /metrics has the
// server's series after a request; /readyz is ready.
func TestModelsAndMetrics(t *testing.T) {
	dir := t.TempDir()
	trainModel(t, dir, 5)
	ref := referenceOf(t, dir, planeRows(1, 1))
	_, hs := newTestServer(t, Options{}, dir)
	post(t, hs.Client(), hs.URL+"/v1/models/m0/score", TypeJSON, jsonRows(planeRows(3, 1)))
	get := func(path string) (int, string) {
		resp, err := hs.Client().Get(hs.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	code, b := get("/v1/models")
	var ms struct{ Models []ModelInfo }
	if err := json.Unmarshal([]byte(b), &ms); err != nil || code != 200 || len(ms.Models) != 1 {
		t.Fatalf("/v1/models: %d %s", code, b)
	}
	m := ms.Models[0]
	if m.Name != "m0" || m.Version != ref.version || m.Cols != 6 || m.Latent != 2 || m.Threshold == nil || m.Scaler.Kind != "standard" || m.Config["layers"] == nil {
		t.Errorf("/v1/models: %+v", m)
	}
	if code, b := get("/readyz"); code != 200 || !strings.Contains(b, "ready") {
		t.Errorf("/readyz: %d %s", code, b)
	}
	code, b = get("/metrics")
	for _, want := range []string{
		`aegpu_serve_requests_total{code="200",model="m0",op="score"} 1`,
		`aegpu_serve_rows_total{model="m0",op="score"} 3`,
		`aegpu_serve_batch_rows_bucket{model="m0",le="4"} 1`,
		`aegpu_serve_queue_depth{model="m0"} 0`,
		`aegpu_serve_request_duration_seconds_count{model="m0",op="score"} 1`,
		`aegpu_serve_model_version_info{model="m0",version="` + ref.version + `"} 1`,
		"go_goroutines",
	} {
		if code != 200 || !strings.Contains(b, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// TestTopK: the explanation's choice is anomaly.Explain's, ties included.
func TestTopK(t *testing.T) {
	fe := []float32{0.5, 2, 0.5, 3, 2, 0, 2, 0.5}
	for k := 1; k <= len(fe); k++ {
		ex, _ := anomaly.Explain([]float64{1}, fe, len(fe), nil, 0, k, 1)
		got := topK(make([]int, k), fe)
		for i, f := range ex[0].Features {
			if got[i] != f.Feature {
				t.Fatalf("k=%d: %v, want feature %d at %d", k, got, f.Feature, i)
			}
		}
	}
}

// TestBatchAllocs: a device batch of requests (rows copied in, run, the
// results copied out) allocates nothing: the buffers are the version's.
func TestBatchAllocs(t *testing.T) {
	dir := t.TempDir()
	trainModel(t, dir, 6)
	s, _ := newTestServer(t, Options{MaxBatch: 64}, dir)
	v := s.models["m0"].cur
	rows := planeRows(100, 3)
	var jobs []*job
	for i, o := range []op{opEncode, opScore, opReconstruct, opScore} {
		j := newJob(context.Background(), o, 25, testCols, v.lat, i == 3)
		copy(j.data, rows[i*25*testCols:])
		jobs = append(jobs, j)
	}
	s.dev.Lock() // the batcher is idle; runJobs takes the lock itself
	s.dev.Unlock()
	// AllocsPerRun counts every goroutine's mallocs, and goroutines that
	// earlier tests left winding down (a retiring version, a closing
	// connection) can allocate during a measurement. A malloc of runJobs
	// shows in every measurement, theirs in some: the least of three is
	// the batch's own count.
	allocs := math.Inf(1)
	for range 3 {
		runtime.GC()
		allocs = min(allocs, testing.AllocsPerRun(20, func() {
			v.batch = append(v.batch[:0], jobs...)
			v.runJobs(opEncode)
			v.runJobs(opReconstruct)
		}))
	}
	if allocs != 0 {
		t.Errorf("%v allocations per batch", allocs)
	}
	for _, j := range jobs {
		if j.err != nil {
			t.Fatal(j.err)
		}
	}
}

// TestLoneRequestDoesNotWait: with no other request on its way, a batch
// runs at once rather than after MaxDelay (an hour here: waiting would
// end in the 10 s deadline's 504).
func TestLoneRequestDoesNotWait(t *testing.T) {
	dir := t.TempDir()
	trainModel(t, dir, 7)
	_, hs := newTestServer(t, Options{MaxDelay: time.Hour}, dir)
	for range 3 {
		if code, _, b := post(t, hs.Client(), hs.URL+"/v1/models/m0/score", TypeJSON, jsonRows(planeRows(2, 1))); code != 200 {
			t.Fatalf("%d %s", code, b)
		}
	}
}

// TestTwoModels: two models on one device, asked at once, each answer
// their own bits (their batches take turns on the device).
func TestTwoModels(t *testing.T) {
	d0, d1 := t.TempDir(), t.TempDir()
	trainModel(t, d0, 1)
	trainModel(t, d1, 2)
	rows := planeRows(64, 3)
	refs := []reference{referenceOf(t, d0, rows), referenceOf(t, d1, rows)}
	_, hs := newTestServer(t, Options{MaxBatch: 16}, d0, d1)
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m, lo := g%2, (g*5)%50
			code, _, b := post(t, hs.Client(), fmt.Sprintf("%s/v1/models/m%d/score", hs.URL, m), TypeJSON, jsonRows(rows[lo*testCols:(lo+14)*testCols]))
			a := decodeAnswer(t, b)
			if code != 200 || a.Version != refs[m].version {
				errs <- fmt.Errorf("m%d: %d %s", m, code, b)
				return
			}
			if i, ok := sameBits(a.Scores, refs[m].rowErr[lo:lo+14]); !ok {
				errs <- fmt.Errorf("m%d rows %d…: score %d differs", m, lo, i)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
