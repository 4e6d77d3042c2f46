package backends_test

import (
	"math"
	"testing"

	_ "github.com/aegpu/aegpu/backends"
	"github.com/aegpu/aegpu/engine"
	"github.com/aegpu/aegpu/internal/paritytest"
)

// losses trains 50 steps (10 epochs of 5 batches of 37 rows) on b and
// returns the running loss after every step.
func losses(t *testing.T, b engine.Backend, hidden engine.Act, loss string) []float64 {
	l, _ := paritytest.Run{Rows: 5 * 37, Epochs: 10, Batch: 37, Hidden: hidden, Loss: loss}.Train(t, b)
	return l
}

// TestGPUMatchesCPUOverTraining is the end-to-end parity check: the same
// seed gives the same losses on the GPU and the CPU for 50 steps.
func TestGPUMatchesCPUOverTraining(t *testing.T) {
	gpu, _, err := engine.Open("cuda")
	if err != nil {
		t.Skipf("no CUDA device: %v", err)
	}
	defer gpu.Close()
	cpu, _, err := engine.Open("cpu")
	if err != nil {
		t.Fatal(err)
	}
	defer cpu.Close()
	for _, c := range []struct {
		hidden engine.Act
		loss   string
	}{{engine.ReLU, "mse"}, {engine.GELU, "bce"}, {engine.Tanh, "mse"}} {
		lc := losses(t, cpu, c.hidden, c.loss)
		lg := losses(t, gpu, c.hidden, c.loss)
		if len(lc) != 50 || len(lg) != 50 {
			t.Fatalf("%s/%s: %d and %d steps, want 50", c.hidden, c.loss, len(lc), len(lg))
		}
		for i := range lc {
			// Both run fp32 with different summation orders; over 50 Adam
			// steps the difference stays far below 1e-4 relative.
			if math.Abs(lc[i]-lg[i]) > 1e-4*math.Abs(lc[i]) {
				t.Errorf("%s/%s step %d: cpu loss %.8g, gpu %.8g", c.hidden, c.loss, i+1, lc[i], lg[i])
			}
		}
	}
}

// TestGPUVariantsMatchCPU runs every variant 20 steps (5 epochs of 4
// batches of 37 rows) from one seed on the GPU and the CPU.
func TestGPUVariantsMatchCPU(t *testing.T) {
	gpu, _, err := engine.Open("cuda")
	if err != nil {
		t.Skipf("no CUDA device: %v", err)
	}
	defer gpu.Close()
	cpu, _, err := engine.Open("cpu")
	if err != nil {
		t.Fatal(err)
	}
	defer cpu.Close()
	for _, v := range paritytest.Variants {
		t.Run(v.Name, func(t *testing.T) {
			r := paritytest.Run{Rows: 4 * 37, Epochs: 5, Batch: 37, Hidden: engine.Tanh, Loss: "mse", Variant: &v}
			lc, _ := r.Train(t, cpu)
			lg, _ := r.Train(t, gpu)
			if len(lc) != 20 || len(lg) != 20 {
				t.Fatalf("%d and %d steps, want 20", len(lc), len(lg))
			}
			for i := range lc {
				// fp32 on both, different summation orders: rel 1e-4.
				if math.Abs(lc[i]-lg[i]) > 1e-4*math.Abs(lc[i]) {
					t.Errorf("step %d: cpu loss %.8g, gpu %.8g", i+1, lc[i], lg[i])
				}
			}
		})
	}
}
