package backends_test

import (
	"testing"

	"github.com/aegpu/aegpu/autoencoder/paritytest"
	_ "github.com/aegpu/aegpu/backends"
	"github.com/aegpu/aegpu/engine"
)

// devices opens the GPU (skipping without one) and the CPU.
func devices(t *testing.T) (gpu, cpu engine.Backend) {
	gpu, _, err := engine.Open("cuda")
	if err != nil {
		t.Skipf("no CUDA device: %v", err)
	}
	t.Cleanup(func() { gpu.Close() })
	cpu, _, err = engine.Open("cpu")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cpu.Close() })
	return gpu, cpu
}

// TestGPUMatchesCPUOverTraining is the end-to-end parity check: the same
// seed gives the same losses on the GPU and the CPU for 50 steps (10
// epochs of 5 batches of 37 rows).
func TestGPUMatchesCPUOverTraining(t *testing.T) {
	gpu, cpu := devices(t)
	for _, c := range []struct {
		hidden engine.Act
		loss   string
	}{{engine.ReLU, "mse"}, {engine.GELU, "bce"}, {engine.Tanh, "mse"}} {
		t.Run(c.hidden.String()+"/"+c.loss, func(t *testing.T) {
			r := paritytest.Run{Rows: 5 * 37, Epochs: 10, Batch: 37, Hidden: c.hidden, Loss: c.loss}
			paritytest.SameLosses(t, r, cpu, gpu, 50)
		})
	}
}

// TestGPUVariantsMatchCPU runs every variant 20 steps (5 epochs of 4
// batches of 37 rows) from one seed on the GPU and the CPU.
func TestGPUVariantsMatchCPU(t *testing.T) {
	gpu, cpu := devices(t)
	for _, v := range paritytest.Variants {
		t.Run(v.Name, func(t *testing.T) {
			r := paritytest.Run{Rows: 4 * 37, Epochs: 5, Batch: 37, Hidden: engine.Tanh, Loss: "mse", Variant: &v}
			paritytest.SameLosses(t, r, cpu, gpu, 20)
		})
	}
}

// TestGPUTF32MatchesCPU: with --precision tf32 (the tensor-core kernels,
// compute capability ≥ 8.0; skipped below), the same seed gives the CPU's
// fp32 losses within TF32 accuracy for 50 steps, for every variant too.
// TF32 products of K terms are off by ≈ 2⁻¹⁰·√K of their scale (K ≤ 37
// here): 2e-3 relative per step's loss, an average over 37×33 elements.
func TestGPUTF32MatchesCPU(t *testing.T) {
	gpu, cpu := devices(t)
	if err := engine.SetPrecision(gpu, engine.TF32); err != nil {
		t.Skipf("no TF32 on this GPU: %v", err)
	}
	for _, c := range []struct {
		hidden engine.Act
		loss   string
	}{{engine.ReLU, "mse"}, {engine.GELU, "bce"}, {engine.Tanh, "mse"}} {
		t.Run(c.hidden.String()+"/"+c.loss, func(t *testing.T) {
			r := paritytest.Run{Rows: 5 * 37, Epochs: 10, Batch: 37, Hidden: c.hidden, Loss: c.loss}
			paritytest.CloseLosses(t, r, cpu, gpu, 50, 2e-3)
		})
	}
	for _, v := range paritytest.Variants {
		t.Run(v.Name, func(t *testing.T) {
			r := paritytest.Run{Rows: 4 * 37, Epochs: 5, Batch: 37, Hidden: engine.Tanh, Loss: "mse", Variant: &v}
			paritytest.CloseLosses(t, r, cpu, gpu, 20, 2e-3)
		})
	}
}

// TestGPUBF16MatchesCPU: with --precision bf16 (the tensor-core kernels,
// compute capability ≥ 8.0; skipped below), the same seed gives the CPU's
// fp32 losses within BF16 accuracy for 50 steps, for every variant too.
// bf16 operands (unit roundoff 2⁻⁸, 8× TF32's): products of K ≤ 37 terms
// off by ≈ 2⁻⁸·√K of their scale, averaged over a step's loss: 1.6e-2
// relative (TF32's 2e-3 × 8).
func TestGPUBF16MatchesCPU(t *testing.T) {
	gpu, cpu := devices(t)
	if err := engine.SetPrecision(gpu, engine.BF16); err != nil {
		t.Skipf("no BF16 on this GPU: %v", err)
	}
	for _, c := range []struct {
		hidden engine.Act
		loss   string
	}{{engine.ReLU, "mse"}, {engine.GELU, "bce"}, {engine.Tanh, "mse"}} {
		t.Run(c.hidden.String()+"/"+c.loss, func(t *testing.T) {
			r := paritytest.Run{Rows: 5 * 37, Epochs: 10, Batch: 37, Hidden: c.hidden, Loss: c.loss}
			paritytest.CloseLosses(t, r, cpu, gpu, 50, 1.6e-2)
		})
	}
	for _, v := range paritytest.Variants {
		t.Run(v.Name, func(t *testing.T) {
			r := paritytest.Run{Rows: 4 * 37, Epochs: 5, Batch: 37, Hidden: engine.Tanh, Loss: "mse", Variant: &v}
			paritytest.CloseLosses(t, r, cpu, gpu, 20, 1.6e-2)
		})
	}
}
