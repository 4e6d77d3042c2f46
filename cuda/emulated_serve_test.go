package cuda_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/aegpu/aegpu/autoencoder"
	"github.com/aegpu/aegpu/cpu_fallback"
	"github.com/aegpu/aegpu/engine"
	"github.com/aegpu/aegpu/serve"
)

// TestEmulatedServe: the server's batcher on the CUDA backend. Concurrent
// requests of 1 to 20 rows, gathered into device batches of at most 16
// rows (a request split across batches, a batch holding several), are
// answered the bits a GPU predictor of 1024-row batches computes for the
// same rows: codes, row errors and feature errors do not depend on the
// batch a row rides in, on the GPU as on the CPU.
func TestEmulatedServe(t *testing.T) {
	g := emulated(t)
	const cols = 6
	dir := t.TempDir()
	c := cpu_fallback.New(1)
	defer c.Close()
	cfg := autoencoder.DefaultTrainConfig()
	cfg.Epochs, cfg.Batch, cfg.Seed = 3, 32, 1
	ae, err := autoencoder.New(autoencoder.Options{Layers: []int{cols, 8, 2}, Hidden: "tanh", Scale: "standard", Train: cfg, Backend: c})
	if err != nil {
		t.Fatal(err)
	}
	x := make([]float32, 200*cols)
	engine.FillNormal(x, 3, 1, 0, 0, 2)
	if err := ae.Fit(context.Background(), x, cols); err != nil {
		t.Fatal(err)
	}
	if err := ae.Save(dir); err != nil {
		t.Fatal(err)
	}
	ae.Close()

	// the reference: one GPU predictor, 1024-row batches
	m, mc, err := autoencoder.LoadModel(dir, g)
	if err != nil {
		t.Fatal(err)
	}
	p, err := autoencoder.NewPredictor(m, mc, 1024)
	if err != nil {
		t.Fatal(err)
	}
	wantCodes := make([]float32, 200*2)
	if err := p.EncodeInto(wantCodes, x, cols); err != nil {
		t.Fatal(err)
	}
	wantErr, wantFeat, err := p.Errors(x, cols, engine.MSE, true)
	if err != nil {
		t.Fatal(err)
	}
	p.Free()
	m.Free()

	s, err := serve.New(serve.Options{Backend: g, MaxBatch: 16, MaxDelay: 20 * time.Millisecond}, serve.Model{Name: "m", Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(s)
	defer func() {
		hs.Close()
		s.Close()
	}()
	var wg sync.WaitGroup
	errs := make(chan error, 24)
	for r := range 24 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lo, n := (r*23)%170, 1+(r*7)%20
			var body bytes.Buffer
			rows := make([][]float32, n)
			for i := range rows {
				rows[i] = x[(lo+i)*cols : (lo+i+1)*cols]
			}
			json.NewEncoder(&body).Encode(map[string]any{"rows": rows})
			op := []string{"encode", "score?explain=3"}[r%2]
			resp, err := hs.Client().Post(hs.URL+"/v1/models/m/"+op, serve.TypeJSON, &body)
			if err != nil {
				errs <- err
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			var a struct {
				Codes   [][]float32
				Scores  []float32
				Explain [][]struct {
					Feature int
					Error   float32
				}
			}
			if resp.StatusCode != 200 || json.Unmarshal(b, &a) != nil {
				errs <- fmt.Errorf("%s: %d %s", op, resp.StatusCode, b)
				return
			}
			same := func(what string, got, want float32) bool {
				if math.Float32bits(got) != math.Float32bits(want) {
					errs <- fmt.Errorf("%s of rows %d…%d: %s is %v, the 1024-row predictor's %v", op, lo, lo+n-1, what, got, want)
					return false
				}
				return true
			}
			for i := range n {
				if r%2 == 0 {
					for k := range 2 {
						if !same(fmt.Sprintf("row %d code %d", lo+i, k), a.Codes[i][k], wantCodes[(lo+i)*2+k]) {
							return
						}
					}
					continue
				}
				if !same(fmt.Sprintf("row %d's score", lo+i), a.Scores[i], wantErr[lo+i]) {
					return
				}
				for _, f := range a.Explain[i] {
					if !same(fmt.Sprintf("row %d feature %d's error", lo+i, f.Feature), f.Error, wantFeat[(lo+i)*cols+f.Feature]) {
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	res, err := hs.Client().Get(hs.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	mb, _ := io.ReadAll(res.Body)
	res.Body.Close()
	t.Logf("device batches:\n%s", bytes.Join(grep(mb, "aegpu_serve_batch_rows_"), []byte("\n")))
}

func grep(b []byte, sub string) [][]byte {
	var out [][]byte
	for _, l := range bytes.Split(b, []byte("\n")) {
		if bytes.Contains(l, []byte(sub)) && !bytes.HasPrefix(l, []byte("#")) {
			out = append(out, l)
		}
	}
	return out
}
