package emu

import (
	"fmt"
	"math"
	"testing"

	"github.com/aegpu/aegpu/engine"
	"github.com/aegpu/aegpu/kernels"
)

// gemmShapes (M, N, K): every size of {1, 7, 33, 100, 257} on each axis, in
// combinations that keep the emulator fast (no 257³); none is a multiple
// of a tile. Then shapes whose leading dimensions are all multiples of 4,
// so that the float4 load and store paths run (on 16-byte aligned views):
// with interior tiles, exact multiples of the tiles, and one row or column
// short of a tile multiple (a tile that must not take the float4 path).
var gemmShapes = [][3]int{
	{1, 1, 1}, {1, 7, 33}, {7, 1, 100}, {7, 33, 1}, {33, 7, 257}, {33, 100, 7},
	{100, 33, 33}, {100, 257, 7}, {257, 33, 100}, {257, 100, 1}, {33, 257, 33},
	{1, 257, 257}, {257, 1, 33}, {100, 100, 100},
	{132, 260, 36}, {256, 128, 64}, {64, 64, 16}, {127, 63, 20}, {63, 127, 24},
}

// gemmCfg is one tile configuration of the GEMM kernels: the Dense
// forward kernels with W [N×K] (nt: gemm_nt_bias_act) and W [K×N] (nnBias:
// gemm_nn_bias_act), and the products with beta (gemm_nn, gemm_tn, gemm_nt).
type gemmCfg struct {
	name           string
	bm, bn, thread int
	nt, nnBias     func(grid, block Dim3, X, W, b, Z, Y []float32, M, N, K, act int) error
	nn, tn, ntBeta func(grid, block Dim3, A, B, C []float32, M, N, K int, beta float32) error
}

var (
	cfg128 = gemmCfg{"128", kernels.GemmBM, kernels.GemmBN, kernels.GemmThreads,
		GemmNTBiasAct, GemmNNBiasAct, GemmNN, GemmTN, GemmNT}
	cfg64 = gemmCfg{"64", kernels.Gemm64BM, kernels.Gemm64BN, kernels.Gemm64Threads,
		GemmNTBiasAct64, GemmNNBiasAct64, GemmNN64, GemmTN64, GemmNT64}
)

func (c gemmCfg) grid(M, N int) (Dim3, Dim3) {
	x, y := kernels.GemmGrid(M, N, c.bm, c.bn)
	return Dim3{x, y, 1}, D1(c.thread)
}

// Each GEMM case runs three variants: the first is checked against the
// float64 reference, the others must equal it bitwise (every C element is
// one FMA chain over k in order, whatever the tiles and load paths).
var gemmVariants = []gemmVariant{{cfg128, aligned}, {cfg64, aligned}, {cfg128, misaligned}, {cfg64, fenceEnd}, {cfg128, fenceStart}}

// refGemm returns C = A·B (+ extra) in float64 and, per element, Σ_k |A||B|
// (+ |extra|), the scale of its rounding error.
func refGemm(M, N, K int, a func(i, k int) float64, b func(k, j int) float64, extra func(i, j int) float64) (c, abs []float64) {
	c, abs = make([]float64, M*N), make([]float64, M*N)
	for i := range M {
		for j := range N {
			s, sa := 0.0, 0.0
			for k := range K {
				p := a(i, k) * b(k, j)
				s += p
				sa += math.Abs(p)
			}
			if extra != nil {
				e := extra(i, j)
				s += e
				sa += math.Abs(e)
			}
			c[i*N+j], abs[i*N+j] = s, sa
		}
	}
	return c, abs
}

// gemmTol: an fp32 FMA chain of K terms is off by at most K·ε·Σ|a·b| in the
// worst case; with rounding errors of random sign they add like a random
// walk, ≈ √K·ε·Σ|a·b|, allowed with a factor 4 (as enginetest's dotTol),
// plus 2ε relative for the final roundings (bias or beta·C added).
func gemmTol(K int, abs []float64, want []float64) func(i int) float64 {
	return func(i int) float64 {
		return 4*math.Sqrt(float64(K)+1)*eps32*abs[i] + 2*eps32*math.Abs(want[i])
	}
}

func refAct(a engine.Act, z float64) float64 {
	switch a {
	case engine.ReLU:
		return max(z, 0)
	case engine.LeakyReLU:
		if z > 0 {
			return z
		}
		return engine.LeakySlope * z
	case engine.Tanh:
		return math.Tanh(z)
	case engine.Sigmoid:
		return 1 / (1 + math.Exp(-z))
	case engine.GELU:
		return 0.5 * z * math.Erfc(-z/math.Sqrt2)
	}
	return z
}

var allActs = []engine.Act{engine.Linear, engine.ReLU, engine.LeakyReLU, engine.Tanh, engine.Sigmoid, engine.GELU}

// TestGemmNTBiasAct: gemm_nt_bias_act (W [N×K], an untied layer);
// TestGemmNNBiasAct: gemm_nn_bias_act (W [K×N], a tied layer, TransW).
func TestGemmNTBiasAct(t *testing.T) { testGemmBiasAct(t, false, fp32) }
func TestGemmNNBiasAct(t *testing.T) { testGemmBiasAct(t, true, fp32) }

// gemmPrecision is what the GEMM tests run: the fp32 kernels, or the TF32
// tensor-core ones (tf32_test.go) with their own shapes and variants.
type gemmPrecision struct {
	name     string
	shapes   [][3]int
	variants []gemmVariant
	// round is applied to the operands (not to the bias or beta·C) of the
	// float64 reference: the identity for fp32, TF32 rounding for TF32.
	round func(float32) float32
	// cpuExtra is the error allowed on top of twice the tolerance against
	// the reference when comparing with the fp32 CPU backend, given the
	// element's Σ|a·b| (0 for fp32; the TF32 rounding of the operands for
	// TF32, see tf32_test.go).
	cpuExtra func(abs float64) float64
}

type gemmVariant struct {
	cfg gemmCfg
	pl  placement
}

var fp32 = gemmPrecision{name: "fp32", shapes: gemmShapes, variants: gemmVariants,
	round: func(v float32) float32 { return v }, cpuExtra: func(float64) float64 { return 0 }}

func roundAll(x []float32, round func(float32) float32) []float32 {
	y := make([]float32, len(x))
	for i, v := range x {
		y[i] = round(v)
	}
	return y
}

func testGemmBiasAct(t *testing.T, tied bool, prec gemmPrecision) {
	need(t)
	cpu := newCPU(t)
	for ci, s := range prec.shapes {
		M, N, K := s[0], s[1], s[2]
		act := allActs[ci%len(allActs)]
		withZ := act.NeedsPre() || ci%2 == 0
		if tied { // other activations and z on the same shapes
			act = allActs[(ci+3)%len(allActs)]
			withZ = act.NeedsPre() || ci%2 == 1
		}
		t.Run(fmt.Sprintf("%dx%dx%d/%s/z=%v", M, N, K, act, withZ), func(t *testing.T) {
			seed := uint64(1000 + ci)
			if tied {
				seed += 5000
			}
			g := newGen(seed)
			sc := 1 / math.Sqrt(float64(K))
			x, w, b := g.uniform(M*K, -1, 1), g.uniform(N*K, -sc, sc), g.uniform(N, -0.5, 0.5)
			xr, wr := roundAll(x, prec.round), roundAll(w, prec.round)
			wAt := func(k, j int) float64 { return float64(wr[j*K+k]) } // W [N×K]
			if tied {
				wAt = func(k, j int) float64 { return float64(wr[k*N+j]) } // W [K×N]
			}
			z, absZ := refGemm(M, N, K,
				func(i, k int) float64 { return float64(xr[i*K+k]) }, wAt,
				func(i, j int) float64 { return float64(b[j]) })
			y := make([]float64, len(z))
			for i := range z {
				y[i] = refAct(act, z[i])
			}
			zTol := gemmTol(K, absZ, z)
			// y = act(z): act is at most 1.13-Lipschitz (GELU's steepest
			// slope), so z's error carries over ×1.13; evaluating act in
			// float32 (tanh, exp, erfc) adds a few ulps: 10ε relative.
			yTol := func(i int) float64 { return 1.13*zTol(i) + 10*eps32*math.Abs(y[i]) }

			var firstY, firstZ []float32
			for vi, v := range prec.variants {
				bs := newBufs(t, v.pl)
				X, W, B := bs.in("x", x), bs.in("w", w), bs.in("b", b)
				Y := bs.out("y", M*N)
				var Z []float32
				if withZ {
					Z = bs.out("z", M*N)
				}
				grid, block := v.cfg.grid(M, N)
				mode := nextMode()
				launch := v.cfg.nt
				if tied {
					launch = v.cfg.nnBias
				}
				must(t, launch(grid, block, X, W, B, Z, Y, M, N, K, int(act)))
				bs.check()
				what := fmt.Sprintf("tiles %s, %s, %s", v.cfg.name, v.pl, mode)
				if vi == 0 {
					firstY = append([]float32(nil), Y...)
					checkTol(t, "y ("+what+")", Y, y, yTol)
					if withZ {
						firstZ = append([]float32(nil), Z...)
						checkTol(t, "z ("+what+")", Z, z, zTol)
					}
					continue
				}
				checkBits(t, "y ("+what+") vs the first variant", Y, firstY)
				if withZ {
					checkBits(t, "z ("+what+") vs the first variant", Z, firstZ)
				}
			}

			// The CPU backend, itself off the truth by as much: twice the
			// tolerances.
			xm, wm, bm := cpu.mat(M, K, x), cpu.mat(N, K, w), cpu.mat(1, N, b)
			opt := engine.DenseOpt(0)
			if tied {
				wm, opt = cpu.mat(K, N, w), engine.TransW
			}
			ym, zm := cpu.mat(M, N, nil), cpu.mat(M, N, nil)
			must(t, cpu.b.Dense(ym, zm, xm, wm, bm, act, opt))
			cy, cz := cpu.get(ym), cpu.get(zm)
			checkTol(t, "y vs the CPU backend", firstY, to64(cy), func(i int) float64 { return 2*yTol(i) + 1.13*prec.cpuExtra(absZ[i]) })
			if withZ {
				checkTol(t, "z vs the CPU backend", firstZ, to64(cz), func(i int) float64 { return 2*zTol(i) + prec.cpuExtra(absZ[i]) })
			}
		})
	}
}

// TestGemmNTAllActs runs every activation on one shape with edge tiles in
// both directions (the shapes above give each activation a few shapes).
func TestGemmNTAllActs(t *testing.T) {
	need(t)
	const M, N, K = 33, 130, 20
	for ai, act := range allActs {
		t.Run(act.String(), func(t *testing.T) {
			g := newGen(uint64(2000 + ai))
			x, w, b := g.uniform(M*K, -2, 2), g.uniform(N*K, -0.5, 0.5), g.uniform(N, -1, 1)
			z, absZ := refGemm(M, N, K,
				func(i, k int) float64 { return float64(x[i*K+k]) },
				func(k, j int) float64 { return float64(w[j*K+k]) },
				func(i, j int) float64 { return float64(b[j]) })
			zTol := gemmTol(K, absZ, z)
			bs := newBufs(t, placeOf(ai))
			Y, Z := bs.out("y", M*N), bs.out("z", M*N)
			grid, block := cfg64.grid(M, N)
			nextMode()
			must(t, GemmNTBiasAct64(grid, block, bs.in("x", x), bs.in("w", w), bs.in("b", b), Z, Y, M, N, K, int(act)))
			bs.check()
			y := make([]float64, len(z))
			for i := range z {
				y[i] = refAct(act, z[i])
			}
			checkTol(t, "z", Z, z, zTol)
			checkTol(t, "y", Y, y, func(i int) float64 { return 1.13*zTol(i) + 10*eps32*math.Abs(y[i]) })
		})
	}
}

// betas cycles through beta 0 (C holds the NaN sentinel and must not be
// read), 1 (accumulate) and 0.5.
var betas = []float32{0, 1, 0.5}

// The operand layouts of the GEMMs with beta.
type gemmLayout int

const (
	layoutNN gemmLayout = iota // gemm_nn: A [M×K], B [K×N]
	layoutTN                   // gemm_tn: A [K×M], B [K×N]
	layoutNT                   // gemm_nt: A [M×K], B [N×K]
)

func TestGemmNN(t *testing.T) { testGemmBeta(t, layoutNN, fp32) }
func TestGemmTN(t *testing.T) { testGemmBeta(t, layoutTN, fp32) }
func TestGemmNT(t *testing.T) { testGemmBeta(t, layoutNT, fp32) }

func testGemmBeta(t *testing.T, layout gemmLayout, prec gemmPrecision) {
	need(t)
	cpu := newCPU(t)
	for ci, s := range prec.shapes {
		M, N, K := s[0], s[1], s[2]
		beta := betas[(ci+int(layout)/2)%len(betas)] // gemm_nt: other betas on the same shapes
		t.Run(fmt.Sprintf("%dx%dx%d/beta=%g", M, N, K, beta), func(t *testing.T) {
			seed := uint64(3000 + ci)
			if layout == layoutNT {
				seed += 3000
			}
			g := newGen(seed)
			a, b := g.uniform(M*K, -1, 1), g.uniform(K*N, -1, 1)
			var c0 []float32
			if beta != 0 {
				c0 = g.uniform(M*N, -1, 1)
			}
			ar, br := roundAll(a, prec.round), roundAll(b, prec.round)
			aAt := func(i, k int) float64 { return float64(ar[i*K+k]) } // A [M×K]
			if layout == layoutTN {
				aAt = func(i, k int) float64 { return float64(ar[k*M+i]) } // A [K×M]
			}
			bAt := func(k, j int) float64 { return float64(br[k*N+j]) } // B [K×N]
			if layout == layoutNT {
				bAt = func(k, j int) float64 { return float64(br[j*K+k]) } // B [N×K]
			}
			var extra func(i, j int) float64
			if beta != 0 {
				extra = func(i, j int) float64 { return float64(beta) * float64(c0[i*N+j]) }
			}
			want, abs := refGemm(M, N, K, aAt, bAt, extra)
			tol := gemmTol(K, abs, want)

			var first []float32
			for vi, v := range prec.variants {
				bs := newBufs(t, v.pl)
				A, B := bs.in("a", a), bs.in("b", b)
				var C []float32
				if beta != 0 {
					C = bs.inout("c", c0)
				} else {
					C = bs.out("c", M*N)
				}
				grid, block := v.cfg.grid(M, N)
				mode := nextMode()
				launch := [...]func(grid, block Dim3, A, B, C []float32, M, N, K int, beta float32) error{
					layoutNN: v.cfg.nn, layoutTN: v.cfg.tn, layoutNT: v.cfg.ntBeta}[layout]
				must(t, launch(grid, block, A, B, C, M, N, K, beta))
				bs.check()
				what := fmt.Sprintf("c (tiles %s, %s, %s)", v.cfg.name, v.pl, mode)
				if vi == 0 {
					first = append([]float32(nil), C...)
					checkTol(t, what, C, want, tol)
				} else {
					checkBits(t, what+" vs the first variant", C, first)
				}
			}

			// The CPU backend's DenseBackward with a linear activation
			// computes both products: dx (+)= dz·w is gemm_nn (A = dz
			// [M×K], B = w [K×N]), with TransW dx (+)= dz·wᵀ is gemm_nt (B
			// = w [N×K]), beta 1 for AccumulateDX; dw (+)= dzᵀ·x is gemm_tn
			// (A = dz [K×M], B = x [K×N]), beta 1 for Accumulate. Twice the
			// tolerance (both off the truth).
			if beta == 0.5 {
				return
			}
			var got []float32
			none := engine.Matrix{}
			switch layout {
			case layoutNN, layoutNT:
				dy, w := cpu.mat(M, K, a), cpu.mat(K, N, b)
				opt := engine.DenseOpt(0)
				if layout == layoutNT {
					w, opt = cpu.mat(N, K, b), engine.TransW
				}
				if beta == 1 {
					opt |= engine.AccumulateDX
				}
				dx, dw := cpu.mat(M, N, c0), cpu.mat(w.Rows, w.Cols, nil)
				must(t, cpu.b.DenseBackward(dx, dw, none, dy, none, none, cpu.mat(M, N, nil), w, engine.Linear, opt))
				got = cpu.get(dx)
			default:
				dy, x := cpu.mat(K, M, a), cpu.mat(K, N, b)
				dw, db := cpu.mat(M, N, c0), cpu.mat(1, M, nil)
				must(t, cpu.b.DenseBackward(engine.Matrix{}, dw, db, dy, engine.Matrix{}, engine.Matrix{}, x, cpu.mat(M, N, nil), engine.Linear, engine.AccumulateIf(beta == 1)))
				got = cpu.get(dw)
			}
			checkTol(t, "c vs the CPU backend", first, to64(got), func(i int) float64 { return 2*tol(i) + prec.cpuExtra(abs[i]) })
		})
	}
}

// TestGemmBlockShape: the GEMMs trap on a block they were not compiled for
// (the launch fails instead of computing a wrong tile).
func TestGemmBlockShape(t *testing.T) {
	need(t)
	a := make([]float32, 16)
	for _, c := range []struct {
		cfg   gemmCfg
		block Dim3
	}{{cfg128, D1(128)}, {cfg64, Dim3{256, 2, 1}}, {cfg128, D1(64)}} {
		nextMode()
		err := c.cfg.nn(D1(1), c.block, a, a, make([]float32, 16), 4, 4, 4, 0)
		if err == nil || !contains(err.Error(), "__trap") {
			t.Errorf("gemm_nn (tiles %s) with block %v: got %v, want a trap", c.cfg.name, c.block, err)
		}
	}
}
