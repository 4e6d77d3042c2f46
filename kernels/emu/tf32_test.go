package emu

// The TF32 tensor-core GEMMs (gemm_tf32.cu) and the emulated instructions
// they rest on. No GPU runs them here, so the emulator's mma.sync and
// cvt.rna.tf32.f32 are first checked against the PTX ISA independently of
// the C++ emulation: the fragment layouts below are transcribed again, in
// Go, from the ISA (§9.7.14.5.7 "Matrix Fragments for mma.m16n8k8", .tf32;
// docs.nvidia.com/cuda/parallel-thread-execution/#warp-level-matrix-fragment-mma-1688),
// and the rounding is computed arithmetically rather than with the
// emulator's bit trick.

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/aegpu/aegpu/kernels"
)

// tf32Round is cvt.rna.tf32.f32 computed in float64: |x| rounded to a
// multiple of its TF32 ulp (2^(e−10) for a normal x in [2^e, 2^(e+1)),
// 2^−136 for subnormals: fp32's 2^−149 with the 13 low mantissa bits
// dropped), ties away from zero; past the largest finite value, ±Inf.
func tf32Round(x float32) float32 {
	v := float64(x)
	if math.IsNaN(v) || math.IsInf(v, 0) || v == 0 {
		return x
	}
	m := math.Abs(v)
	_, e := math.Frexp(m) // m = f·2^e, f in [0.5, 1): m in [2^(e−1), 2^e)
	ulp := math.Ldexp(1, e-1-10)
	if e-1 < -126 {
		ulp = math.Ldexp(1, -136)
	}
	r := math.Floor(m/ulp+0.5) * ulp // m/ulp < 2^24: exact; +0.5 then floor: ties up (away from 0)
	if r >= math.Ldexp(1, 128) {
		r = math.Inf(1)
	}
	return float32(math.Copysign(r, v))
}

// tf32CPUExtra: the TF32 kernels multiply operands rounded to 10 mantissa
// bits (relative error ≤ 2⁻¹¹ each), so each product a'·b' is off a·b by
// at most (2⁻¹¹ + 2⁻¹¹ + 2⁻²²)·|a·b| ≤ 2⁻¹⁰·1.001·|a·b|, and the sum by at
// most that times Σ|a·b|: a worst-case bound, against the fp32 CPU backend
// (which is within its own fp32 tolerance of the unrounded product). For
// random signs the error is typically ≈ 2⁻¹⁰·√K·|a·b|, √K times less.
func tf32CPUExtra(abs float64) float64 { return 1.001 * math.Ldexp(1, -10) * abs }

var (
	cfgTF32 = gemmCfg{"tf32-128", kernels.GemmTF32BM, kernels.GemmTF32BN, kernels.GemmTF32Threads,
		GemmNTBiasActTF32, GemmNNBiasActTF32, GemmNNTF32, GemmTNTF32, GemmNTTF32}
	cfgTF32x64 = gemmCfg{"tf32-64", kernels.GemmTF32x64BM, kernels.GemmTF32x64BN, kernels.GemmTF32x64Threads,
		GemmNTBiasActTF32x64, GemmNNBiasActTF32x64, GemmNNTF32x64, GemmTNTF32x64, GemmNTTF32x64}

	// Awkward sizes (1, 7, 33, 129, 200, …: none a multiple of a tile),
	// then shapes whose leading dimensions are multiples of 4 (the float4
	// paths), with interior tiles, exact multiples of both tiles and one
	// row or column short of them; K from 1 (one k8 step, mostly zeros) to
	// 257 (17 tiles of 16, a partial last one).
	tf32Shapes = [][3]int{
		{1, 1, 1}, {1, 7, 33}, {7, 1, 100}, {7, 33, 1}, {33, 7, 257}, {129, 33, 33},
		{33, 200, 7}, {200, 129, 20}, {1, 200, 65},
		{132, 260, 36}, {256, 128, 64}, {64, 64, 16}, {127, 63, 20}, {63, 127, 24},
	}

	// The first variant is checked against the reference; the others,
	// both tile configurations and every load path, must equal it bitwise.
	tf32 = gemmPrecision{name: "tf32", shapes: tf32Shapes,
		variants: []gemmVariant{{cfgTF32, aligned}, {cfgTF32x64, aligned}, {cfgTF32, misaligned},
			{cfgTF32x64, fenceEnd}, {cfgTF32, fenceStart}},
		round: tf32Round, cpuExtra: tf32CPUExtra}
)

// The TF32 GEMMs against a float64 reference computed on TF32-rounded
// operands, with the fp32 GEMMs' tolerance (gemmTol: the accumulation is
// fp32), and against the fp32 CPU backend with tf32CPUExtra on top.
func TestGemmNTBiasActTF32(t *testing.T) { testGemmBiasAct(t, false, tf32) }
func TestGemmNNBiasActTF32(t *testing.T) { testGemmBiasAct(t, true, tf32) }
func TestGemmNNTF32(t *testing.T)        { testGemmBeta(t, layoutNN, tf32) }
func TestGemmTNTF32(t *testing.T)        { testGemmBeta(t, layoutTN, tf32) }
func TestGemmNTTF32(t *testing.T)        { testGemmBeta(t, layoutNT, tf32) }

// TestTF32Round: the kernels' cvt.rna.tf32.f32 (emulated) is bitwise
// tf32Round on special values, ties, both signs, subnormals, overflow and
// many random floats.
func TestTF32Round(t *testing.T) {
	need(t)
	bits := []uint32{
		0x00000000, 0x80000000, 0x3f800000, 0x3f801000, 0x3f800fff, 0x3f801001, 0x3f803000, // ties: 0x1000 up, 0x3000 up (away)
		0xbf801000, 0xbf803000, 0xbf800fff, 0x7f7fffff, 0xff7fffff, 0x7f7fefff, 0x7f7ff000,
		0x7f800000, 0xff800000, 0x00000001, 0x00001000, 0x00000fff, 0x007fffff, 0x807ff000, 0x00800000,
		0x33800000, 0x4b7fffff, 0x3eaaaaab, 0xc0490fdb,
	}
	g := newGen(77)
	for i := 0; i < 4000; i++ {
		bits = append(bits, uint32(g.r.Uint64()))
	}
	nan := []uint32{0x7fc00000, 0xffc00001, 0x7f800001, 0x7fbfffff}
	x := make([]float32, 0, len(bits)+len(nan))
	for _, b := range append(bits, nan...) {
		x = append(x, math.Float32frombits(b))
	}
	out := make([]uint32, len(x))
	for _, m := range Modes[:2] {
		SetMode(m)
		must(t, cvtSelftest(x, out))
		for i, v := range x {
			got := out[i]
			if i >= len(bits) { // NaN in, a quiet NaN out with low 13 bits 0
				if f := math.Float32frombits(got); !math.IsNaN(float64(f)) || got&0x1fff != 0 {
					t.Errorf("cvt(%#08x) = %#08x, want a NaN with low bits 0", math.Float32bits(v), got)
				}
				continue
			}
			if math.IsNaN(float64(v)) {
				if !math.IsNaN(float64(math.Float32frombits(got))) || got&0x1fff != 0 {
					t.Errorf("cvt(%#08x) = %#08x, want a TF32 NaN", math.Float32bits(v), got)
				}
				continue
			}
			if want := math.Float32bits(tf32Round(v)); got != want {
				t.Fatalf("cvt(%#08x = %g) = %#08x, want %#08x", math.Float32bits(v), v, got, want)
			}
		}
	}
	if got := math.Float32bits(tf32Round(math.Float32frombits(0x3f801000))); got != 0x3f802000 {
		t.Errorf("tie 1 + 2⁻¹¹ rounded to %#08x, want 0x3f802000 (away from zero)", got)
	}
}

// ISA layout of mma.m16n8k8 .tf32 (see the file comment), lane l with
// groupID = l >> 2, threadID_in_group = l % 4.
func isaA(lane, i int) (row, col int) { // a0…a3
	g, t := lane>>2, lane%4
	row, col = g, t
	if i == 1 || i == 3 {
		row = g + 8
	}
	if i == 2 || i == 3 {
		col = t + 4
	}
	return
}

func isaB(lane, i int) (row, col int) { // b0, b1
	g, t := lane>>2, lane%4
	if i == 0 {
		return t, g
	}
	return t + 4, g
}

func isaC(lane, i int) (row, col int) { // c0…c3
	g, t := lane>>2, lane%4
	row = g
	if i >= 2 {
		row = g + 8
	}
	return row, t*2 + i&1
}

// TestMMAFragments runs one emulated mma.sync.m16n8k8 TF32 per warp (2
// warps, different matrices) with each lane's registers filled from the
// ISA's layouts and checks every lane's D fragment against A·B + C.
func TestMMAFragments(t *testing.T) {
	need(t)
	const warps = 2
	g := newGen(99)
	var A [warps][16][8]float32
	var B [warps][8][8]float32
	var Cm [warps][16][8]float32
	for w := range warps {
		for r := range 16 {
			for k := range 8 {
				A[w][r][k] = tf32Round(float32(g.r.Float64()*4 - 2))
				Cm[w][r][k] = float32(g.r.Float64()*2 - 1)
			}
		}
		for k := range 8 {
			for c := range 8 {
				B[w][k][c] = tf32Round(float32(g.r.Float64()*4 - 2))
			}
		}
	}
	regs := make([]uint32, 6*32*warps)
	c := make([]float32, 4*32*warps)
	for w := range warps {
		for l := range 32 {
			th := 32*w + l
			for i := range 4 {
				r, k := isaA(l, i)
				regs[6*th+i] = math.Float32bits(A[w][r][k])
				r, col := isaC(l, i)
				c[4*th+i] = Cm[w][r][col]
			}
			for i := range 2 {
				k, col := isaB(l, i)
				regs[6*th+4+i] = math.Float32bits(B[w][k][col])
			}
		}
	}
	for _, m := range Modes {
		SetMode(m)
		d := make([]float32, len(c))
		must(t, mmaSelftest(D1(1), D1(32*warps), regs, c, d, 0))
		for w := range warps {
			for l := range 32 {
				for i := range 4 {
					r, col := isaC(l, i)
					want, abs := float64(Cm[w][r][col]), math.Abs(float64(Cm[w][r][col]))
					for k := range 8 {
						p := float64(A[w][r][k]) * float64(B[w][k][col])
						want += p
						abs += math.Abs(p)
					}
					got := float64(d[4*(32*w+l)+i])
					// One rounding to fp32 (the emulator's; the hardware's
					// fp32 accumulation would be a few roundings).
					if math.Abs(got-want) > eps32*abs {
						t.Fatalf("%s: warp %d lane %d d%d = D[%d][%d] = %.9g, want %.9g", m, w, l, i, r, col, got, want)
					}
				}
			}
		}
	}

	// What the hardware leaves undefined, the emulator rejects.
	bad := func(what string, block Dim3, regs []uint32, mode int, want string) {
		t.Helper()
		for _, m := range Modes {
			SetMode(m)
			n := block.X
			d := make([]float32, 4*n)
			cc := make([]float32, 4*n)
			err := mmaSelftest(D1(1), block, regs[:6*n], cc, d, mode)
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("%s (%s): got %v, want an error containing %q", what, m, err, want)
			}
		}
	}
	bad("a lane returns before the mma", D1(64), regs, 1, "warp divergence")
	bad("lane 0 at __syncthreads, the rest of its warp at the mma", D1(64), regs, 2, "barrier mismatch")
	bad("a partial warp", D1(48), append(regs, make([]uint32, 6*16)...), 0, "only 16 lanes")
	raw := append([]uint32(nil), regs...)
	raw[6*3+1] |= 1 // lane 3's a1: a float that was not rounded to TF32
	bad("an operand not rounded to TF32", D1(64), raw, 0, "not a TF32 value")
}

// TestSchedulesAgreeTF32: every TF32 kernel gives bitwise the same results
// under every schedule of the emulator (a missing barrier, or a warp
// exchange that races, would show up as a difference).
func TestSchedulesAgreeTF32(t *testing.T) { schedulesAgree(t, 4242, cfgTF32, cfgTF32x64) }

// schedulesAgree runs the five tensor-core GEMM shapes at both tile
// configurations under every emulator schedule and requires bitwise equal
// results, across schedules and between the two tiles.
func schedulesAgree(t *testing.T, seed uint64, big, small gemmCfg) {
	need(t)
	g := newGen(seed)
	const M, N, K = 70, 130, 40
	x, w, b := g.uniform(M*K, -1, 1), g.uniform(N*K, -0.2, 0.2), g.uniform(N, -0.5, 0.5)
	a, c0 := g.uniform(K*M, -1, 1), g.uniform(M*N, -1, 1)
	run := func() [][]float32 {
		var res [][]float32
		for _, cfg := range []gemmCfg{big, small} {
			grid, block := cfg.grid(M, N)
			Y, Z := make([]float32, M*N), make([]float32, M*N)
			must(t, cfg.nt(grid, block, x, w, b, Z, Y, M, N, K, 5))
			Y2 := make([]float32, M*N)
			must(t, cfg.nnBias(grid, block, x, w, b, nil, Y2, M, N, K, 3))
			C1, C2, C3 := append([]float32(nil), c0...), append([]float32(nil), c0...), make([]float32, M*N)
			must(t, cfg.nn(grid, block, x, w, C1, M, N, K, 1))
			must(t, cfg.tn(grid, block, a, w, C2, M, N, K, 0.5))
			must(t, cfg.ntBeta(grid, block, x, w, C3, M, N, K, 0))
			res = append(res, Y, Z, Y2, C1, C2, C3)
		}
		return res
	}
	var first [][]float32
	for _, m := range Modes {
		SetMode(m)
		r := run()
		if first == nil {
			first = r
			continue
		}
		for i := range r {
			checkBits(t, fmt.Sprintf("%s, output %d", m, i), r[i], first[i])
		}
	}
	// And the two tile configurations agree with each other.
	for i := 0; i < 6; i++ {
		checkBits(t, fmt.Sprintf("64×64 vs 128×128, output %d", i), first[6+i], first[i])
	}
}

// TestGemmTF32BlockShape: the TF32 GEMMs trap on a block they were not
// compiled for.
func TestGemmTF32BlockShape(t *testing.T) {
	need(t)
	a := make([]float32, 16)
	for _, c := range []struct {
		cfg   gemmCfg
		block Dim3
	}{{cfgTF32, D1(128)}, {cfgTF32x64, D1(256)}, {cfgTF32x64, Dim3{64, 2, 1}}} {
		nextMode()
		err := c.cfg.nn(D1(1), c.block, a, a, make([]float32, 16), 4, 4, 4, 0)
		if err == nil || !contains(err.Error(), "__trap") {
			t.Errorf("gemm_nn (tiles %s) with block %v: got %v, want a trap", c.cfg.name, c.block, err)
		}
	}
}
