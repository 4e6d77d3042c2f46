package emu

// The BF16 tensor-core GEMMs (gemm_bf16.cu, PrecBF16) and the emulated
// instructions they rest on, checked as the TF32 ones (tf32_test.go): the
// fragment layouts of mma.m16n8k16 with .bf16 operands are transcribed
// again, in Go, from the PTX ISA (§9.7.14.5.8 "Matrix Fragments for
// mma.m16n8k16 with floating point type";
// docs.nvidia.com/cuda/parallel-thread-execution/#warp-level-matrix-fragment-mma-16816-float),
// and cvt.rn.bf16x2.f32 is computed arithmetically rather than with the
// emulator's bit trick.

import (
	"math"
	"testing"

	"github.com/aegpu/aegpu/kernels"
)

// bf16Round is cvt.rn.bf16x2.f32's rounding of one value, in float64: |x|
// rounded to a multiple of its bf16 ulp (2^(e−7) for a normal x in [2^e,
// 2^(e+1)), 2^−133 for subnormals: fp32's 2^−149 with the 16 low bits
// dropped), ties to even; past the largest finite bf16, ±Inf.
func bf16Round(x float32) float32 {
	v := float64(x)
	if math.IsNaN(v) || math.IsInf(v, 0) || v == 0 {
		return x
	}
	m := math.Abs(v)
	_, e := math.Frexp(m)
	ulp := math.Ldexp(1, e-1-7)
	if e-1 < -126 {
		ulp = math.Ldexp(1, -133)
	}
	r := math.RoundToEven(m/ulp) * ulp // m/ulp < 2^24: exact
	if r >= math.Ldexp(1, 128) {
		r = math.Inf(1)
	}
	return float32(math.Copysign(r, v))
}

// bf16CPUExtra: each operand rounded to nearest at 8 significant bits
// (unit roundoff u = 2⁻⁸: relative error ≤ 2⁻⁸ each), so a'·b' is off a·b
// by at most (2u + u²)·|a·b| = (2⁻⁷ + 2⁻¹⁶)·|a·b| ≤ 1.004·2⁻⁷·|a·b|, the
// sum by that times Σ|a·b|: the worst case (the "2⁻⁸·Σ|a·b|"
// counts one operand's rounding only; K = 1 products exceed it). For
// random signs the error is typically ≈ 2⁻⁸·√K·|a·b|.
func bf16CPUExtra(abs float64) float64 { return 1.004 * math.Ldexp(1, -7) * abs }

var (
	cfgBF16 = gemmCfg{"bf16-128", kernels.GemmBF16BM, kernels.GemmBF16BN, kernels.GemmBF16Threads,
		GemmNTBiasActBF16, GemmNNBiasActBF16, GemmNNBF16, GemmTNBF16, GemmNTBF16}
	cfgBF16x64 = gemmCfg{"bf16-64", kernels.GemmBF16x64BM, kernels.GemmBF16x64BN, kernels.GemmBF16x64Threads,
		GemmNTBiasActBF16x64, GemmNNBiasActBF16x64, GemmNNBF16x64, GemmTNBF16x64, GemmNTBF16x64}

	// The TF32 shapes (awkward sizes, float4 paths, K from 1 to 257: one
	// k16 step to 17 tiles with a partial last one).
	bf16 = gemmPrecision{name: "bf16", shapes: tf32Shapes,
		variants: []gemmVariant{{cfgBF16, aligned}, {cfgBF16x64, aligned}, {cfgBF16, misaligned},
			{cfgBF16x64, fenceEnd}, {cfgBF16, fenceStart}},
		round: bf16Round, cpuExtra: bf16CPUExtra}
)

// The BF16 GEMMs against a float64 reference on bf16-rounded operands
// (fp32 accumulation: gemmTol), and against the fp32 CPU backend with
// bf16CPUExtra = 1.004·2⁻⁷·Σ|a·b| on top.
func TestGemmNTBiasActBF16(t *testing.T) { testGemmBiasAct(t, false, bf16) }
func TestGemmNNBiasActBF16(t *testing.T) { testGemmBiasAct(t, true, bf16) }
func TestGemmNNBF16(t *testing.T)        { testGemmBeta(t, layoutNN, bf16) }
func TestGemmTNBF16(t *testing.T)        { testGemmBeta(t, layoutTN, bf16) }
func TestGemmNTBF16(t *testing.T)        { testGemmBeta(t, layoutNT, bf16) }

// TestBF16Round: the kernels' cvt.rn.bf16x2.f32 (emulated) is bitwise
// bf16Round of both inputs, hi in the upper half: specials, ties (to even,
// both ways), both signs, subnormals, overflow, random floats; a NaN gives
// a NaN.
func TestBF16Round(t *testing.T) {
	need(t)
	bits := []uint32{
		0x00000000, 0x80000000, 0x3f800000,
		0x3f808000, // tie, kept LSB even: down to 0x3f80
		0x3f818000, // tie, odd: up to 0x3f82
		0x3f807fff, 0x3f808001, 0xbf808000, 0xbf818000,
		0x7f7fffff, 0xff7fffff, 0x7f7f7fff, 0x7f7f8000, // the largest finite bf16 is 0x7f7f; 0x7f7f8000 ties to Inf
		0x7f800000, 0xff800000, 0x00000001, 0x00008000, 0x00018000, 0x00007fff, 0x007fffff, 0x807f8000, 0x00800000,
		0x3eaaaaab, 0xc0490fdb,
	}
	g := newGen(78)
	for i := 0; i < 4000; i++ {
		bits = append(bits, uint32(g.r.Uint64()))
	}
	nan := []uint32{0x7fc00000, 0xffc00001, 0x7f800001, 0x7fbfffff}
	all := append(append([]uint32(nil), bits...), nan...)
	n := len(all)
	hi, lo := make([]float32, n), make([]float32, n)
	for i := range all {
		hi[i] = math.Float32frombits(all[i])
		lo[i] = math.Float32frombits(all[(i+1)%n])
	}
	want16 := func(x float32) (uint32, bool) {
		if math.IsNaN(float64(x)) {
			return 0, true
		}
		b := math.Float32bits(bf16Round(x))
		if b&0xffff != 0 {
			panic("bf16Round kept low bits")
		}
		return b >> 16, false
	}
	out := make([]uint32, n)
	for _, m := range Modes[:2] {
		SetMode(m)
		must(t, cvtBF16Selftest(hi, lo, out))
		for i := range all {
			for half, x := range []float32{lo[i], hi[i]} {
				got := (out[i] >> (16 * half)) & 0xffff
				w, isNaN := want16(x)
				if isNaN {
					if !math.IsNaN(float64(math.Float32frombits(got << 16))) {
						t.Errorf("cvt(%#08x) = %#04x, want a NaN", math.Float32bits(x), got)
					}
					continue
				}
				if got != w {
					t.Fatalf("cvt(%#08x = %g), half %d = %#04x, want %#04x", math.Float32bits(x), x, half, got, w)
				}
			}
		}
	}
	if got := math.Float32bits(bf16Round(math.Float32frombits(0x3f808000))); got != 0x3f800000 {
		t.Errorf("tie 1 + 2⁻⁸ rounded to %#08x, want 0x3f800000 (to even)", got)
	}
}

// ISA layout of mma.m16n8k16 .bf16 (see the file comment): element index
// i of a lane (a0…a7, b0…b3) lives in register i/2, the lower half for
// even i. C/D as m16n8k8 (isaC).
func isaA16(lane, i int) (row, col int) {
	g, t := lane>>2, lane%4
	row = g + 8
	if i < 2 || (4 <= i && i < 6) {
		row = g
	}
	col = t*2 + i&1
	if i >= 4 {
		col += 8
	}
	return
}

func isaB16(lane, i int) (row, col int) {
	g, t := lane>>2, lane%4
	row = t*2 + i&1
	if i >= 2 {
		row += 8
	}
	return row, g
}

// TestMMAFragmentsBF16: one emulated mma.sync.m16n8k16 BF16 per warp (2
// warps) with each lane's registers packed from the ISA's layouts; every
// lane's D fragment against A·B + C.
func TestMMAFragmentsBF16(t *testing.T) {
	need(t)
	const warps = 2
	g := newGen(98)
	var A [warps][16][16]float32
	var B [warps][16][8]float32
	var Cm [warps][16][8]float32
	for w := range warps {
		for r := range 16 {
			for k := range 16 {
				A[w][r][k] = bf16Round(float32(g.r.Float64()*4 - 2))
			}
			for c := range 8 {
				Cm[w][r][c] = float32(g.r.Float64()*2 - 1)
			}
		}
		for k := range 16 {
			for c := range 8 {
				B[w][k][c] = bf16Round(float32(g.r.Float64()*4 - 2))
			}
		}
	}
	h := func(x float32) uint32 { return math.Float32bits(x) >> 16 }
	regs := make([]uint32, 6*32*warps)
	c := make([]float32, 4*32*warps)
	for w := range warps {
		for l := range 32 {
			th := 32*w + l
			for i := range 8 {
				r, k := isaA16(l, i)
				regs[6*th+i/2] |= h(A[w][r][k]) << (16 * (i % 2))
			}
			for i := range 4 {
				k, col := isaB16(l, i)
				regs[6*th+4+i/2] |= h(B[w][k][col]) << (16 * (i % 2))
			}
			for i := range 4 {
				r, col := isaC(l, i)
				c[4*th+i] = Cm[w][r][col]
			}
		}
	}
	for _, m := range Modes {
		SetMode(m)
		d := make([]float32, len(c))
		must(t, mmaBF16Selftest(D1(1), D1(32*warps), regs, c, d))
		for w := range warps {
			for l := range 32 {
				for i := range 4 {
					r, col := isaC(l, i)
					want, abs := float64(Cm[w][r][col]), math.Abs(float64(Cm[w][r][col]))
					for k := range 16 {
						p := float64(A[w][r][k]) * float64(B[w][k][col])
						want += p
						abs += math.Abs(p)
					}
					got := float64(d[4*(32*w+l)+i])
					if math.Abs(got-want) > eps32*abs {
						t.Fatalf("%s: warp %d lane %d d%d = D[%d][%d] = %.9g, want %.9g", m, w, l, i, r, col, got, want)
					}
				}
			}
		}
	}
}

// TestSchedulesAgreeBF16: every BF16 kernel bitwise the same under every
// emulator schedule, and at both tiles.
func TestSchedulesAgreeBF16(t *testing.T) { schedulesAgree(t, 4243, cfgBF16, cfgBF16x64) }

// TestBF16DiffersFromTF32: the BF16 kernels really round to 8 bits (a
// product of values with low mantissa bits set differs from TF32's).
func TestBF16DiffersFromTF32(t *testing.T) {
	need(t)
	nextMode()
	const M, N, K = 16, 16, 16
	a := make([]float32, M*K)
	bm := make([]float32, K*N)
	for i := range a {
		a[i] = 1 + 1.0/512 // 1 + 2⁻⁹: exact in TF32, a tie in bf16 → 1
	}
	for i := range bm {
		bm[i] = 1
	}
	for _, c := range []struct {
		cfg  gemmCfg
		want float32
	}{{cfgBF16x64, K}, {cfgTF32x64, K * (1 + 1.0/512)}} {
		grid, block := c.cfg.grid(M, N)
		out := make([]float32, M*N)
		must(t, c.cfg.nn(grid, block, a, bm, out, M, N, K, 0))
		if out[0] != c.want {
			t.Errorf("%s: (1+2⁻⁹)·1 summed over 16 = %g, want %g", c.cfg.name, out[0], c.want)
		}
	}
}
