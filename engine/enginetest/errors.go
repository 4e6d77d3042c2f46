package enginetest

import (
	"errors"
	"fmt"
	"math"
	"testing"

	"github.com/aegpu/aegpu/engine"
)

// shapeErrors calls every op with wrong shapes and checks that each call
// returns an *engine.ShapeError (errors.As) and does not panic.
func shapeErrors(t *testing.T, b engine.Backend) {
	d := newDev(t, b)
	defer d.finish()
	m := func(r, c int) engine.Matrix { return d.out(r, c) }
	x, w, bias, y := m(4, 3), m(5, 3), m(1, 5), m(4, 5)
	z, dy, dx, dw, db := m(4, 5), m(4, 5), m(4, 3), m(5, 3), m(1, 5)
	acc, s1, s2 := m(1, 1), m(5, 3), m(5, 3)
	full, err := b.Alloc(4, 6)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Free(full)
	left, right := full.View(0, 4, 3), full.View(3, 4, 3) // overlapping views
	outside := engine.Matrix{Buf: full.Buf, Off: 3, Rows: 4, Cols: 6}
	none := engine.Matrix{}
	adam := engine.OptStep{Kind: engine.Adam, LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, Step: 1}
	noStep := adam
	noStep.Step = 0

	calls := []struct {
		name string
		call func() error
	}{
		{"Dense x·wᵀ inner mismatch", func() error { return b.Dense(y, none, m(4, 2), w, bias, engine.ReLU, 0) }},
		{"Dense bias length", func() error { return b.Dense(y, none, x, w, m(1, 4), engine.ReLU, 0) }},
		{"Dense y shape", func() error { return b.Dense(m(4, 4), none, x, w, bias, engine.ReLU, 0) }},
		{"Dense y rows", func() error { return b.Dense(m(3, 5), none, x, w, bias, engine.ReLU, 0) }},
		{"Dense gelu without z", func() error { return b.Dense(y, none, x, w, bias, engine.GELU, 0) }},
		{"Dense z shape", func() error { return b.Dense(y, m(5, 4), x, w, bias, engine.Tanh, 0) }},
		{"Dense y aliases x", func() error { return b.Dense(right, none, left, m(3, 3), m(1, 3), engine.Linear, 0) }},
		{"Dense x absent", func() error { return b.Dense(y, none, none, w, bias, engine.ReLU, 0) }},
		{"Dense view outside buffer", func() error { return b.Dense(y, none, outside, m(5, 6), bias, engine.ReLU, 0) }},
		{"Dense unknown act", func() error { return b.Dense(y, z, x, w, bias, engine.Act(99), 0) }},
		{"DenseBackward dy shape", func() error { return b.DenseBackward(dx, dw, db, m(4, 4), y, z, x, w, engine.ReLU, 0) }},
		{"DenseBackward dw shape", func() error { return b.DenseBackward(dx, m(3, 5), db, dy, y, z, x, w, engine.ReLU, 0) }},
		{"DenseBackward db length", func() error { return b.DenseBackward(dx, dw, m(1, 4), dy, y, z, x, w, engine.ReLU, 0) }},
		{"DenseBackward dx shape", func() error { return b.DenseBackward(m(4, 4), dw, db, dy, y, z, x, w, engine.ReLU, 0) }},
		{"DenseBackward relu without y", func() error { return b.DenseBackward(dx, dw, db, dy, none, z, x, w, engine.ReLU, 0) }},
		{"DenseBackward gelu without z", func() error { return b.DenseBackward(dx, dw, db, dy, y, none, x, w, engine.GELU, 0) }},
		{"DenseBackward dx aliases dy", func() error {
			return b.DenseBackward(right, m(3, 3), m(1, 3), left, none, none, m(4, 3), m(3, 3), engine.Linear, 0)
		}},
		{"Dense y aliases z", func() error { return b.Dense(y, y, x, w, bias, engine.Tanh, 0) }},
		{"Dense y aliases w", func() error { return b.Dense(full.View(0, 2, 4), none, m(2, 3), left, m(1, 4), engine.Linear, 0) }},
		{"DenseBackward dw aliases x", func() error {
			return b.DenseBackward(none, left, m(1, 4), m(4, 4), none, none, right, m(4, 3), engine.Linear, 0)
		}},
		{"OptimizerStep state aliases params", func() error { return b.OptimizerStep(adam, w, dw, w, s2) }},
		// Tied (TransW): w and dw are [in×out] = [3×5] for x [4×3], y [4×5].
		{"Dense TransW w not transposed", func() error { return b.Dense(y, none, x, w, bias, engine.ReLU, engine.TransW) }},
		{"Dense TransW bias length", func() error { return b.Dense(y, none, x, m(3, 5), m(1, 3), engine.ReLU, engine.TransW) }},
		{"Dense TransW y shape", func() error { return b.Dense(m(4, 3), none, x, m(3, 5), bias, engine.ReLU, engine.TransW) }},
		{"Dense TransW x inner mismatch", func() error { return b.Dense(y, none, m(4, 5), m(3, 5), bias, engine.ReLU, engine.TransW) }},
		{"Dense Accumulate option", func() error { return b.Dense(y, none, x, w, bias, engine.ReLU, engine.Accumulate) }},
		{"Dense unknown option", func() error { return b.Dense(y, none, x, w, bias, engine.ReLU, 1<<6) }},
		{"DenseBackward TransW w not transposed", func() error {
			return b.DenseBackward(dx, dw, db, dy, y, z, x, w, engine.ReLU, engine.TransW)
		}},
		{"DenseBackward TransW dw not transposed", func() error {
			return b.DenseBackward(dx, dw, db, dy, y, z, x, m(3, 5), engine.ReLU, engine.TransW)
		}},
		{"DenseBackward TransW dy shape", func() error {
			return b.DenseBackward(dx, m(3, 5), db, m(4, 3), y, z, x, m(3, 5), engine.Linear, engine.TransW)
		}},
		{"DenseBackward TransW db length", func() error {
			return b.DenseBackward(dx, m(3, 5), m(1, 3), dy, y, z, x, m(3, 5), engine.ReLU, engine.TransW|engine.Accumulate)
		}},
		{"DenseBackward TransW dx shape", func() error {
			return b.DenseBackward(m(4, 5), m(3, 5), none, dy, y, z, x, m(3, 5), engine.ReLU, engine.TransW|engine.AccumulateDX)
		}},
		{"DenseBackward TransW y shape", func() error {
			return b.DenseBackward(dx, m(3, 5), none, dy, m(4, 3), z, x, m(3, 5), engine.Sigmoid, engine.TransW)
		}},
		{"DenseBackward unknown option", func() error {
			return b.DenseBackward(dx, dw, db, dy, y, z, x, w, engine.ReLU, 1<<5)
		}},
		{"ClipGradNorm norm not 1×1", func() error { return b.ClipGradNorm(dw, m(1, 2), 1) }},
		{"ClipGradNorm non-positive max", func() error { return b.ClipGradNorm(dw, acc, 0) }},
		{"Axpy partial overlap", func() error { return b.Axpy(1, left, right) }},
		{"DenseBackward dw absent", func() error { return b.DenseBackward(dx, none, db, dy, y, z, x, w, engine.ReLU, 0) }},
		{"LossGrad pred/target mismatch", func() error { return b.LossGrad(engine.MSE, acc, y, y, m(5, 4), 1) }},
		{"LossGrad acc not 1×1", func() error { return b.LossGrad(engine.MSE, m(1, 2), dy, y, z, 1) }},
		{"LossGrad grad shape", func() error { return b.LossGrad(engine.MSE, acc, m(5, 4), y, z, 1) }},
		{"LossGrad grad aliases pred", func() error { return b.LossGrad(engine.MSE, acc, y, y, z, 1) }},
		{"LossGrad unknown loss", func() error { return b.LossGrad(engine.Loss(42), acc, dy, y, z, 1) }},
		{"RowLoss out length", func() error { return b.RowLoss(engine.MAE, m(5, 1), y, z) }},
		{"RowLoss pred/target mismatch", func() error { return b.RowLoss(engine.MAE, m(4, 1), y, m(4, 4)) }},
		{"OptimizerStep grads length", func() error { return b.OptimizerStep(adam, w, m(1, 14), s1, s2) }},
		{"OptimizerStep adam without state2", func() error { return b.OptimizerStep(adam, w, dw, s1, none) }},
		{"OptimizerStep adam state length", func() error { return b.OptimizerStep(adam, w, dw, s1, m(1, 3)) }},
		{"OptimizerStep adam step 0", func() error { return b.OptimizerStep(noStep, w, dw, s1, s2) }},
		{"OptimizerStep sgd momentum without state", func() error {
			return b.OptimizerStep(engine.OptStep{Kind: engine.SGD, LR: 0.1, Momentum: 0.9, Step: 1}, w, dw, none, none)
		}},
		{"OptimizerStep unknown kind", func() error { return b.OptimizerStep(engine.OptStep{Kind: 7, Step: 1}, w, dw, s1, s2) }},
		{"ClipGradNorm norm not 1×1", func() error { return b.ClipGradNorm(dw, m(2, 1), 1) }},
		{"ClipGradNorm grads absent", func() error { return b.ClipGradNorm(none, acc, 1) }},
		{"Fill absent", func() error { return b.Fill(none, 1) }},
		{"Copy length", func() error { return b.Copy(m(2, 3), m(3, 3)) }},
		{"Axpy length", func() error { return b.Axpy(2, m(2, 3), m(1, 5)) }},
		{"EMA length", func() error { return b.EMA(m(2, 3), m(1, 5), 0.9) }},
		{"LayerNorm gamma length", func() error { return b.LayerNorm(m(4, 3), m(4, 1), m(4, 1), m(4, 3), m(1, 2), m(1, 3), 1e-5) }},
		{"LayerNorm mean length", func() error { return b.LayerNorm(m(4, 3), m(3, 1), m(4, 1), m(4, 3), m(1, 3), m(1, 3), 1e-5) }},
		{"LayerNorm y shape", func() error { return b.LayerNorm(m(3, 4), m(4, 1), m(4, 1), m(4, 3), m(1, 3), m(1, 3), 1e-5) }},
		{"LayerNorm eps 0", func() error { return b.LayerNorm(m(4, 3), m(4, 1), m(4, 1), m(4, 3), m(1, 3), m(1, 3), 0) }},
		{"LayerNorm y aliases x", func() error { xx := m(4, 3); return b.LayerNorm(xx, m(4, 1), m(4, 1), xx, m(1, 3), m(1, 3), 1e-5) }},
		{"LayerNormBackward dy shape", func() error {
			return b.LayerNormBackward(m(4, 3), m(1, 3), m(1, 3), m(4, 2), m(4, 3), m(4, 1), m(4, 1), m(1, 3))
		}},
		{"LayerNormBackward dgamma absent", func() error {
			return b.LayerNormBackward(m(4, 3), none, m(1, 3), m(4, 3), m(4, 3), m(4, 1), m(4, 1), m(1, 3))
		}},
		{"LayerNormBackward dx aliases dy", func() error {
			dy := m(4, 3)
			return b.LayerNormBackward(dy, m(1, 3), m(1, 3), dy, m(4, 3), m(4, 1), m(4, 1), m(1, 3))
		}},
		{"EMA partial overlap", func() error { return b.EMA(left, right, 0.9) }},
		{"EMA absent", func() error { return b.EMA(none, x, 0.9) }},
		{"Scale outside buffer", func() error { return b.Scale(outside, 2) }},
		{"SumSquares acc not 1×1", func() error { return b.SumSquares(m(1, 2), x) }},
		{"ColMean out length", func() error { return b.ColMean(m(1, 4), x) }},
		{"Upload host length", func() error { return b.Upload(x, make([]float32, 11)) }},
		{"Download host length", func() error { return b.Download(make([]float32, 13), x) }},
		{"RandUniform absent", func() error { return b.RandUniform(none, 1, 2, 0, 1) }},
		{"RandNormal outside buffer", func() error { return b.RandNormal(outside, 1, 2, 0, 1) }},
		{"Corrupt length", func() error { return b.Corrupt(m(2, 3), m(3, 3), engine.NoiseGaussian, 0.1, 1, 2) }},
		{"Corrupt src absent", func() error { return b.Corrupt(x, none, engine.NoiseMasking, 0.1, 1, 2) }},
		{"Corrupt dst outside buffer", func() error { return b.Corrupt(outside, m(4, 6), engine.NoiseNone, 0, 1, 2) }},
		{"Corrupt partial overlap", func() error { return b.Corrupt(right, left, engine.NoiseMasking, 0.1, 1, 2) }},
		{"Corrupt unknown kind", func() error { return b.Corrupt(x, m(4, 3), engine.Noise(4), 0.1, 1, 2) }},
		{"Corrupt negative kind", func() error { return b.Corrupt(x, m(4, 3), engine.Noise(-1), 0.1, 1, 2) }},
		{"Corrupt negative level", func() error { return b.Corrupt(x, m(4, 3), engine.NoiseGaussian, -0.1, 1, 2) }},
		{"Corrupt NaN level", func() error {
			return b.Corrupt(x, m(4, 3), engine.NoiseGaussian, float32(math.NaN()), 1, 2)
		}},
		{"Corrupt masking level > 1", func() error { return b.Corrupt(x, m(4, 3), engine.NoiseMasking, 1.5, 1, 2) }},
		{"Corrupt salt_pepper level > 1", func() error { return b.Corrupt(x, x, engine.NoiseSaltPepper, 1.01, 1, 2) }},
	}
	for _, c := range calls {
		err := func() (err error) {
			defer func() {
				if r := recover(); r != nil {
					err = fmt.Errorf("panic: %v", r)
				}
			}()
			return c.call()
		}()
		var se *engine.ShapeError
		switch {
		case err == nil:
			t.Errorf("%s: no error", c.name)
		case !errors.As(err, &se):
			t.Errorf("%s: got %v (%T), want an *engine.ShapeError", c.name, err, err)
		}
	}
}
