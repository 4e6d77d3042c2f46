package cpu_fallback

import (
	"math"
	"testing"

	"github.com/aegpu/aegpu/engine"
)

// TestDeterminism: on every kernel path this CPU runs, with 1 and with 3
// threads the ops give bitwise the same results (work is split at
// shape-dependent boundaries only; see the package documentation). Shapes
// are large enough for several K blocks (K > 512 in every GEMM), many tiles
// and many element chunks.
func TestDeterminism(t *testing.T) { eachPath(t, testDeterminism) }

// eachPath runs f as a subtest on every kernel path this CPU and build run,
// skipping the others with a one-line reason.
func eachPath(t *testing.T, f func(t *testing.T)) {
	for _, p := range []kernelPath{pathGeneric, pathAVX2, pathAVX512} {
		t.Run(p.String(), func(t *testing.T) {
			restore, ok := setPath(p)
			if !ok {
				t.Skipf("%s path not tested: %s", p, missingFeature(p))
			}
			defer restore()
			f(t)
		})
	}
}

func testDeterminism(t *testing.T) {
	const B, in, out = 600, 700, 130
	run := func(threads int) [][]float32 {
		b := New(threads)
		defer b.Close()
		none := engine.Matrix{}
		x := randMat(t, b, B, in, 1, -1, 1)
		w := randMat(t, b, out, in, 2, -0.04, 0.04)
		bias := randMat(t, b, 1, out, 3, -0.5, 0.5)
		y, z := alloc(t, b, B, out), alloc(t, b, B, out)
		must(t, b.Dense(y, z, x, w, bias, engine.GELU, 0))
		res := [][]float32{host(t, b, y), host(t, b, z)}

		dy := randMat(t, b, B, out, 4, -1, 1)
		dx, dw, db := alloc(t, b, B, in), randMat(t, b, out, in, 5, -1, 1), randMat(t, b, 1, out, 6, -1, 1)
		must(t, b.DenseBackward(dx, dw, db, dy, y, z, x, w, engine.GELU, engine.Accumulate))
		res = append(res, host(t, b, dy), host(t, b, dx), host(t, b, dw), host(t, b, db))
		must(t, b.DenseBackward(dx, dw, db, dy, y, none, x, w, engine.ReLU, 0))
		res = append(res, host(t, b, dx), host(t, b, dw), host(t, b, db))

		target := randMat(t, b, B, out, 7, 0, 1)
		pred := randMat(t, b, B, out, 8, 0.01, 0.99)
		grad, acc := alloc(t, b, B, out), alloc(t, b, 1, 1)
		for _, l := range []engine.Loss{engine.MSE, engine.BCE, engine.BCEWithLogits, engine.MAE} {
			must(t, b.LossGrad(l, acc, grad, pred, target, 0.5))
			res = append(res, host(t, b, grad))
		}
		rows := alloc(t, b, B, 1)
		must(t, b.RowLoss(engine.BCE, rows, pred, target))
		cm := alloc(t, b, 1, in)
		must(t, b.ColMean(cm, x))
		must(t, b.SumSquares(acc, x))
		norm := alloc(t, b, 1, 1)
		must(t, b.ClipGradNorm(dw, norm, 1))
		s1, s2 := randMat(t, b, out, in, 9, -0.01, 0.01), randMat(t, b, out, in, 10, 0, 0.01)
		adamw := engine.OptStep{Kind: engine.AdamW, LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 0.01, Step: 3}
		must(t, b.OptimizerStep(adamw, w, dw, s1, s2))
		res = append(res, host(t, b, acc), host(t, b, rows), host(t, b, cm), host(t, b, norm), host(t, b, w))

		// The variant regularizers: column reductions over row blocks,
		// scalar penalties over element chunks.
		h := randMat(t, b, B, out, 11, 0, 1)
		rho := alloc(t, b, 1, out)
		must(t, b.Sparsity(acc, dy, rho, h, 1e-3, 0.5, 0.1, 1))
		res = append(res, host(t, b, acc), host(t, b, dy), host(t, b, rho))
		must(t, b.ContractiveExact(acc, dy, dw, db, h, none, w, engine.Sigmoid, 0.1, 1))
		res = append(res, host(t, b, acc), host(t, b, dy), host(t, b, dw))
		dzE := randMat(t, b, B, out, 12, -1, 1)
		must(t, b.ActJVPBackward(dy, dzE, dy, h, y, z, engine.GELU))
		must(t, b.ActBackward(dzE, dy, y, z, engine.GELU))
		res = append(res, host(t, b, dy), host(t, b, dzE))
		lv := randMat(t, b, B, out, 13, -3, 3)
		must(t, b.Reparameterize(grad, pred, lv, target))
		beta := randMat(t, b, 1, 1, 14, 0, 1)
		must(t, b.ReparamBackward(dzE, dy, acc, beta, grad, pred, lv, target, 0.01, 1))
		return append(res, host(t, b, grad), host(t, b, dzE), host(t, b, dy), host(t, b, acc))
	}
	one, three := run(1), run(3)
	for i := range one {
		for k := range one[i] {
			if math.Float32bits(one[i][k]) != math.Float32bits(three[i][k]) {
				t.Fatalf("result %d element %d: %g with 1 thread, %g with 3", i, k, one[i][k], three[i][k])
			}
		}
	}
}

// TestTrainingDeterminism: on every kernel path, a few mnist training steps
// give bitwise the same parameters with 1 and 2 threads.
func TestTrainingDeterminism(t *testing.T) {
	if testing.Short() {
		t.Skip("mnist shapes")
	}
	eachPath(t, testTrainingDeterminism)
}

func testTrainingDeterminism(t *testing.T) {
	run := func(threads int) []float32 {
		b := New(threads)
		defer b.Close()
		m := newMLP(t, b, 64, mnistLayers)
		for range 3 {
			must(t, m.trainStep())
		}
		return host(t, b, m.params)
	}
	one, two := run(1), run(2)
	for k := range one {
		if math.Float32bits(one[k]) != math.Float32bits(two[k]) {
			t.Fatalf("parameter %d: %g with 1 thread, %g with 2", k, one[k], two[k])
		}
	}
}
