package enginetest

import (
	"fmt"
	"math"

	"github.com/aegpu/aegpu/engine"
)

// An opCase is one call of one op on fixed random inputs. run performs it
// on a backend (through a dev, which guards and checks the matrices) and
// returns the outputs; ref returns, in the same order, their float64
// reference values with the tolerance each is checked to. Run compares a
// backend with ref; Compare compares two backends' runs.
type opCase struct {
	op, name string
	run      func(d *dev) [][]float32
	ref      func() []expect
}

type expect struct {
	name string
	want []float64
	tol  tol
}

// Sizes: 1, odd and prime sizes that are multiples of no tile size, sizes
// just past powers of two, batch 1, and a few large enough (≥ 32K
// elements, K > 512, B > 512) to take the blocked and parallel paths of a
// tuned backend.
var (
	denseShapes = [][3]int{ // B, in, out
		{1, 1, 1}, {1, 3, 17}, {3, 17, 33}, {17, 33, 3}, {33, 100, 17},
		{100, 257, 33}, {257, 33, 100}, {9, 1100, 13}, {600, 20, 7},
	}
	vecSizes  = []int{1, 3, 17, 33, 100, 257, 40000}
	lossShape = [][2]int{{1, 1}, {1, 17}, {3, 33}, {17, 3}, {100, 257}, {200, 200}}
	acts      = []engine.Act{engine.Linear, engine.ReLU, engine.LeakyReLU, engine.Tanh, engine.Sigmoid, engine.GELU}
	losses    = []engine.Loss{engine.MSE, engine.BCE, engine.BCEWithLogits, engine.MAE}
)

func allCases() []opCase {
	var cs []opCase
	seed := uint64(1)
	next := func() uint64 { seed++; return seed }
	for i, s := range denseShapes {
		for k, a := range acts {
			withZ := a.NeedsPre() || (i+k)%2 == 0
			cs = append(cs, denseCase(s[0], s[1], s[2], a, withZ, next()))
		}
	}
	for i, s := range denseShapes {
		for k, a := range acts {
			cs = append(cs, denseBackwardCase(s[0], s[1], s[2], a, (i+k)%2 == 1, (i+k)%3 != 2, next()))
		}
	}
	for _, l := range losses {
		for i, s := range lossShape {
			cs = append(cs, lossCase(l, s[0], s[1], float32(0.25+0.5*float64(i%2)), false, next()))
			cs = append(cs, rowLossCase(l, s[0], s[1], false, next()))
		}
	}
	cs = append(cs, lossCase(engine.BCE, 3, 8, 1, true, next()), rowLossCase(engine.BCE, 3, 8, true, next()))
	cs = append(cs, lossCase(engine.BCEWithLogits, 3, 8, 1, true, next()), rowLossCase(engine.BCEWithLogits, 3, 8, true, next()))
	for _, n := range vecSizes {
		for _, o := range optimizers() {
			cs = append(cs, optCase(o, n, next()))
		}
		cs = append(cs, clipCase(n, 0.5, next()), clipCase(n, 1e6, next()))
		cs = append(cs, vecCases(n, next())...)
	}
	for _, s := range [][2]int{{1, 1}, {3, 17}, {257, 3}, {17, 33}, {2000, 20}, {1, 40000}} {
		cs = append(cs, colMeanCase(s[0], s[1], next()))
	}
	cs = append(cs, corruptCases(next)...)
	cs = append(cs, denseOptCases(next)...)
	cs = append(cs, layerNormCases(next)...)
	return append(cs, penaltyCases(next)...)
}

func optimizers() []engine.OptStep {
	return []engine.OptStep{
		{Kind: engine.SGD, LR: 0.1, Step: 1},
		{Kind: engine.SGD, LR: 0.05, WeightDecay: 0.01, Step: 4},
		{Kind: engine.SGD, LR: 0.1, Momentum: 0.9, WeightDecay: 0.01, Step: 1},
		{Kind: engine.SGD, LR: 0.1, Momentum: 0.9, Step: 5},
		{Kind: engine.Adam, LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, Step: 1},
		{Kind: engine.Adam, LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 0.01, Step: 7},
		{Kind: engine.AdamW, LR: 1e-2, Beta1: 0.8, Beta2: 0.99, Eps: 1e-6, WeightDecay: 0.1, Step: 3},
	}
}

// denseInputs draws x [B×in], w [out×in], b [out] with PyTorch-like scales
// (w ~ U(±1/√in)), so z is O(1) at any width.
func denseInputs(g gen, B, in, out int) (x, w, b []float32) {
	s := 1 / math.Sqrt(float64(in))
	return g.uniform(B*in, -1, 1), g.uniform(out*in, -s, s), g.uniform(out, -0.5, 0.5)
}

func denseCase(B, in, out int, act engine.Act, withZ bool, seed uint64) opCase {
	return denseOptCase(B, in, out, act, withZ, 0, seed)
}

func denseBackwardCase(B, in, out int, act engine.Act, accumulate, withDx bool, seed uint64) opCase {
	return denseBackwardOptCase(B, in, out, act, engine.AccumulateIf(accumulate), withDx, true, seed)
}

// lossInputs draws predictions and targets in each loss's domain. edge
// puts the values where the conventions matter: exact 0 and 1 predictions
// for BCE (log clamped at −100, gradient clamped by 1e-12), huge logits.
func lossInputs(g gen, kind engine.Loss, n int, edge bool) (p, t []float32) {
	switch kind {
	case engine.MSE:
		return g.uniform(n, -1, 1), g.uniform(n, -1, 1)
	case engine.MAE:
		p, t = g.uniform(n, -1, 1), g.uniform(n, -1, 1)
		for i := 0; i < n; i += 5 {
			t[i] = p[i] // sign(0) = 0
		}
		return p, t
	case engine.BCE:
		p, t = g.uniform(n, 0.001, 0.999), g.uniform(n, 0, 1)
		for i := 0; i < n; i += 3 {
			t[i] = float32(i / 3 % 2) // hard labels
		}
		if edge {
			edges := []float32{0, 1, 1e-30, math.Nextafter32(1, 0), 1e-7, 0.5}
			for i := range p {
				p[i] = edges[i%len(edges)]
				t[i] = float32(i/len(edges)%3) / 2 // 0, 0.5, 1
			}
		}
		return p, t
	case engine.BCEWithLogits:
		p, t = g.uniform(n, -10, 10), g.uniform(n, 0, 1)
		if edge {
			edges := []float32{0, 40, -40, 120, -120, 1e-6, -17, 17}
			for i := range p {
				p[i] = edges[i%len(edges)]
				t[i] = float32(i/len(edges)%3) / 2
			}
		}
		return p, t
	}
	panic("enginetest: unknown loss")
}

func lossCase(kind engine.Loss, B, D int, weight float32, edge bool, seed uint64) opCase {
	g := newGen(seed)
	p, t := lossInputs(g, kind, B*D, edge)
	const acc0 = 0.25
	name := fmt.Sprintf("%s/%dx%d", kind, B, D)
	if edge {
		name += "/edge"
	}
	return opCase{op: "LossGrad", name: name,
		run: func(d *dev) [][]float32 {
			acc := d.inout(1, 1, []float32{acc0})
			grad := d.out(B, D)
			d.must(d.b.LossGrad(kind, acc, grad, d.in(B, D, p), d.in(B, D, t), weight))
			return [][]float32{d.get(acc), d.get(grad)}
		},
		ref: func() []expect {
			L, grad := refLoss(kind, to64(p), to64(t))
			n := float64(B * D)
			return []expect{
				// acc0 + weight·L, L the mean of n nonnegative terms, each
				// good to a few ulps (log, exp in float32: 8ε), summed in
				// float32 by some backends (random walk √n·ε, ×4).
				{"acc", []float64{acc0 + float64(weight)*L}, tol{rel: 8*eps32 + 4*math.Sqrt(n)*eps32}},
				// ∂l/∂p / n to a few ulps (rel 8ε); σ(z) − t and p − t
				// cancel, losing up to 2ε absolute before the /n.
				{"grad", grad, tol{abs: 2 * eps32 / n, rel: 8 * eps32}},
			}
		},
	}
}

func rowLossCase(kind engine.Loss, B, D int, edge bool, seed uint64) opCase {
	g := newGen(seed)
	p, t := lossInputs(g, kind, B*D, edge)
	name := fmt.Sprintf("%s/%dx%d", kind, B, D)
	if edge {
		name += "/edge"
	}
	return opCase{op: "RowLoss", name: name,
		run: func(d *dev) [][]float32 {
			out := d.out(B, 1)
			d.must(d.b.RowLoss(kind, out, d.in(B, D, p), d.in(B, D, t)))
			return [][]float32{d.get(out)}
		},
		ref: func() []expect {
			// Means of D nonnegative terms: as LossGrad's acc.
			return []expect{{"out", refRowLoss(kind, B, D, to64(p), to64(t)), tol{abs: 1e-30, rel: 8*eps32 + 4*math.Sqrt(float64(D))*eps32}}}
		},
	}
}

func optCase(o engine.OptStep, n int, seed uint64) opCase {
	g := newGen(seed)
	p, grad := g.uniform(n, -1, 1), g.uniform(n, -0.1, 0.1)
	for i := 0; i < n; i += 7 {
		grad[i] = 0
	}
	s1, s2 := g.uniform(n, -0.05, 0.05), g.uniform(n, 0, 0.003)
	useS1 := o.Kind != engine.SGD || o.Momentum != 0
	useS2 := o.Kind != engine.SGD
	name := fmt.Sprintf("%s/mom%g/wd%g/t%d/%d", o.Kind, o.Momentum, o.WeightDecay, o.Step, n)
	return opCase{op: "OptimizerStep", name: name,
		run: func(d *dev) [][]float32 {
			// params and both states in one buffer; grads must not change.
			v := d.place([2]int{1, n}, [2]int{1, n}, [2]int{1, n})
			d.must(d.b.Upload(v[0], p))
			var m1, m2 engine.Matrix
			if useS1 {
				m1 = v[1]
				d.must(d.b.Upload(m1, s1))
			}
			if useS2 {
				m2 = v[2]
				d.must(d.b.Upload(m2, s2))
			}
			d.must(d.b.OptimizerStep(o, v[0], d.in(1, n, grad), m1, m2))
			res := [][]float32{d.get(v[0])}
			if useS1 {
				res = append(res, d.get(m1))
			}
			if useS2 {
				res = append(res, d.get(m2))
			}
			return res
		},
		ref: func() []expect {
			p64, g64 := to64(p), to64(grad)
			np, ns1, ns2 := refOpt(o, p64, g64, to64(s1), to64(s2))
			delta := 0.0
			for i := range np {
				delta = max(delta, math.Abs(np[i]-p64[i]))
			}
			// The update is a handful of float32 operations (16ε of the
			// largest update), applied to p (AdamW's decay p·(1 − lr·wd)
			// is off by ε|p|), and p' is rounded (rel 2ε).
			pt := tol{abs: 16*eps32*delta + 2*eps32*maxAbs(p64), rel: 2 * eps32}
			res := []expect{{"params", np, pt}}
			// Moments: two products and a sum, which may cancel: 4ε of
			// the largest term.
			gmax := maxAbs(g64) + float64(o.WeightDecay)*maxAbs(p64)
			if useS1 {
				res = append(res, expect{"state1", ns1, tol{abs: 4 * eps32 * (maxAbs(to64(s1)) + gmax), rel: 4 * eps32}})
			}
			if useS2 {
				res = append(res, expect{"state2", ns2, tol{abs: 4 * eps32 * (maxAbs(to64(s2)) + gmax*gmax), rel: 4 * eps32}})
			}
			return res
		},
	}
}

func clipCase(n int, maxNormFrac float64, seed uint64) opCase {
	g := newGen(seed)
	grad := g.uniform(n, -1, 1)
	_, norm := refClip(to64(grad), math.Inf(1))
	maxNorm := float32(maxNormFrac * norm) // < norm: clipped; ≫ norm: untouched
	return opCase{op: "ClipGradNorm", name: fmt.Sprintf("max%.3g×norm/%d", maxNormFrac, n),
		run: func(d *dev) [][]float32 {
			gm := d.inout(1, n, grad)
			nm := d.out(1, 1)
			d.must(d.b.ClipGradNorm(gm, nm, maxNorm))
			return [][]float32{d.get(nm), d.get(gm)}
		},
		ref: func() []expect {
			clipped, norm := refClip(to64(grad), float64(maxNorm))
			// The norm: a float32-summable sum of n squares (√n·ε ×4,
			// no cancellation); the clipped values inherit its error.
			nt := tol{rel: 4*math.Sqrt(float64(n))*eps32 + 2*eps32}
			return []expect{{"norm", []float64{norm}, nt}, {"grads", clipped, tol{rel: 2*nt.rel + 2*eps32}}}
		},
	}
}

// vecCases: Fill, Copy, Axpy, EMA, Scale, SumSquares, RandUniform, RandNormal on n elements,
// shaped as a matrix when n factors (the ops see only the element count).
func vecCases(n int, seed uint64) []opCase {
	g := newGen(seed)
	rows, cols := 1, n
	if n%4 == 0 {
		rows, cols = 4, n/4
	}
	x, y := g.uniform(n, -1, 1), g.uniform(n, -1, 1)
	const alpha, v = float32(-0.7), float32(3.25)
	sz := fmt.Sprint(n)
	var seedR, streamR uint64 = 0x0123456789abcdef, 1<<40 + 7 // high bits in both
	return []opCase{
		{op: "Fill", name: sz,
			run: func(d *dev) [][]float32 {
				m := d.out(rows, cols)
				d.must(d.b.Fill(m, v))
				return [][]float32{d.get(m)}
			},
			ref: func() []expect {
				w := make([]float64, n)
				for i := range w {
					w[i] = float64(v)
				}
				return []expect{{"x", w, tol{}}} // exact
			}},
		{op: "Copy", name: sz,
			run: func(d *dev) [][]float32 {
				dst := d.out(cols, rows) // same length, other shape
				d.must(d.b.Copy(dst, d.in(rows, cols, x)))
				return [][]float32{d.get(dst)}
			},
			ref: func() []expect { return []expect{{"dst", to64(x), tol{}}} }}, // exact
		{op: "Axpy", name: sz,
			run: func(d *dev) [][]float32 {
				ym := d.inout(rows, cols, y)
				d.must(d.b.Axpy(alpha, d.in(rows, cols, x), ym))
				return [][]float32{d.get(ym)}
			},
			ref: func() []expect {
				w := make([]float64, n)
				for i := range w {
					w[i] = float64(y[i]) + float64(alpha)*float64(x[i])
				}
				// Two roundings (one with FMA) of terms ≤ 1.7: the sum
				// may cancel, so absolute, 2ε of the largest term.
				return []expect{{"y", w, tol{abs: 2 * eps32 * 1.7, rel: eps32}}}
			}},
		{op: "EMA", name: sz,
			run: func(d *dev) [][]float32 {
				am := d.inout(rows, cols, y)
				d.must(d.b.EMA(am, d.in(rows, cols, x), 0.9))
				return [][]float32{d.get(am)}
			},
			ref: func() []expect {
				w := make([]float64, n)
				for i := range w {
					w[i] = 0.9*float64(y[i]) + 0.1*float64(x[i])
				}
				// float32(1−0.9) is 0.1 within ε; the difference (≤ 2),
				// the product and the sum round once each: absolute, a few
				// ε of the operands' size.
				return []expect{{"avg", w, tol{abs: 4 * eps32 * 2, rel: eps32}}}
			}},
		{op: "Scale", name: sz,
			run: func(d *dev) [][]float32 {
				m := d.inout(rows, cols, x)
				d.must(d.b.Scale(m, alpha))
				return [][]float32{d.get(m)}
			},
			ref: func() []expect {
				w := make([]float64, n)
				for i := range w {
					w[i] = float64(alpha) * float64(x[i])
				}
				return []expect{{"x", w, tol{rel: eps32}}} // one rounding
			}},
		{op: "SumSquares", name: sz,
			run: func(d *dev) [][]float32 {
				acc := d.inout(1, 1, []float32{1.5})
				d.must(d.b.SumSquares(acc, d.in(rows, cols, x)))
				return [][]float32{d.get(acc)}
			},
			ref: func() []expect {
				s := 1.5
				for _, v := range x {
					s += float64(v) * float64(v)
				}
				// n nonnegative terms (√n·ε ×4, as dotTol).
				return []expect{{"acc", []float64{s}, tol{rel: 4*math.Sqrt(float64(n+1))*eps32 + 2*eps32}}}
			}},
		{op: "RandUniform", name: sz,
			run: func(d *dev) [][]float32 {
				m := d.out(rows, cols)
				d.must(d.b.RandUniform(m, seedR, streamR, -2, 3))
				return [][]float32{d.get(m)}
			},
			ref: func() []expect {
				w := make([]float32, n)
				engine.FillUniform(w, seedR, streamR, 0, -2, 3)
				// lo + (hi−lo)·u: one rounding more or less (FMA) of ≤ 3.
				return []expect{{"dst", to64(w), tol{abs: 3 * eps32}}}
			}},
		{op: "RandNormal", name: sz,
			run: func(d *dev) [][]float32 {
				m := d.out(rows, cols)
				d.must(d.b.RandNormal(m, seedR, streamR+1, 0.5, 2))
				return [][]float32{d.get(m)}
			},
			ref: func() []expect {
				w := make([]float32, n)
				engine.FillNormal(w, seedR, streamR+1, 0, 0.5, 2)
				// The engine allows float32 intrinsics for log/sin/cos on
				// GPUs: "a few ulps" of r·cos θ with r ≤ 5.8, i.e. ≈ 1e-5
				// absolute, ×std.
				return []expect{{"dst", to64(w), tol{abs: 2e-5, rel: 2 * eps32}}}
			}},
	}
}

func colMeanCase(B, D int, seed uint64) opCase {
	g := newGen(seed)
	x := g.uniform(B*D, -1, 1)
	return opCase{op: "ColMean", name: fmt.Sprintf("%dx%d", B, D),
		run: func(d *dev) [][]float32 {
			out := d.out(1, D)
			d.must(d.b.ColMean(out, d.in(B, D, x)))
			return [][]float32{d.get(out)}
		},
		ref: func() []expect {
			w := make([]float64, D)
			for i := range B {
				for j := range D {
					w[j] += float64(x[i*D+j])
				}
			}
			for j := range w {
				w[j] /= float64(B)
			}
			// A sum of B terms |x| ≤ 1 that may cancel, then /B: dotTol's
			// bound on the sum, scaled by 1/B.
			st := dotTol(B, float64(B), 0)
			return []expect{{"out", w, tol{abs: st.abs / float64(B), rel: st.rel}}}
		},
	}
}
