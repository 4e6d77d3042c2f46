package emu

import (
	"fmt"
	"math"
	"slices"
	"testing"

	"github.com/aegpu/aegpu/engine"
	"github.com/aegpu/aegpu/kernels"
)

// ---------------------------------------------------------------------------
// act_grad_bias vs the CPU backend's DenseBackward (which overwrites dy with
// dz and sums db while packing dzᵀ).

var actGradShapes = [][2]int{{1, 1}, {7, 33}, {33, 7}, {100, 100}, {257, 33}, {1, 257}, {257, 1}}

func TestActGradBias(t *testing.T) {
	need(t)
	cpu := newCPU(t)
	ci := 0
	for _, s := range actGradShapes {
		for _, act := range allActs {
			M, N := s[0], s[1]
			beta := float32(ci % 2) // db accumulated or overwritten
			noDB := ci%3 == 2       // db null (beta ignored): dY only
			ci++
			seed := uint64(4000 + ci)
			name := fmt.Sprintf("%dx%d/%s/beta=%g", M, N, act, beta)
			if noDB {
				name = fmt.Sprintf("%dx%d/%s/nodb", M, N, act)
			}
			t.Run(name, func(t *testing.T) {
				g := newGen(seed)
				z := g.uniform(M*N, -3, 3)
				y := make([]float32, len(z))
				for i, v := range z {
					y[i] = float32(refAct(act, float64(v)))
				}
				dy := g.uniform(M*N, -1, 1)
				var db0 []float32
				if beta != 0 {
					db0 = g.uniform(N, -1, 1)
				}

				bs := newBufs(t, placeOf(ci))
				dY := bs.inout("dy", dy)
				var Y, Z []float32
				if act != engine.Linear && !act.NeedsPre() {
					Y = bs.in("y", y)
				}
				if act.NeedsPre() {
					Z = bs.in("z", z)
				}
				var db []float32
				switch {
				case noDB:
				case beta != 0:
					db = bs.inout("db", db0)
				default:
					db = bs.out("db", N) // NaN sentinel: must not be read
				}
				mode := nextMode()
				grid := D1(int((N + kernels.ActGradCols - 1) / kernels.ActGradCols))
				if ci%4 == 0 {
					grid = D1(1) // grid-stride over column groups
				}
				must(t, ActGradBias(grid, Dim3{kernels.ActGradCols, kernels.ActGradRows, 1}, dY, Y, Z, db, M, N, int(act), beta))
				bs.check()

				// Reference: DenseBackward with in = 1 (x and w are dummies).
				dym := cpu.mat(M, N, dy)
				var ym, zm engine.Matrix
				if Y != nil {
					ym = cpu.mat(M, N, y)
				}
				if Z != nil {
					zm = cpu.mat(M, N, z)
				}
				var dbm engine.Matrix
				if !noDB {
					dbm = cpu.mat(1, N, db0)
				}
				must(t, cpu.b.DenseBackward(engine.Matrix{}, cpu.mat(N, 1, nil), dbm, dym, ym, zm, cpu.mat(M, 1, nil), cpu.mat(N, 1, nil), act, engine.AccumulateIf(beta != 0)))
				dz := cpu.get(dym)
				// dz = dy·act′ from float32 y or z: act′ evaluated in float32
				// (a few roundings: 8ε relative), and 1 − y², y(1 − y) lose up
				// to 2ε·|dy| absolute to cancellation (as enginetest).
				checkClose(t, fmt.Sprintf("dz (%s)", mode), dY, to64(dz), 2*eps32*maxAbs(to64(dy)), 8*eps32)
				if noDB {
					return
				}
				wantDB := cpu.get(dbm)
				// db: both sum the column in float64 and round once; they
				// differ only through dz (≤ 8ε|dz| + 2ε|dy| per term).
				colAbs := make([]float64, N)
				for r := range M {
					for c := range N {
						colAbs[c] += math.Abs(float64(dz[r*N+c])) + math.Abs(float64(dy[r*N+c]))
					}
				}
				for c := range colAbs {
					if db0 != nil {
						colAbs[c] += math.Abs(float64(db0[c]))
					}
				}
				checkTol(t, fmt.Sprintf("db (%s)", mode), db, to64(wantDB), func(c int) float64 {
					return 8*eps32*colAbs[c] + 2*eps32*math.Abs(float64(wantDB[c]))
				})
			})
		}
	}
}

// ---------------------------------------------------------------------------
// Losses.

var allLosses = []engine.Loss{engine.MSE, engine.BCE, engine.BCEWithLogits, engine.MAE}

// lossInputs draws predictions and targets in each loss's domain (as
// enginetest); edge puts exact 0 and 1 probabilities (log clamped at −100,
// gradient clamp 1e-12) and huge logits.
func lossInputs(g gen, kind engine.Loss, n int, edge bool) (p, t []float32) {
	switch kind {
	case engine.MSE:
		p, t = g.uniform(n, -1, 1), g.uniform(n, -1, 1)
		if edge && n > 5 { // NaN propagates (the clamps must not swallow it)
			p[5] = float32(math.NaN())
		}
		return p, t
	case engine.MAE:
		p, t = g.uniform(n, -1, 1), g.uniform(n, -1, 1)
		for i := 0; i < n; i += 5 {
			t[i] = p[i] // sign(0) = 0
		}
		if edge && n > 6 {
			p[6] = float32(math.NaN())
		}
		return p, t
	case engine.BCE:
		p, t = g.uniform(n, 0.001, 0.999), g.uniform(n, 0, 1)
		for i := 0; i < n; i += 3 {
			t[i] = float32(i / 3 % 2)
		}
		if edge {
			nan := float32(math.NaN())
			edges := []float32{0, 1, 1e-30, math.Nextafter32(1, 0), 1e-7, 0.5, nan}
			for i := range p {
				p[i] = edges[i%len(edges)]
				t[i] = float32(i/len(edges)%3) / 2
			}
		}
		return p, t
	default: // BCEWithLogits
		p, t = g.uniform(n, -10, 10), g.uniform(n, 0, 1)
		if edge {
			edges := []float32{0, 40, -40, 120, -120, 1e-6, -17, 17, float32(math.NaN())}
			for i := range p {
				p[i] = edges[i%len(edges)]
				t[i] = float32(i/len(edges)%3) / 2
			}
		}
		return p, t
	}
}

var lossShapes = [][2]int{{1, 1}, {1, 17}, {3, 33}, {17, 3}, {100, 257}}

// reduceGrid is the partial kernels' grid in these tests: the launcher's
// (kernels.ReduceGrid), capped at 5 blocks to keep the emulator fast — the
// kernels are grid-stride, any grid is correct; TestReduceFullGrid runs the
// launcher's grid uncapped.
func reduceGrid(n int) int { return min(kernels.ReduceGrid(int64(n)), 5) }

func TestLossGrad(t *testing.T) {
	need(t)
	cpu := newCPU(t)
	ci := 0
	for _, kind := range allLosses {
		for si, s := range lossShapes {
			for _, edge := range []bool{false, true} {
				if edge && si != 2 { // edge values (and a NaN) on one shape
					continue
				}
				ci++
				seed := uint64(5000 + ci)
				B, D := s[0], s[1]
				weight := float32(0.25 + 0.5*float64(ci%2))
				t.Run(fmt.Sprintf("%s/%dx%d/edge=%v", kind, B, D, edge), func(t *testing.T) {
					g := newGen(seed)
					n := B * D
					p, tg := lossInputs(g, kind, n, edge)
					const acc0 = 0.25
					nb := reduceGrid(n)
					bs := newBufs(t, placeOf(ci))
					P, T, G := bs.in("p", p), bs.in("t", tg), bs.out("g", n)
					acc := bs.inout("acc", []float32{acc0})
					partial := make([]float64, nb)
					mode := nextMode()
					must(t, LossGradPartial(D1(nb), D1(kernels.ReduceThreads), int(kind), P, T, G, partial, int64(n), float32(1/float64(n))))
					nextMode()
					must(t, LossFinish(D1(1), D1(kernels.ReduceThreads), partial, nb, acc, float32(float64(weight)/float64(n))))
					bs.check()

					am, gm := cpu.mat(1, 1, []float32{acc0}), cpu.mat(B, D, nil)
					must(t, cpu.b.LossGrad(kind, am, gm, cpu.mat(B, D, p), cpu.mat(B, D, tg), weight))
					// Both evaluate l and ∂l/∂p in float64 from the same
					// floats; the gradient differs by the rounding of invN
					// (float32) and its final rounding: a few ulps (8ε), or
					// 2ε/n absolute where σ(z) − t or p − t cancel.
					checkClose(t, fmt.Sprintf("grad (%s)", mode), G, to64(cpu.get(gm)), 2*eps32/float64(n), 8*eps32)
					// acc0 + weight·L: float64 sums in different orders, scale =
					// weight/n rounded to float32 (ε), the result rounded (ε).
					checkClose(t, "acc", acc, to64(cpu.get(am)), 0, 4*eps32)
				})
			}
		}
	}
}

func TestRowLoss(t *testing.T) {
	need(t)
	cpu := newCPU(t)
	ci := 0
	for _, kind := range allLosses {
		for _, s := range [][2]int{{1, 1}, {1, 17}, {3, 33}, {17, 3}, {40, 257}, {6, 8}} {
			ci++
			seed := uint64(6000 + ci)
			B, D := s[0], s[1]
			edge := B == 6 // edge values, and a NaN
			t.Run(fmt.Sprintf("%s/%dx%d", kind, B, D), func(t *testing.T) {
				g := newGen(seed)
				p, tg := lossInputs(g, kind, B*D, edge)
				bs := newBufs(t, placeOf(ci))
				out := bs.out("out", B)
				grid := B // one block per row, as the launcher does …
				if B > 8 {
					grid = 5 // … or fewer: row_loss is grid-stride over rows
				}
				mode := nextMode()
				must(t, RowLoss(D1(grid), D1(kernels.ReduceThreads), int(kind), bs.in("p", p), bs.in("t", tg), out, B, D))
				bs.check()
				om := cpu.mat(B, 1, nil)
				must(t, cpu.b.RowLoss(kind, om, cpu.mat(B, D, p), cpu.mat(B, D, tg)))
				// Means of D float64 terms summed in different orders, rounded
				// once: a couple of ulps.
				checkClose(t, fmt.Sprintf("out (%s)", mode), out, to64(cpu.get(om)), 1e-30, 4*eps32)
			})
		}
	}
}

// ---------------------------------------------------------------------------
// ColMean, SumSquares, ClipGradNorm.

func TestColMean(t *testing.T) {
	need(t)
	cpu := newCPU(t)
	for ci, s := range [][2]int{{1, 1}, {3, 17}, {257, 3}, {17, 33}, {2000, 20}, {1, 1000}, {7, 300}} {
		B, D := s[0], s[1]
		t.Run(fmt.Sprintf("%dx%d", B, D), func(t *testing.T) {
			x := newGen(uint64(7000+ci)).uniform(B*D, -1, 1)
			bs := newBufs(t, placeOf(ci))
			out := bs.out("out", D)
			grid, block := (D+kernels.ColMeanThreads-1)/kernels.ColMeanThreads, kernels.ColMeanThreads
			if ci == 6 {
				grid, block = 1, 64 // grid-stride over columns
			}
			mode := nextMode()
			must(t, ColMean(D1(grid), D1(block), bs.in("x", x), out, B, D))
			bs.check()
			om := cpu.mat(1, D, nil)
			must(t, cpu.b.ColMean(om, cpu.mat(B, D, x)))
			// float64 sums (in different orders), ·(1/B), rounded once.
			checkClose(t, fmt.Sprintf("out (%s)", mode), out, to64(cpu.get(om)), 1e-12, 2*eps32)
		})
	}
}

var vecSizes = []int{1, 3, 17, 33, 100, 257, 40000}

func TestSumSquares(t *testing.T) {
	need(t)
	cpu := newCPU(t)
	for ci, n := range vecSizes {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			x := newGen(uint64(8000+ci)).uniform(n, -1, 1)
			nb := reduceGrid(n)
			bs := newBufs(t, placeOf(ci))
			acc := bs.inout("acc", []float32{1.5})
			partial := make([]float64, nb)
			mode := nextMode()
			must(t, SumsqPartial(D1(nb), D1(kernels.ReduceThreads), bs.in("x", x), partial, int64(n)))
			must(t, SumsqFinish(D1(1), D1(kernels.ReduceThreads), partial, nb, acc, 0))
			bs.check()
			am := cpu.mat(1, 1, []float32{1.5})
			must(t, cpu.b.SumSquares(am, cpu.mat(1, n, x)))
			// float64 sums of squares in different orders, rounded once.
			checkClose(t, fmt.Sprintf("acc (%s)", mode), acc, to64(cpu.get(am)), 0, 2*eps32)
		})
	}
}

func TestClipGradNorm(t *testing.T) {
	need(t)
	cpu := newCPU(t)
	ci := 0
	for _, n := range vecSizes {
		for _, frac := range []float64{0.5, 1e6, math.NaN()} {
			ci++
			seed := uint64(9000 + ci)
			t.Run(fmt.Sprintf("%d/max=%g×norm", n, frac), func(t *testing.T) {
				g := newGen(seed).uniform(n, -1, 1)
				s := 0.0
				for _, v := range g {
					s += float64(v) * float64(v)
				}
				maxNorm := float32(frac * math.Sqrt(s))
				if math.IsNaN(frac) { // a NaN gradient: the norm is NaN and so is every clipped value
					g[n/2] = float32(math.NaN())
					maxNorm = 1
				}
				nb := reduceGrid(n)
				bs := newBufs(t, placeOf(ci))
				G := bs.inout("g", g)
				norm := bs.out("norm", 1)
				partial := make([]float64, nb)
				mode := nextMode()
				must(t, SumsqPartial(D1(nb), D1(kernels.ReduceThreads), G, partial, int64(n)))
				must(t, SumsqFinish(D1(1), D1(kernels.ReduceThreads), partial, nb, norm, 1))
				grid := min(kernels.ElemGrid(int64(n), 1), 4) // capped: grid-stride
				must(t, ClipScale(D1(grid), D1(kernels.ElemThreads), G, int64(n), norm, maxNorm))
				bs.check()
				gm, nm := cpu.mat(1, n, g), cpu.mat(1, 1, nil)
				must(t, cpu.b.ClipGradNorm(gm, nm, maxNorm))
				// The norm: float64 sums in different orders, sqrt, rounded
				// (2ε). The coefficient is formed from the float32 norm here,
				// from the float64 one on the CPU: 2ε more on each value.
				checkClose(t, fmt.Sprintf("norm (%s)", mode), norm, to64(cpu.get(nm)), 0, 2*eps32)
				checkClose(t, "grads", G, to64(cpu.get(gm)), 0, 4*eps32)
			})
		}
	}
}

// ---------------------------------------------------------------------------
// Optimizers.

var optimizers = []engine.OptStep{
	{Kind: engine.SGD, LR: 0.1, Step: 1},
	{Kind: engine.SGD, LR: 0.05, WeightDecay: 0.01, Step: 4},
	{Kind: engine.SGD, LR: 0.1, Momentum: 0.9, WeightDecay: 0.01, Step: 1},
	{Kind: engine.SGD, LR: 0.1, Momentum: 0.9, Step: 5},
	{Kind: engine.Adam, LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, Step: 1},
	{Kind: engine.Adam, LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 0.01, Step: 7},
	{Kind: engine.AdamW, LR: 1e-2, Beta1: 0.8, Beta2: 0.99, Eps: 1e-6, WeightDecay: 0.1, Step: 3},
}

func TestOptimizerStep(t *testing.T) {
	need(t)
	cpu := newCPU(t)
	ci := 0
	for _, n := range []int{1, 17, 257, 1000} {
		for _, o := range optimizers {
			ci++
			seed := uint64(10000 + ci)
			t.Run(fmt.Sprintf("%s/mom%g/wd%g/t%d/%d", o.Kind, o.Momentum, o.WeightDecay, o.Step, n), func(t *testing.T) {
				g := newGen(seed)
				p, grad := g.uniform(n, -1, 1), g.uniform(n, -0.1, 0.1)
				for i := 0; i < n; i += 7 {
					grad[i] = 0
				}
				s1, s2 := g.uniform(n, -0.05, 0.05), g.uniform(n, 0, 0.003)
				useS1 := o.Kind != engine.SGD || o.Momentum != 0
				useS2 := o.Kind != engine.SGD

				bs := newBufs(t, placeOf(ci))
				P, G := bs.inout("p", p), bs.in("g", grad)
				var S1, S2 []float32
				if useS1 {
					S1 = bs.inout("s1", s1)
				}
				if useS2 {
					S2 = bs.inout("s2", s2)
				}
				grid, block := D1(kernels.ElemGrid(int64(n), 1)), D1(kernels.ElemThreads)
				if ci%3 == 0 {
					grid, block = D1(2), D1(32) // grid-stride
				}
				mode := nextMode()
				switch o.Kind {
				case engine.SGD:
					first := 0
					if o.Step <= 1 {
						first = 1
					}
					must(t, SGDStep(grid, block, P, G, S1, int64(n), o.LR, o.Momentum, o.WeightDecay, first))
				default:
					ts := float64(o.Step)
					bc1 := float32(1 - math.Pow(float64(o.Beta1), ts))
					bc2 := float32(1 - math.Pow(float64(o.Beta2), ts))
					dec := 0
					if o.Kind == engine.AdamW {
						dec = 1
					}
					must(t, AdamStep(grid, block, P, G, S1, S2, int64(n), o.LR, o.Beta1, o.Beta2, o.Eps, o.WeightDecay, bc1, bc2, dec))
				}
				bs.check()

				pm, gm := cpu.mat(1, n, p), cpu.mat(1, n, grad)
				var m1, m2 engine.Matrix
				if useS1 {
					m1 = cpu.mat(1, n, s1)
				}
				if useS2 {
					m2 = cpu.mat(1, n, s2)
				}
				must(t, cpu.b.OptimizerStep(o, pm, gm, m1, m2))
				wantP := to64(cpu.get(pm))
				delta := 0.0
				for i := range wantP {
					delta = max(delta, math.Abs(wantP[i]-float64(p[i])))
				}
				// Same float32 operations in the same order (no FMA) as the
				// CPU backend; what differs is Adam's step size lr/bc1 and
				// sqrt(bc2), formed from bc1, bc2 rounded to float32 here
				// (≤ 2ε relative on the update), so 4ε of the largest update
				// plus one rounding of p.
				checkClose(t, fmt.Sprintf("params (%s)", mode), P, wantP, 4*eps32*delta, eps32)
				if useS1 {
					checkBits(t, "state1", S1, cpu.get(m1)) // identical operations
				}
				if useS2 {
					checkBits(t, "state2", S2, cpu.get(m2))
				}
			})
		}
	}
}

// ---------------------------------------------------------------------------
// Elementwise ops: bitwise the CPU backend.

func TestElementwise(t *testing.T) {
	need(t)
	cpu := newCPU(t)
	const alpha, v = float32(-0.7), float32(3.25)
	for ci, n := range []int{1, 3, 17, 257, 1000} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			g := newGen(uint64(11000 + ci))
			x, y := g.uniform(n, -1, 1), g.uniform(n, -1, 1)
			grid, block := D1(kernels.ElemGrid(int64(n), 1)), D1(kernels.ElemThreads)
			if ci%2 == 1 {
				grid, block = D1(1), D1(32) // grid-stride
			}
			N := int64(n)
			bs := newBufs(t, placeOf(ci))

			F := bs.out("fill", n)
			nextMode()
			must(t, Fill(grid, block, F, N, v))
			fm := cpu.mat(1, n, nil)
			must(t, cpu.b.Fill(fm, v))
			checkBits(t, "fill", F, cpu.get(fm))

			X := bs.in("x", x)
			D := bs.out("copy", n)
			nextMode()
			must(t, Copy(grid, block, D, X, N))
			checkBits(t, "copy", D, x)

			Y := bs.inout("axpy", y)
			nextMode()
			must(t, Axpy(grid, block, alpha, X, Y, N))
			ym := cpu.mat(1, n, y)
			must(t, cpu.b.Axpy(alpha, cpu.mat(1, n, x), ym))
			checkBits(t, "axpy", Y, cpu.get(ym))

			S := bs.inout("scale", x)
			nextMode()
			must(t, Scale(grid, block, S, N, alpha))
			sm := cpu.mat(1, n, x)
			must(t, cpu.b.Scale(sm, alpha))
			checkBits(t, "scale", S, cpu.get(sm))
			bs.check()
		})
	}
}

// ---------------------------------------------------------------------------
// The random streams vs engine.FillUniform/FillNormal.

func TestRand(t *testing.T) {
	need(t)
	var seed, stream uint64 = 0x0123456789abcdef, 1<<40 + 7 // high bits in both
	for ci, n := range []int{1, 2, 3, 5, 17, 1000, 4099} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			grid, block := D1(kernels.ElemGrid(int64(n), kernels.RandPerThread)), D1(kernels.ElemThreads)
			if ci%2 == 1 {
				grid, block = D1(2), D1(32) // grid-stride
			}
			bs := newBufs(t, placeOf(ci))
			U := bs.out("uniform", n)
			nextMode()
			must(t, RandUniform(grid, block, U, int64(n), seed, stream, -2, 3))
			want := make([]float32, n)
			engine.FillUniform(want, seed, stream, 0, -2, 3)
			checkBits(t, "uniform", U, want) // the same float32 operations

			Nm := bs.out("normal", n)
			nextMode()
			must(t, RandNormal(grid, block, Nm, int64(n), seed, stream+1, 0.5, 2))
			engine.FillNormal(want, seed, stream+1, 0, 0.5, 2)
			// The engine allows float32 intrinsics (logf, sqrtf, sincospif)
			// on GPUs: a few ulps of r·cos θ with r ≤ 5.8, ≈ 1e-5 absolute,
			// ×std = 2. (This emulator's host maths is closer than that.)
			checkClose(t, "normal", Nm, to64(want), 2e-5, 2*eps32)
			bs.check()
		})
	}
}

// TestRandNormalMoments: the normal stream has mean ≈ 0, variance ≈ 1 (a
// sanity check that pairs and words are used as intended).
func TestRandNormalMoments(t *testing.T) {
	need(t)
	const n = 20000
	x := make([]float32, n)
	nextMode()
	must(t, RandNormal(D1(4), D1(256), x, n, 42, 3, 0, 1))
	s, s2 := 0.0, 0.0
	for _, v := range x {
		s += float64(v)
		s2 += float64(v) * float64(v)
	}
	mean, vr := s/n, s2/n-(s/n)*(s/n)
	// Standard errors: 1/√n ≈ 0.007 for the mean, √(2/n) ≈ 0.01 for the variance; 5σ.
	if math.Abs(mean) > 0.035 || math.Abs(vr-1) > 0.05 {
		t.Fatalf("normal stream: mean %.4f, variance %.4f", mean, vr)
	}
}

// ---------------------------------------------------------------------------
// corrupt_f32 vs the CPU backend's Corrupt: bitwise for masking,
// salt-and-pepper and none (exact comparisons and selections), gaussian to
// rand_normal's tolerance; in place and not, on every placement, with the
// launcher's grid and with a small grid-stride one.

func TestCorrupt(t *testing.T) {
	need(t)
	cpu := newCPU(t)
	type noiseLevel struct {
		kind  engine.Noise
		level float32
	}
	levels := []noiseLevel{
		{engine.NoiseNone, 0}, {engine.NoiseGaussian, 0.3}, {engine.NoiseGaussian, 4}, {engine.NoiseGaussian, 0},
		{engine.NoiseMasking, 0.3}, {engine.NoiseMasking, 0}, {engine.NoiseMasking, 1},
		{engine.NoiseSaltPepper, 0.4}, {engine.NoiseSaltPepper, 0}, {engine.NoiseSaltPepper, 1},
	}
	var seed, stream uint64 = 0x0123456789abcdef, 1<<40 + 11 // high bits in both
	ci := 0
	for _, n := range []int{1, 2, 3, 5, 17, 257, 1000, 4099} {
		// Ties, which random levels meet with probability 2⁻²⁴ per
		// element: level = Uniform(k) (not masked; salt-and-pepper keeps
		// src) and level = 2·Uniform(k) (salt, not pepper), k the first
		// element whose value fits.
		u := make([]float32, n)
		engine.FillUniform(u, seed, stream, 0, 0, 1)
		cases := slices.Clone(levels)
		if k := slices.IndexFunc(u, func(v float32) bool { return v > 0 }); k >= 0 {
			cases = append(cases, noiseLevel{engine.NoiseMasking, u[k]}, noiseLevel{engine.NoiseSaltPepper, u[k]})
		}
		if k := slices.IndexFunc(u, func(v float32) bool { return v > 0 && v <= 0.5 }); k >= 0 {
			cases = append(cases, noiseLevel{engine.NoiseSaltPepper, 2 * u[k]})
		}
		for _, l := range cases {
			ci++
			inPlace := ci%3 == 0
			name := fmt.Sprintf("%d/%s:%g", n, l.kind, l.level)
			if inPlace {
				name += "/inplace"
			}
			t.Run(name, func(t *testing.T) {
				src := newGen(uint64(12000+ci)).uniform(n, -1, 1)
				for i := 3; i < n; i += 7 {
					src[i] = float32(i % 2) // values salt or pepper may also produce
				}
				grid, block := D1(kernels.ElemGrid(int64(n), kernels.RandPerThread)), D1(kernels.ElemThreads)
				if ci%2 == 1 {
					grid, block = D1(2), D1(32) // grid-stride
				}
				bs := newBufs(t, placeOf(ci))
				var D []float32
				if inPlace {
					D = bs.inout("dst=src", src)
					nextMode()
					must(t, Corrupt(grid, block, D, D, int64(n), int(l.kind), l.level, seed, stream))
				} else {
					S := bs.in("src", src)
					D = bs.out("dst", n)
					nextMode()
					must(t, Corrupt(grid, block, D, S, int64(n), int(l.kind), l.level, seed, stream))
				}
				dm := cpu.mat(1, n, nil)
				must(t, cpu.b.Corrupt(dm, cpu.mat(1, n, src), l.kind, l.level, seed, stream))
				want := cpu.get(dm)
				if l.kind == engine.NoiseGaussian && l.level != 0 {
					// Normal(i) from float32 intrinsics: ≈ 1e-5 absolute
					// (as rand_normal), ×level; the product level·n
					// (≤ 5.8·level) may then round the other way, and the
					// sum is rounded once (2ε).
					lv := float64(l.level)
					checkClose(t, "gaussian", D, to64(want), 1e-5*lv+eps32*5.8*lv, 2*eps32)
				} else {
					checkBits(t, l.kind.String(), D, want)
				}
				bs.check()
			})
		}
	}
}

// TestDrawsAt: rand_normal and corrupt_f32 from element start of their
// streams (engine.DrawsAt, a data-parallel rank's rows) are bitwise the
// elements start… of the same kernel's draw from 0, for starts on and off
// the Philox blocks' bounds, with the launcher's grid and a grid-stride
// one; masking is also bitwise the CPU backend's CorruptAt.
func TestDrawsAt(t *testing.T) {
	need(t)
	cpu := newCPU(t)
	var seed, stream uint64 = 0x0123456789abcdef, 1<<40 + 13
	for ci, start := range []int{0, 1, 2, 3, 5, 6, 4098} {
		for _, n := range []int{1, 2, 3, 17, 1000} {
			t.Run(fmt.Sprintf("%d+%d", start, n), func(t *testing.T) {
				grid, block := D1(kernels.ElemGrid(int64(n+start%4), kernels.RandPerThread)), D1(kernels.ElemThreads)
				if ci%2 == 1 {
					grid, block = D1(2), D1(32) // grid-stride
				}
				all := start + n
				fullGrid := D1(kernels.ElemGrid(int64(all), kernels.RandPerThread))
				full := make([]float32, all)
				nextMode()
				must(t, RandNormal(fullGrid, block, full, int64(all), seed, stream, 0.5, 2))
				part := make([]float32, n)
				nextMode()
				must(t, RandNormalAt(grid, block, part, int64(n), seed, stream, uint64(start), 0.5, 2))
				checkBits(t, "rand_normal from start", part, full[start:])

				src := newGen(uint64(13000+start+n)).uniform(all, -1, 1)
				for _, k := range []engine.Noise{engine.NoiseGaussian, engine.NoiseMasking, engine.NoiseSaltPepper} {
					fullD := make([]float32, all)
					nextMode()
					must(t, Corrupt(fullGrid, block, fullD, src, int64(all), int(k), 0.3, seed, stream))
					partD := make([]float32, n)
					nextMode()
					must(t, CorruptAt(grid, block, partD, src[start:], int64(n), int(k), 0.3, seed, stream, uint64(start)))
					checkBits(t, k.String()+" from start", partD, fullD[start:])
					if k == engine.NoiseMasking {
						dm := cpu.mat(1, n, nil)
						must(t, cpu.b.CorruptAt(dm, cpu.mat(1, n, src[start:]), k, 0.3, seed, stream, uint64(start)))
						checkBits(t, "masking vs the CPU's CorruptAt", partD, cpu.get(dm))
					}
				}
			})
		}
	}
}
