package cpu_fallback

import (
	"testing"

	"github.com/aegpu/aegpu/engine"
)

// mnistLayers are the (in, out) widths of the mnist autoencoder of bench/README.md.
var mnistLayers = [][2]int{{784, 512}, {512, 256}, {256, 32}, {32, 256}, {256, 512}, {512, 784}}

func alloc(tb testing.TB, b *Backend, rows, cols int) engine.Matrix {
	tb.Helper()
	m, err := b.Alloc(rows, cols)
	if err != nil {
		tb.Fatal(err)
	}
	return m
}

// randMat allocates a rows×cols matrix filled from stream of seed 7, U[lo, hi).
func randMat(tb testing.TB, b *Backend, rows, cols int, stream uint64, lo, hi float32) engine.Matrix {
	tb.Helper()
	m := alloc(tb, b, rows, cols)
	if err := b.RandUniform(m, 7, stream, lo, hi); err != nil {
		tb.Fatal(err)
	}
	return m
}

func must(tb testing.TB, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
}

func host(tb testing.TB, b *Backend, m engine.Matrix) []float32 {
	tb.Helper()
	h := make([]float32, m.Len())
	must(tb, b.Download(h, m))
	return h
}

// mlp is the mnist autoencoder as one parameter buffer, for the alloc test,
// the determinism test and the training-step benchmark: Dense layers with
// ReLU, a linear latent, a sigmoid output, MSE, Adam.
type mlp struct {
	b                  *Backend
	B                  int
	params, grads      engine.Matrix
	m, v               engine.Matrix
	w, bias, dw, db    []engine.Matrix
	acts               []engine.Act
	xs, ys, dys        []engine.Matrix // xs[i] input of layer i; ys[i] its output
	target, loss, grad engine.Matrix
	step               int
}

func newMLP(tb testing.TB, b *Backend, B int, layers [][2]int) *mlp {
	n := 0
	for _, l := range layers {
		n += l[0]*l[1] + l[1]
	}
	m := &mlp{b: b, B: B}
	m.params, m.grads = alloc(tb, b, 1, n), alloc(tb, b, 1, n)
	m.m, m.v = alloc(tb, b, 1, n), alloc(tb, b, 1, n)
	off := 0
	for i, l := range layers {
		in, out := l[0], l[1]
		m.w = append(m.w, m.params.View(off, out, in))
		m.dw = append(m.dw, m.grads.View(off, out, in))
		off += in * out
		m.bias = append(m.bias, m.params.View(off, 1, out))
		m.db = append(m.db, m.grads.View(off, 1, out))
		off += out
		s := 1 / float32(in)
		must(tb, b.RandUniform(m.w[i], 1, engine.StreamInit+uint64(i), -s, s))
		act := engine.ReLU
		switch {
		case i == len(layers)-1:
			act = engine.Sigmoid
		case out == 32:
			act = engine.Linear
		}
		m.acts = append(m.acts, act)
		if i == 0 {
			m.xs = append(m.xs, randMat(tb, b, B, in, 100, 0, 1))
		}
		y := alloc(tb, b, B, out)
		m.ys = append(m.ys, y)
		m.dys = append(m.dys, alloc(tb, b, B, out))
		m.xs = append(m.xs, y)
	}
	m.target = m.xs[0]
	m.loss = alloc(tb, b, 1, 1)
	return m
}

// trainStep runs one forward, loss, backward and Adam step.
func (m *mlp) trainStep() error {
	b := m.b
	for i := range m.w {
		if err := b.Dense(m.ys[i], engine.Matrix{}, m.xs[i], m.w[i], m.bias[i], m.acts[i], 0); err != nil {
			return err
		}
	}
	last := len(m.w) - 1
	if err := b.LossGrad(engine.MSE, m.loss, m.dys[last], m.ys[last], m.target, 1); err != nil {
		return err
	}
	for i := last; i >= 0; i-- {
		var dx engine.Matrix
		if i > 0 {
			dx = m.dys[i-1]
		}
		if err := b.DenseBackward(dx, m.dw[i], m.db[i], m.dys[i], m.ys[i], engine.Matrix{}, m.xs[i], m.w[i], m.acts[i], 0); err != nil {
			return err
		}
	}
	m.step++
	return b.OptimizerStep(engine.OptStep{Kind: engine.Adam, LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, Step: m.step},
		m.params, m.grads, m.m, m.v)
}
