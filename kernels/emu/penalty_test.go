package emu

import (
	"fmt"
	"math"
	"testing"

	"github.com/aegpu/aegpu/engine"
	"github.com/aegpu/aegpu/kernels"
)

// The variant regularizers' kernels (penalty.cu) vs the CPU backend's ops:
// on awkward shapes, every activation, each placement, every schedule, with
// the launcher's grid and with a smaller grid-stride one. Both backends form
// the penalty terms in float64/double from the same float32 inputs and
// round once, and act′, act″ in float32 by the same formulas (GELU's from
// float erfc/exp here, float64 on the CPU: a few ulps), so the tolerances
// are a few ulps, plus what float64 sums in different orders and act′'s
// float32 cancellation (1 − y², y(1 − y): ε absolute) allow.

var penBlock = Dim3{kernels.ActGradCols, kernels.ActGradRows, 1}

// penGrid is the Go launcher's grid of the column kernels, or 1 block
// (grid-stride over column groups) every third case.
func penGrid(d, ci int) int {
	if ci%3 == 0 {
		return 1
	}
	return max(1, min(kernels.ReduceBlocks, (d+kernels.ActGradCols-1)/kernels.ActGradCols))
}

// elemGrid is the launcher's elementwise grid, or a small grid-stride one.
func elemGrid(n, ci int) (Dim3, Dim3) {
	if ci%2 == 1 {
		return D1(2), D1(32)
	}
	return D1(kernels.ElemGrid(int64(n), 1)), D1(kernels.ElemThreads)
}

var penShapes = [][2]int{{1, 1}, {7, 33}, {33, 7}, {100, 100}, {257, 33}, {1, 257}, {257, 1}, {40, 70}}

// actInputs draws z in [−3, 3) and y = act(z), and places what act reads.
func actInputs(g gen, bs *bufs, act engine.Act, n int) (y, z, Y, Z []float32) {
	z = g.uniform(n, -3, 3)
	y = make([]float32, n)
	for i, v := range z {
		y[i] = float32(refAct(act, float64(v)))
	}
	if act != engine.Linear && !act.NeedsPre() {
		Y = bs.in("y", y)
	}
	if act.NeedsPre() {
		Z = bs.in("z", z)
	}
	return y, z, Y, Z
}

// cpuAct returns the CPU matrices of the activation inputs act reads.
func (c cpuRef) act(act engine.Act, B, D int, y, z []float32) (ym, zm engine.Matrix) {
	if act != engine.Linear && !act.NeedsPre() {
		ym = c.mat(B, D, y)
	}
	if act.NeedsPre() {
		zm = c.mat(B, D, z)
	}
	return ym, zm
}

func TestSparsityGrad(t *testing.T) {
	need(t)
	cpu := newCPU(t)
	pens := []struct{ l1, beta, target float32 }{{0.3, 0, 0}, {0, 0.8, 0.05}, {0.1, 2, 0.3}, {0, 0, 0}}
	ci := 0
	for _, s := range penShapes {
		for pi, p := range pens {
			ci++
			B, D := s[0], s[1]
			seed := uint64(20000 + ci)
			t.Run(fmt.Sprintf("%dx%d/l1=%g/beta=%g", B, D, p.l1, p.beta), func(t *testing.T) {
				g := newGen(seed)
				lo, hi := 0.02, 0.98
				if pi == 2 { // negative, zero and above-1 means: the clamp
					lo, hi = -1, 2
				}
				h := g.uniform(B*D, lo, hi)
				for i := 0; i < len(h); i += 5 {
					h[i] = 0 // sign(0) = 0
				}
				dh := g.uniform(B*D, -0.5, 0.5)
				const acc0, weight = 0.5, float32(0.75)
				nb := penGrid(D, ci)
				bs := newBufs(t, placeOf(ci))
				H, dH, rho := bs.in("h", h), bs.inout("dh", dh), bs.out("rho", D)
				acc := bs.inout("acc", []float32{acc0})
				partial := make([]float64, nb)
				mode := nextMode()
				must(t, SparsityGrad(D1(nb), penBlock, H, dH, rho, partial, B, D, p.l1, p.beta, p.target))
				nextMode()
				must(t, LossFinish(D1(1), D1(kernels.ReduceThreads), partial, nb, acc, weight))
				bs.check()

				am, dhm, rm := cpu.mat(1, 1, []float32{acc0}), cpu.mat(B, D, dh), cpu.mat(1, D, nil)
				must(t, cpu.b.Sparsity(am, dhm, rm, cpu.mat(B, D, h), p.l1, p.beta, p.target, weight))
				// Column sums in double in other orders, then rounded once.
				checkClose(t, fmt.Sprintf("rho (%s)", mode), rho, to64(cpu.get(rm)), 1e-12, 2*eps32)
				want := cpu.get(dhm)
				checkClose(t, "dh", dH, to64(want), 1e-12*maxAbs(to64(want)), 2*eps32)
				checkClose(t, "acc", acc, to64(cpu.get(am)), 1e-12, 4*eps32)
			})
		}
	}
}

func TestContractiveExact(t *testing.T) {
	need(t)
	cpu := newCPU(t)
	shapes := [][3]int{{1, 1, 1}, {7, 33, 5}, {33, 7, 40}, {100, 100, 3}, {257, 33, 65}, {1, 70, 9}, {64, 1, 33}}
	ci := 0
	for _, s := range shapes {
		for _, act := range allActs {
			ci++
			B, D, K := s[0], s[1], s[2]
			seed := uint64(21000 + ci)
			lambda := []float32{0.1, 1.5, 0}[ci%3]
			withDB := ci%4 != 0
			t.Run(fmt.Sprintf("%dx%dx%d/%s/l%g", B, D, K, act, lambda), func(t *testing.T) {
				g := newGen(seed)
				bs := newBufs(t, placeOf(ci))
				y, z, Y, Z := actInputs(g, bs, act, B*D)
				sw := 1 / math.Sqrt(float64(K))
				w := g.uniform(D*K, -sw, sw)
				dy := g.uniform(B*D, -1, 1)
				const acc0, weight = 0.25, float32(0.5)
				nb := penGrid(D, ci)
				W, dY, dW := bs.in("w", w), bs.inout("dy", dy), bs.out("dw", D*K)
				var db []float32
				if withDB {
					db = bs.out("db", D)
				}
				acc := bs.inout("acc", []float32{acc0})
				partial := make([]float64, nb)
				mode := nextMode()
				must(t, ContractiveExact(D1(nb), penBlock, dY, Y, Z, W, dW, db, partial, B, D, K, int(act), lambda))
				nextMode()
				must(t, LossFinish(D1(1), D1(kernels.ReduceThreads), partial, nb, acc, weight))
				bs.check()

				ym, zm := cpu.act(act, B, D, y, z)
				am, dym, dwm, dbm := cpu.mat(1, 1, []float32{acc0}), cpu.mat(B, D, dy), cpu.mat(D, K, nil), cpu.mat(1, D, nil)
				must(t, cpu.b.ContractiveExact(am, dym, dwm, dbm, ym, zm, cpu.mat(D, K, w), act, lambda, weight))
				// act′, act″ by the same float32 formulas (GELU's a few ulps
				// apart); the penalty terms in double, rounded once.
				c2 := 2 * float64(lambda) / float64(B)
				checkClose(t, fmt.Sprintf("dy (%s)", mode), dY, to64(cpu.get(dym)), 2*eps32*maxAbs(to64(dy))+8*eps32*c2, 8*eps32)
				checkClose(t, "dw", dW, to64(cpu.get(dwm)), 1e-30, 8*eps32)
				if withDB {
					checkBits(t, "db", db, make([]float32, D))
				}
				checkClose(t, "acc", acc, to64(cpu.get(am)), 1e-12, 8*eps32)
			})
		}
	}
}

func TestActJVP(t *testing.T) {
	need(t)
	cpu := newCPU(t)
	ci := 0
	for _, s := range penShapes {
		for _, act := range allActs {
			ci++
			B, D := s[0], s[1]
			n := B * D
			seed := uint64(22000 + ci)
			inPlace := ci%3 == 0
			t.Run(fmt.Sprintf("%dx%d/%s/inplace=%v", B, D, act, inPlace), func(t *testing.T) {
				g := newGen(seed)
				bs := newBufs(t, placeOf(ci))
				y, z, Y, Z := actInputs(g, bs, act, n)
				sv := g.uniform(n, -1, 1)
				grid, block := elemGrid(n, ci)
				var U []float32
				if inPlace {
					U = bs.inout("u=s", sv)
					nextMode()
					must(t, ActJVP(grid, block, U, U, Y, Z, int64(n), int(act)))
				} else {
					S := bs.in("s", sv)
					U = bs.out("u", n)
					nextMode()
					must(t, ActJVP(grid, block, U, S, Y, Z, int64(n), int(act)))
				}
				bs.check()
				ym, zm := cpu.act(act, B, D, y, z)
				um := cpu.mat(B, D, nil)
				must(t, cpu.b.ActJVP(um, cpu.mat(B, D, sv), ym, zm, act))
				// s·act′ by the same float32 formula (GELU's act′ a few ulps
				// apart, and a product the compiler may fuse).
				checkClose(t, "u", U, to64(cpu.get(um)), 2*eps32, 8*eps32)
			})
		}
	}
}

func TestActJVPBackward(t *testing.T) {
	need(t)
	cpu := newCPU(t)
	ci := 0
	for _, s := range penShapes {
		for _, act := range allActs {
			ci++
			B, D := s[0], s[1]
			n := B * D
			seed := uint64(23000 + ci)
			inPlace := ci%3 == 1
			t.Run(fmt.Sprintf("%dx%d/%s/inplace=%v", B, D, act, inPlace), func(t *testing.T) {
				g := newGen(seed)
				bs := newBufs(t, placeOf(ci))
				y, z, Y, Z := actInputs(g, bs, act, n)
				du, sv, dz0 := g.uniform(n, -1, 1), g.uniform(n, -2, 2), g.uniform(n, -1, 1)
				grid, block := elemGrid(n, ci)
				S, dZE := bs.in("s", sv), bs.inout("dzExtra", dz0)
				var dS []float32
				if inPlace {
					dS = bs.inout("ds=du", du)
					nextMode()
					must(t, ActJVPBackward(grid, block, dS, dZE, dS, S, Y, Z, int64(n), int(act)))
				} else {
					dU := bs.in("du", du)
					dS = bs.out("ds", n)
					nextMode()
					must(t, ActJVPBackward(grid, block, dS, dZE, dU, S, Y, Z, int64(n), int(act)))
				}
				bs.check()
				ym, zm := cpu.act(act, B, D, y, z)
				dsm, dzm := cpu.mat(B, D, nil), cpu.mat(B, D, dz0)
				must(t, cpu.b.ActJVPBackward(dsm, dzm, cpu.mat(B, D, du), cpu.mat(B, D, sv), ym, zm, act))
				checkClose(t, "ds", dS, to64(cpu.get(dsm)), 2*eps32, 8*eps32)
				// act″ by the same float32 formula (GELU's a few ulps apart),
				// rounded products and sum: ε of |du·s| ≤ 2 if they cancel.
				checkClose(t, "dzExtra", dZE, to64(cpu.get(dzm)), 4*eps32, 8*eps32)
			})
		}
	}
}

func TestActGradAdd(t *testing.T) {
	need(t)
	cpu := newCPU(t)
	ci := 0
	for _, s := range penShapes {
		for _, act := range allActs {
			ci++
			B, D := s[0], s[1]
			n := B * D
			seed := uint64(24000 + ci)
			withExtra := ci%4 != 0
			t.Run(fmt.Sprintf("%dx%d/%s/extra=%v", B, D, act, withExtra), func(t *testing.T) {
				g := newGen(seed)
				bs := newBufs(t, placeOf(ci))
				y, z, Y, Z := actInputs(g, bs, act, n)
				dy, extra := g.uniform(n, -1, 1), g.uniform(n, -0.5, 0.5)
				grid, block := elemGrid(n, ci)
				dY := bs.inout("dy", dy)
				var E []float32
				var em engine.Matrix
				if withExtra {
					E = bs.in("extra", extra)
					em = cpu.mat(B, D, extra)
				}
				nextMode()
				must(t, ActGradAdd(grid, block, dY, E, Y, Z, int64(n), int(act)))
				bs.check()
				ym, zm := cpu.act(act, B, D, y, z)
				dym := cpu.mat(B, D, dy)
				must(t, cpu.b.ActBackward(dym, em, ym, zm, act))
				checkClose(t, "dy", dY, to64(cpu.get(dym)), 2*eps32, 8*eps32)
			})
		}
	}
}

// reparamInputs draws mu, logvar (every other one at or beyond the clamp
// when edge) and eps.
func reparamInputs(g gen, n int, edge bool) (mu, lv, eps []float32) {
	mu, lv, eps = g.uniform(n, -2, 2), g.uniform(n, -4, 3), g.uniform(n, -3, 3)
	if edge {
		edges := []float32{-200, 200, engine.LogVarMin, engine.LogVarMax, -30.5, 20.5, -29.5, 19.5}
		for i := 0; i < n; i += 2 {
			lv[i] = edges[i/2%len(edges)]
		}
	}
	return mu, lv, eps
}

func TestReparam(t *testing.T) {
	need(t)
	cpu := newCPU(t)
	for ci, s := range penShapes {
		B, D := s[0], s[1]
		n := B * D
		edge := ci%2 == 1
		t.Run(fmt.Sprintf("%dx%d/edge=%v", B, D, edge), func(t *testing.T) {
			mu, lv, eps := reparamInputs(newGen(uint64(25000+ci)), n, edge)
			grid, block := elemGrid(n, ci)
			bs := newBufs(t, placeOf(ci))
			Zo := bs.out("z", n)
			mode := nextMode()
			must(t, Reparam(grid, block, Zo, bs.in("mu", mu), bs.in("logvar", lv), bs.in("eps", eps), int64(n)))
			bs.check()
			zm := cpu.mat(B, D, nil)
			must(t, cpu.b.Reparameterize(zm, cpu.mat(B, D, mu), cpu.mat(B, D, lv), cpu.mat(B, D, eps)))
			// Both in double (exp to an ulp of double), rounded once.
			checkClose(t, fmt.Sprintf("z (%s)", mode), Zo, to64(cpu.get(zm)), 1e-30, 2*eps32)
		})
	}
}

func TestReparamGradPartial(t *testing.T) {
	need(t)
	cpu := newCPU(t)
	for ci, s := range penShapes {
		B, D := s[0], s[1]
		n := B * D
		edge := ci%2 == 0
		t.Run(fmt.Sprintf("%dx%d/edge=%v", B, D, edge), func(t *testing.T) {
			g := newGen(uint64(26000 + ci))
			mu, lv, eps := reparamInputs(g, n, edge)
			dz := g.uniform(n, -1, 1)
			const acc0, beta, scale, weight = 0.25, float32(0.7), float32(0.3), float32(0.5)
			nb := reduceGrid(n)
			bs := newBufs(t, placeOf(ci))
			dMU, dLV, acc := bs.out("dmu", n), bs.out("dlogvar", n), bs.inout("acc", []float32{acc0})
			partial := make([]float64, nb)
			mode := nextMode()
			must(t, ReparamGradPartial(D1(nb), D1(kernels.ReduceThreads), dMU, dLV, bs.in("beta", []float32{beta}),
				bs.in("dz", dz), bs.in("mu", mu), bs.in("logvar", lv), bs.in("eps", eps), partial, int64(n), scale))
			nextMode()
			must(t, LossFinish(D1(1), D1(kernels.ReduceThreads), partial, nb, acc, weight))
			bs.check()
			dmm, dlm, am := cpu.mat(B, D, nil), cpu.mat(B, D, nil), cpu.mat(1, 1, []float32{acc0})
			must(t, cpu.b.ReparamBackward(dmm, dlm, am, cpu.mat(1, 1, []float32{beta}), cpu.mat(B, D, dz),
				cpu.mat(B, D, mu), cpu.mat(B, D, lv), cpu.mat(B, D, eps), scale, weight))
			// Each value in double, rounded once; the KL summed in double
			// in other orders.
			checkClose(t, fmt.Sprintf("dmu (%s)", mode), dMU, to64(cpu.get(dmm)), 1e-30, 2*eps32)
			wantLV := cpu.get(dlm)
			checkClose(t, "dlogvar", dLV, to64(wantLV), 1e-30, 2*eps32)
			for i, v := range lv {
				if (v < engine.LogVarMin || v > engine.LogVarMax) && dLV[i] != 0 {
					t.Fatalf("dlogvar[%d] = %g for logvar %g outside the clamp, want 0", i, dLV[i], v)
				}
			}
			checkClose(t, "acc", acc, to64(cpu.get(am)), 1e-12, 4*eps32)
		})
	}
}
