package serve

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/aegpu/aegpu/autoencoder"
	"github.com/aegpu/aegpu/cpu_fallback"
	"github.com/aegpu/aegpu/dataset"
	"github.com/aegpu/aegpu/engine"
)

const testCols = 6

// planeRows are rows near a 2-D plane in 6 dimensions, in units far from
// [0,1] (the model scales them).
func planeRows(n int, seed uint64) []float32 {
	x := make([]float32, n*testCols)
	ab := make([]float32, 2*n)
	engine.FillUniform(ab, seed, 1, 0, -3, 3)
	noise := make([]float32, n*testCols)
	engine.FillNormal(noise, seed, 2, 0, 0, 0.05)
	for i := range n {
		a, b := ab[2*i], ab[2*i+1]
		row := []float32{10 * a, 3 * b, a + b, 5*a - b, 2 + a*b, -b}
		for j, v := range row {
			x[i*testCols+j] = v + noise[i*testCols+j]
		}
	}
	return x
}

// trainModel trains a small model (seed picks its weights) into dir,
// with a threshold saved beside it, and returns its training rows.
func trainModel(t testing.TB, dir string, seed uint64) []float32 {
	t.Helper()
	b := cpu_fallback.New(1)
	defer b.Close()
	cfg := autoencoder.DefaultTrainConfig()
	cfg.Epochs, cfg.Batch, cfg.LR, cfg.Seed = 8, 32, 1e-2, seed
	ae, err := autoencoder.New(autoencoder.Options{Layers: []int{testCols, 8, 2}, Hidden: "tanh", Scale: "standard", Train: cfg, Backend: b})
	if err != nil {
		t.Fatal(err)
	}
	defer ae.Close()
	x := planeRows(300, seed)
	if err := ae.Fit(context.Background(), x, testCols); err != nil {
		t.Fatal(err)
	}
	if err := ae.Save(dir); err != nil {
		t.Fatal(err)
	}
	e, err := ae.Score(x)
	if err != nil {
		t.Fatal(err)
	}
	var mean float64
	for _, v := range e {
		mean += float64(v)
	}
	th := autoencoder.Threshold{Value: 2 * mean / float64(len(e)), Rule: "fixed", Metric: "mse", FittedOn: "test"}
	if err := autoencoder.SaveThreshold(dir, th); err != nil {
		t.Fatal(err)
	}
	return x
}

// reference is what `aegpu encode` and `aegpu score` compute for rows:
// a predictor of 1024-row batches.
type reference struct {
	codes, recon, rowErr, featErr []float32
	version                       string
}

func referenceOf(t testing.TB, dir string, rows []float32) reference {
	t.Helper()
	b := cpu_fallback.New(1)
	defer b.Close()
	m, cfg, err := autoencoder.LoadModel(dir, b)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Free()
	p, err := autoencoder.NewPredictor(m, cfg, 1024)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Free()
	var r reference
	r.codes = make([]float32, len(rows)/testCols*m.Arch.LatentDim())
	if err := p.EncodeInto(r.codes, rows, testCols); err != nil {
		t.Fatal(err)
	}
	if r.recon, _, err = p.Reconstruct(rows, testCols); err != nil {
		t.Fatal(err)
	}
	if r.rowErr, r.featErr, err = p.Errors(rows, testCols, engine.MSE, true); err != nil {
		t.Fatal(err)
	}
	f, err := autoencoder.ReadModelFiles(dir)
	if err != nil {
		t.Fatal(err)
	}
	r.version = f.Version
	return r
}

// newTestServer serves the model directories dirs (named m0, m1, …) on a
// CPU backend of 1 thread.
func newTestServer(t testing.TB, o Options, dirs ...string) (*Server, *httptest.Server) {
	t.Helper()
	b := cpu_fallback.New(1)
	o.Backend = b
	var ms []Model
	for i, d := range dirs {
		ms = append(ms, Model{Name: fmt.Sprintf("m%d", i), Dir: d})
	}
	s, err := New(o, ms...)
	if err != nil {
		b.Close()
		t.Fatal(err)
	}
	hs := httptest.NewServer(s)
	t.Cleanup(func() {
		hs.Close()
		s.Close()
		b.Close()
	})
	return s, hs
}

func jsonRows(rows []float32) []byte {
	var bb bytes.Buffer
	bb.WriteString(`{"rows":[`)
	for i := 0; i < len(rows); i += testCols {
		if i > 0 {
			bb.WriteByte(',')
		}
		b, _ := json.Marshal(rows[i : i+testCols])
		bb.Write(b)
	}
	bb.WriteString("]}")
	return bb.Bytes()
}

func npyRows(rows []float32, cols int) []byte {
	var bb bytes.Buffer
	if err := dataset.EncodeNPY(&bb, len(rows)/cols, cols, rows); err != nil {
		panic(err)
	}
	return bb.Bytes()
}

// answer is a decoded JSON answer of an inference endpoint.
type answer struct {
	Model           string      `json:"model"`
	Version         string      `json:"version"`
	Rows            int         `json:"rows"`
	Codes           [][]float32 `json:"codes"`
	Reconstructions [][]float32 `json:"reconstructions"`
	Errors          []float32   `json:"errors"`
	Scores          []float32   `json:"scores"`
	Flags           []bool      `json:"flags"`
	Threshold       *float64    `json:"threshold"`
	Metric          string      `json:"metric"`
	Explain         [][]struct {
		Feature int     `json:"feature"`
		Name    string  `json:"name"`
		Error   float32 `json:"error"`
	} `json:"explain"`
	Error string `json:"error"`
	Code  int    `json:"code"`
}

func post(t testing.TB, c *http.Client, url, ctype string, body []byte) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest("POST", url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, b
}

func decodeAnswer(t testing.TB, b []byte) answer {
	t.Helper()
	var a answer
	if err := json.Unmarshal(b, &a); err != nil {
		t.Fatalf("answer %s: %v", b, err)
	}
	return a
}

func flat(m [][]float32) []float32 {
	var out []float32
	for _, r := range m {
		out = append(out, r...)
	}
	return out
}

// sameBits reports the first index where a and b differ in bits.
func sameBits(a, b []float32) (int, bool) {
	if len(a) != len(b) {
		return -1, false
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return i, false
		}
	}
	return 0, true
}
