package bench

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/aegpu/aegpu/cpu_fallback"
)

func TestFLOPsMatchREADME(t *testing.T) {
	// bench/README.md: mnist 6.49 MFLOP per sample, wide 264 MFLOP.
	for _, c := range []struct {
		m    Model
		want float64
	}{{Models[1], 6.49e6}, {Models[3], 264e6}} {
		if got := c.m.FLOPsPerSample(); math.Abs(got-c.want)/c.want > 0.005 {
			t.Errorf("%s: %.4g FLOP/sample, bench/README.md says %.4g", c.m.Name, got, c.want)
		}
	}
}

func TestRunOnCPU(t *testing.T) {
	b := cpu_fallback.New(0)
	defer b.Close()
	o := Options{Windows: 3, MinWindow: 10 * time.Millisecond, Warmup: 1, Seed: 1}
	r, err := Run(b, Models[0], o)
	if err != nil {
		t.Fatal(err)
	}
	if !(r.SamplesPerSec > 0) || r.MinSPS > r.SamplesPerSec || r.MaxSPS < r.SamplesPerSec || r.Windows != 3 {
		t.Errorf("result %+v", r)
	}
	if !strings.Contains(Table([]Result{r}, nil), "toy") {
		t.Error("table lacks the model")
	}
}

func TestParseReferenceAndCompare(t *testing.T) {
	out := []byte(`{"model": "mnist", "batch": 256, "mode": "eager", "samples_per_sec": 143500, "samples_per_sec_min": 140000, "samples_per_sec_max": 150000, "us_per_step": 1784, "tflops": 0.93, "device": "H100"}
{"model": "mnist", "batch": 256, "mode": "graph", "samples_per_sec": 684000, "samples_per_sec_min": 680000, "samples_per_sec_max": 690000, "us_per_step": 374, "tflops": 4.4, "device": "H100"}
`)
	refs, err := ParseReference(out)
	if err != nil || len(refs) != 2 {
		t.Fatalf("ParseReference: %v %v", refs, err)
	}
	// A CPU reference line (kind "cpu") is compared with the CPU result
	// only; the GPU result with the GPU lines (no kind: an older script).
	cpuRef, err := ParseReference([]byte(`{"model": "mnist", "batch": 256, "mode": "eager", "samples_per_sec": 10000, "us_per_step": 25600, "device": "x86_64, 2 threads", "kind": "cpu"}`))
	if err != nil {
		t.Fatal(err)
	}
	s := Compare([]Result{
		{Model: "mnist", Batch: 256, Device: "cuda:0 (H100)", SamplesPerSec: 1368000, MicrosPerStep: 187},
		{Model: "mnist", Batch: 256, Device: "cpu (AMD EPYC, 2 threads)", SamplesPerSec: 20000, MicrosPerStep: 12800},
	}, append(refs, cpuRef...))
	if !strings.Contains(s, "2.00×") || !strings.Contains(s, "pytorch cuda graph") || !strings.Contains(s, "pytorch cpu eager") {
		t.Errorf("comparison:\n%s", s)
	}
	for _, line := range strings.Split(s, "\n") {
		if strings.Contains(line, "aegpu cpu") && !strings.HasSuffix(strings.TrimSpace(line), "2.00×") {
			t.Errorf("the CPU result is not compared with the CPU reference: %q", line)
		}
	}
	if _, err := ParseReference([]byte("not json\n")); err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Errorf("bad output: %v", err)
	}
}
