package autoencoder

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/aegpu/aegpu/engine"
)

// The ONNX checker and ONNX Runtime run where they are installed: Python's
// onnx package (Debian: python3-onnx) and the npm package onnxruntime-node
// (`npm install --prefix DIR onnxruntime-node`, then
// AEGPU_ONNXRUNTIME_NODE=DIR; add --ignore-scripts where its install script
// cannot download: the package carries the CPU runtime for linux-x64
// itself). Elsewhere their tests skip and say why;
// with AEGPU_REQUIRE_ONNX=1 (CI) they fail instead.

func skipONNX(t *testing.T, format string, args ...any) {
	t.Helper()
	if os.Getenv("AEGPU_REQUIRE_ONNX") == "1" {
		t.Fatalf(format+" (AEGPU_REQUIRE_ONNX=1)", args...)
	}
	t.Skipf(format, args...)
}

// onnxPython returns a Python that imports onnx: the system's first (a
// pyenv python3 on PATH may not see Debian's packages), then PATH's.
func onnxPython(t *testing.T) string {
	t.Helper()
	cands := []string{"/usr/bin/python3"}
	if p, err := exec.LookPath("python3"); err == nil {
		cands = append(cands, p)
	}
	for _, p := range cands {
		if exec.Command(p, "-c", "import onnx").Run() == nil {
			return p
		}
	}
	skipONNX(t, "no python3 with the onnx package (tried %s): the ONNX checker does not run", strings.Join(cands, ", "))
	return ""
}

// onnxRuntime returns node's path once testdata/onnx_run.js loads ONNX
// Runtime with it.
func onnxRuntime(t *testing.T) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		skipONNX(t, "no node on PATH: ONNX Runtime (onnxruntime-node) does not run")
	}
	out, err := exec.Command(node, "testdata/onnx_run.js", "--probe").CombinedOutput()
	if err != nil {
		first, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
		skipONNX(t, "ONNX Runtime does not load (set AEGPU_ONNXRUNTIME_NODE to a directory where `npm install onnxruntime-node` ran): %s", first)
	}
	return node
}

// TestONNXChecker: onnx.checker.check_model with full_check (shape
// inference included) accepts every export at the default opset.
func TestONNXChecker(t *testing.T) {
	py := onnxPython(t)
	b := cpu(t)
	dir := t.TempDir()
	var paths []string
	for _, c := range onnxCases() {
		for _, scaled := range []bool{false, true} {
			m, cfg := onnxTestModel(t, b, c, scaled)
			for _, part := range onnxParts(c.arch) {
				p := filepath.Join(dir, fmt.Sprintf("%s-%v-%s.onnx", c.name, scaled, part))
				if err := m.WriteONNX(p, cfg, ONNXOptions{Part: part}); err != nil {
					t.Fatal(err)
				}
				paths = append(paths, p)
			}
		}
	}
	const script = `import sys, onnx
for p in sys.argv[1:]:
    onnx.checker.check_model(onnx.load(p), full_check=True)
print("onnx", onnx.__version__, "checked", len(sys.argv) - 1, "models")`
	out, err := exec.Command(py, append([]string{"-c", script}, paths...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("onnx checker: %v\n%s", err, out)
	}
	t.Log(strings.TrimSpace(string(out)))
}

// ortRun is one model ONNX Runtime runs, and what aegpu computes for it.
type ortRun struct {
	label string
	Model string               `json:"model"`
	Feeds map[string]ortTensor `json:"feeds"`
	want  map[string][]float32 // by output name
	got   map[string]ortTensor
}

// rows is the number of rows fed.
func (r *ortRun) rows() int {
	for _, f := range r.Feeds {
		return f.Dims[0]
	}
	return 0
}

type ortTensor struct {
	Dims []int     `json:"dims"`
	Data []float32 `json:"data"`
}

// TestONNXRuntime: ONNX Runtime computes from every export what aegpu's
// Predictor computes (Encode, Reconstruct, Decode; a VAE's log σ²), within
// 1e-5 (relative above 1), for every activation, tied weights, a VAE and
// encoder-only models, with and without the scaler, at opsets 17 and 20.
func TestONNXRuntime(t *testing.T) {
	node := onnxRuntime(t)
	b := cpu(t)
	dir := t.TempDir()
	var runs []*ortRun
	for _, c := range onnxCases() {
		m, cfg := onnxTestModel(t, b, c, true)
		runs = append(runs, onnxRuns(t, m, cfg, c.name, dir)...)
	}
	in, err := json.Marshal(runs)
	if err != nil {
		t.Fatal(err)
	}
	manifest := filepath.Join(dir, "runs.json")
	if err := os.WriteFile(manifest, in, 0o644); err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd := exec.Command(node, "testdata/onnx_run.js", manifest)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("onnx_run.js: %v\n%s", err, stderr.String())
	}
	var res struct {
		Version string                 `json:"version"`
		Results []map[string]ortTensor `json:"results"`
	}
	if err := json.Unmarshal(out, &res); err != nil || len(res.Results) != len(runs) {
		t.Fatalf("onnx_run.js printed %d results for %d runs (%v)", len(res.Results), len(runs), err)
	}
	t.Logf("ONNX Runtime %s, %d runs", res.Version, len(runs))
	for i, r := range runs {
		r.got = res.Results[i]
		compareRun(t, r)
	}
}

// compareRun checks a run's outputs against aegpu's and logs the largest
// differences.
func compareRun(t *testing.T, r *ortRun) {
	t.Helper()
	var line []string
	for _, name := range slices.Sorted(maps.Keys(r.want)) {
		want := r.want[name]
		got, ok := r.got[name]
		if !ok || len(got.Data) != len(want) || len(got.Dims) != 2 || got.Dims[0]*got.Dims[1] != len(want) || got.Dims[0] != r.rows() {
			t.Errorf("%s: output %s has dims %v and %d values, want %d", r.label, name, got.Dims, len(got.Data), len(want))
			continue
		}
		worst := 0.0
		for j, w := range want {
			d := math.Abs(float64(got.Data[j]) - float64(w))
			worst = max(worst, d)
			if d > 1e-5*max(1, math.Abs(float64(w))) || math.IsNaN(d) {
				t.Errorf("%s: %s[%d] = %v, aegpu %v", r.label, name, j, got.Data[j], w)
				break
			}
		}
		line = append(line, fmt.Sprintf("%s %.2g", name, worst))
	}
	if len(r.got) != len(r.want) {
		t.Errorf("%s: ONNX Runtime gave %d outputs, want %d", r.label, len(r.got), len(r.want))
	}
	t.Logf("%-28s max |ONNX Runtime − aegpu|: %s", r.label, strings.Join(line, ", "))
}

// onnxRuns exports m's parts into dir and returns the runs that check
// them, with aegpu's outputs for the same rows.
func onnxRuns(t *testing.T, m *Model, cfg Config, name, dir string) []*ortRun {
	t.Helper()
	a := m.Arch
	const rows = 5
	x := make([]float32, rows*a.Input())
	engine.FillUniform(x, 11, 3, 0, -3, 5)
	p, err := NewPredictor(m, cfg, 8)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Free()
	codes, err := p.Encode(x, a.Input())
	if err != nil {
		t.Fatal(err)
	}
	enc := map[string][]float32{ONNXCode: codes}
	if a.VAE {
		enc = map[string][]float32{ONNXMu: codes, ONNXLogVar: vaeLogVar(t, p, x)}
	}
	export := func(label string, opts ONNXOptions, feed string, data []float32, want map[string][]float32) *ortRun {
		path := filepath.Join(dir, name+"-"+label+".onnx")
		if err := m.WriteONNX(path, cfg, opts); err != nil {
			t.Fatal(err)
		}
		w := len(data) / rows
		return &ortRun{label: name + "/" + label, Model: path, want: want,
			Feeds: map[string]ortTensor{feed: {Dims: []int{rows, w}, Data: data}}}
	}
	runs := []*ortRun{export("encoder", ONNXOptions{Part: ONNXEncoder}, ONNXInput, x, enc)}
	if a.EncoderOnly {
		return append(runs, export("model", ONNXOptions{}, ONNXInput, x, enc))
	}
	recon, _, err := p.Reconstruct(x, a.Input())
	if err != nil {
		t.Fatal(err)
	}
	dec, err := p.Decode(codes)
	if err != nil {
		t.Fatal(err)
	}
	full := map[string][]float32{ONNXReconstruction: recon}
	for k, v := range enc {
		full[k] = v
	}
	runs = append(runs,
		export("model", ONNXOptions{}, ONNXInput, x, full),
		export("decoder", ONNXOptions{Part: ONNXDecoder}, ONNXCode, codes, map[string][]float32{ONNXReconstruction: dec}),
		export("model-opset20", ONNXOptions{Opset: 20}, ONNXInput, x, full))
	// Without the scaler: scaled rows in, the model's space out.
	scaled := append([]float32(nil), x...)
	if err := cfg.Scaler.Apply(scaled, a.Input()); err != nil {
		t.Fatal(err)
	}
	rs, err := p.ReconstructScaled(scaled, a.Input())
	if err != nil {
		t.Fatal(err)
	}
	ds, err := p.DecodeScaled(codes)
	if err != nil {
		t.Fatal(err)
	}
	noSc := map[string][]float32{ONNXReconstruction: rs}
	for k, v := range enc {
		noSc[k] = v
	}
	return append(runs,
		export("model-no-scaler", ONNXOptions{NoScaler: true}, ONNXInput, scaled, noSc),
		export("decoder-no-scaler", ONNXOptions{Part: ONNXDecoder, NoScaler: true}, ONNXCode, codes, map[string][]float32{ONNXReconstruction: ds}))
}

// vaeLogVar is a VAE's log σ² of rows x, from the model's own forward
// pass (Predictor exposes only μ).
func vaeLogVar(t *testing.T, p *Predictor, x []float32) []float32 {
	t.Helper()
	a := p.Model.Arch
	n := len(x) / a.Input()
	if err := p.load(x, a.Input(), 0, n); err != nil {
		t.Fatal(err)
	}
	v := p.ws.rows(n)
	if _, err := p.Model.encode(v, v.x); err != nil {
		t.Fatal(err)
	}
	out := make([]float32, n*a.LatentDim())
	if err := p.Model.Backend.Download(out, v.y[a.CodeLayer()+1]); err != nil {
		t.Fatal(err)
	}
	return out
}
