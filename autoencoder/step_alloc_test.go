package autoencoder

import (
	"testing"

	"github.com/aegpu/aegpu/engine"
)

// TestStepAllocatesNothing: on the CPU backend a training step (the batch
// upload, the step of every variant, the optimizer) allocates nothing on
// the Go heap once the trainer is built: the step is a hot path.
func TestStepAllocatesNothing(t *testing.T) {
	b := cpu(t)
	for _, kind := range []Variant{VariantPlain, VariantDenoising, VariantSparse, VariantContractive, VariantVAE} {
		a := Arch{Layers: []int{12, 8, 3}, Hidden: engine.Tanh, Output: engine.Sigmoid}
		cfg := DefaultTrainConfig()
		cfg.Batch, cfg.Shuffle, cfg.Kind, cfg.L2 = 16, false, kind, 1e-3
		switch kind {
		case VariantDenoising:
			cfg.Noise = "gaussian:0.1"
		case VariantSparse:
			cfg.SparsityL1 = 0.1
		case VariantContractive:
			a.Layers, cfg.Contractive = []int{12, 8, 4, 3}, 0.1 // the tangent estimator
		case VariantVAE:
			a.VAE, cfg.KLBeta = true, 1
		}
		m, err := NewModel(b, a)
		must(t, err)
		must(t, m.Init(1))
		tr, err := NewTrainer(m, cfg, randomData(64, 12, 1), nil, 12)
		must(t, err)
		n := testing.AllocsPerRun(20, func() {
			must(t, tr.in.src.Epoch(0, 0)) // unshuffled: no permutation to draw
			must(t, tr.next(16))
			must(t, tr.step(16, 1e-3))
			tr.State.Step++
		})
		if n != 0 {
			t.Errorf("%s: %.1f allocations per step, want 0", kind, n)
		}
		tr.Free()
		m.Free()
	}
}
