package cpu_fallback

import (
	"errors"
	"testing"

	"github.com/aegpu/aegpu/engine"
)

// TestNoAllocs: in steady state the ops allocate nothing (scratch is grown
// on the first call and kept on the Backend), at the mnist shapes, with
// the default thread count and with 4 threads.
func TestNoAllocs(t *testing.T) {
	if testing.Short() {
		t.Skip("mnist shapes")
	}
	for _, threads := range []int{0, 4} {
		b := New(threads)
		m := newMLP(t, b, 256, mnistLayers[:3])
		none := engine.Matrix{}
		adam := engine.OptStep{Kind: engine.Adam, LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, Step: 1}
		x784 := m.xs[0]
		pred := randMat(t, b, 256, 784, 5, 0, 1)
		grad := alloc(t, b, 256, 784)
		extra := randMat(t, b, 256, 784, 6, -1, 1)
		beta := randMat(t, b, 1, 1, 7, 0, 1)
		for _, c := range []struct {
			name string
			f    func() error
		}{
			{"Dense", func() error { return b.Dense(m.ys[0], none, m.xs[0], m.w[0], m.bias[0], engine.ReLU, 0) }},
			{"DenseBackward", func() error {
				return b.DenseBackward(m.dys[0], m.dw[1], m.db[1], m.dys[1], m.ys[1], none, m.xs[1], m.w[1], engine.ReLU, 0)
			}},
			{"LossGrad", func() error { return b.LossGrad(engine.MSE, m.loss, grad, pred, x784, 1) }},
			{"OptimizerStep", func() error { return b.OptimizerStep(adam, m.params, m.grads, m.m, m.v) }},
			{"ClipGradNorm", func() error { return b.ClipGradNorm(m.grads, m.loss, 1e-3) }},
			{"ColMean", func() error { return b.ColMean(m.bias[0], m.ys[0]) }},
			{"RandNormal", func() error { return b.RandNormal(pred, 1, 2, 0, 1) }},
			{"Corrupt gaussian", func() error { return b.Corrupt(grad, pred, engine.NoiseGaussian, 0.3, 1, 2) }},
			{"Corrupt masking in place", func() error { return b.Corrupt(grad, grad, engine.NoiseMasking, 0.3, 1, 3) }},
			{"Corrupt salt_pepper", func() error { return b.Corrupt(grad, pred, engine.NoiseSaltPepper, 0.3, 1, 4) }},
			{"Corrupt none", func() error { return b.Corrupt(grad, pred, engine.NoiseNone, 0, 1, 5) }},
			{"Sparsity", func() error { return b.Sparsity(m.loss, m.dys[0], m.bias[0], m.ys[0], 1e-3, 0.1, 0.05, 1) }},
			{"ContractiveExact", func() error {
				return b.ContractiveExact(m.loss, m.dys[0], m.dw[0], m.db[0], m.ys[0], none, m.w[0], engine.Sigmoid, 0.1, 1)
			}},
			{"ActJVP in place", func() error { return b.ActJVP(grad, grad, pred, none, engine.Tanh) }},
			{"ActJVPBackward", func() error { return b.ActJVPBackward(grad, extra, grad, x784, pred, none, engine.Sigmoid) }},
			{"ActBackward", func() error { return b.ActBackward(grad, extra, pred, none, engine.ReLU) }},
			{"Reparameterize", func() error { return b.Reparameterize(grad, pred, x784, extra) }},
			{"ReparamBackward", func() error {
				return b.ReparamBackward(grad, extra, m.loss, beta, pred, x784, pred, x784, 1e-3, 1)
			}},
		} {
			var err error
			allocs := testing.AllocsPerRun(5, func() { err = c.f() })
			if err != nil {
				t.Fatal(c.name, err)
			}
			t.Logf("threads %d: %s: %v allocs/op", b.Threads(), c.name, allocs)
			if allocs != 0 {
				t.Errorf("threads %d: %s allocates %v times per call", b.Threads(), c.name, allocs)
			}
		}
		b.Close()
	}
}

func TestAllocTooLarge(t *testing.T) {
	b := New(1)
	defer b.Close()
	if b.Info().Memory == 0 {
		t.Skip("memory size unknown")
	}
	if _, err := b.Alloc(1<<30, 1<<20); err == nil {
		t.Fatal("Alloc of 4 PiB succeeded")
	}
	var se *engine.ShapeError
	if _, err := b.Alloc(-1, 3); !errors.As(err, &se) {
		t.Fatalf("Alloc(−1, 3): %v", err)
	}
}
