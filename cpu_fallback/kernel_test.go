package cpu_fallback

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// The GEMM tests compare the micro-kernel in use (AVX2/FMA assembly on
// amd64 unless -tags noasm) with its pure-Go twin and with a float64
// reference, over every small shape and tile remainder.
//
// Bitwise or tolerance: the assembly accumulates with FMA (one rounding per
// step). gc fuses a*b+c into an FMA too when built with GOAMD64=v3, and then
// the twin does exactly the same arithmetic in the same order, so the two
// must agree bit for bit. Otherwise (GOAMD64 v1/v2, other architectures)
// the twin rounds each product, and both are held to the float64 reference
// within the classic bound for a k-term dot product computed in float32,
//
//	|ŝ − s| ≤ γ · Σ_p |a_p·b_p|,   γ = (k+2)·2⁻²⁴ (+ 1e-30 for all-zero terms),
//
// the k rounding errors of the sums plus one each for the products and for
// the addition to C (tolerance written at each assertion as gammaTol).

// goFuses reports whether this build of the Go compiler fuses x*y+z into
// one FMA (GOAMD64=v3, arm64, …): then the pure-Go twin is bitwise the
// assembly's arithmetic.
func goFuses() bool {
	x, y, z := fmaProbe()
	return x*y+z != float32(float64(x)*float64(y))+z
}

//go:noinline
func fmaProbe() (float32, float32, float32) {
	// x·y = 1 + 2⁻¹² + 2⁻²⁴ (exact); rounded to float32 the 2⁻²⁴ is lost
	// (a tie to even), fused it survives in the sum with −1.
	x := float32(1 + 1.0/(1<<12))
	return x, x, -1
}

// gammaTol is the tolerance of a k-term float32 dot product whose terms
// have absolute sum abs (see above).
func gammaTol(k int, abs float64) float64 {
	return float64(k+2)*0x1p-24*abs + 1e-30
}

// randPanels returns random packed A [kc×mr] and B [kc×nr] panels.
func randPanels(r *rand.Rand, kc, mr, nr int) (a, b []float32) {
	a, b = make([]float32, kc*mr), make([]float32, kc*nr)
	for i := range a {
		a[i] = float32(r.NormFloat64())
	}
	for i := range b {
		b[i] = float32(r.NormFloat64())
	}
	return a, b
}

// TestMicroKernel: each assembly micro-kernel (AVX2 6×16, AVX-512 14×32,
// where the CPU runs it) against its pure-Go twin and the float64
// reference for kc = 0…33 and a few long panels, storing and accumulating,
// into a C with a row stride wider than the tile.
func TestMicroKernel(t *testing.T) {
	bitwise := goFuses()
	t.Logf("Go fuses FMA (bitwise comparison with the twins): %v", bitwise)
	t.Run("generic", func(t *testing.T) { testMicroKernel(t, goKernel, bitwise) })
	eachAsmPath(t, func(t *testing.T, k *kernel) { testMicroKernel(t, k, bitwise) })
}

func testMicroKernel(t *testing.T, k *kernel, bitwise bool) {
	r := rand.New(rand.NewPCG(1, 2))
	mr, nr := k.mr, k.nr
	ldc := nr + 5
	kcs := []int{}
	for kc := range 34 {
		kcs = append(kcs, kc)
	}
	kcs = append(kcs, 63, 64, 65, 255, 256, 257, 511, 784)
	for _, kc := range kcs {
		a, b := randPanels(r, kc, mr, nr)
		for _, acc := range []bool{false, true} {
			c0 := make([]float32, (mr-1)*ldc+nr)
			for i := range c0 {
				c0[i] = float32(r.NormFloat64())
			}
			got := append([]float32(nil), c0...)
			twin := append([]float32(nil), c0...)
			k.tile(kc, a, b, got, ldc, acc)
			k.twin.tile(kc, a, b, twin, ldc, acc)
			// The AVX-512 kernel reading B in place (rows ldb apart) does
			// the same instructions: the same bits as over the panel.
			const ldb = maxNR + 3
			bs := make([]float32, max(kc, 1)*ldb)
			for p := range kc {
				copy(bs[p*ldb:], b[p*nr:(p+1)*nr])
			}
			direct := append([]float32(nil), c0...)
			if tileDirectB(k, kc, a, bs, ldb, direct, ldc, acc) {
				for q := range direct {
					if math.Float32bits(direct[q]) != math.Float32bits(got[q]) {
						t.Fatalf("kc %d acc %v: element %d with B in place %g, packed %g", kc, acc, q, direct[q], got[q])
					}
				}
			}
			// And with A read in place from its rows (lda apart), B in
			// place or packed.
			lda := kc + 3
			as := make([]float32, mr*lda)
			for p := range kc {
				for i := range mr {
					as[i*lda+p] = a[p*mr+i]
				}
			}
			for _, bl := range []struct {
				b   []float32
				ldb int
			}{{bs, ldb}, {b, nr}} {
				direct := append([]float32(nil), c0...)
				if kc > 0 && tileDirectA(k, kc, as, lda, 1, bl.b, bl.ldb, direct, ldc, acc) {
					for q := range direct {
						if math.Float32bits(direct[q]) != math.Float32bits(got[q]) {
							t.Fatalf("kc %d acc %v ldb %d: element %d with A in place %g, packed %g", kc, acc, bl.ldb, q, direct[q], got[q])
						}
					}
				}
			}
			for i := range mr {
				for j := range ldc {
					q := i*ldc + j
					if q >= len(c0) {
						continue
					}
					if j >= nr { // between tile rows: untouched
						if got[q] != c0[q] {
							t.Fatalf("kc %d: wrote outside the tile at row %d column %d", kc, i, j)
						}
						continue
					}
					s, abs := 0.0, 0.0
					if acc {
						s, abs = float64(c0[q]), math.Abs(float64(c0[q]))
					}
					// Compute the sum of the tile part from zero, then add C,
					// as the kernel does (the float64 sum is near exact).
					for p := range kc {
						v := float64(a[p*mr+i]) * float64(b[p*nr+j])
						s += v
						abs += math.Abs(v)
					}
					tol := gammaTol(kc, abs) // k roundings + product + C addition
					for _, c := range []struct {
						name string
						v    float32
					}{{"kernel", got[q]}, {"Go twin", twin[q]}} {
						if d := math.Abs(float64(c.v) - s); d > tol {
							t.Fatalf("kc %d acc %v: %s C[%d,%d] = %g, want %g ± %g", kc, acc, c.name, i, j, c.v, s, tol)
						}
					}
					if bitwise && math.Float32bits(got[q]) != math.Float32bits(twin[q]) {
						t.Fatalf("kc %d acc %v: C[%d,%d] kernel %g ≠ Go twin %g (bitwise)", kc, acc, i, j, got[q], twin[q])
					}
				}
			}
		}
	}
}

// gemmCase is one GEMM of the shape tests: C [m×n] (+)= op(A)·op(B).
type gemmCase struct {
	m, n, k     int
	transA, trB bool
	acc, rowSum bool
	threads     int
}

// runGemmCase runs c on b and returns C, rowSum and the float64 reference
// with its tolerance per element.
func runGemmCase(t *testing.T, b *Backend, r *rand.Rand, c gemmCase) (got, gotRS []float32, want, tol, wantRS, tolRS []float64) {
	m, n, k := c.m, c.n, c.k
	a, bm := make([]float32, m*k), make([]float32, k*n)
	for i := range a {
		a[i] = float32(r.NormFloat64())
	}
	for i := range bm {
		bm[i] = float32(r.NormFloat64())
	}
	// A(i,p) stored [m×k] or, transposed, [k×m]; likewise B.
	ars, acs := k, 1
	if c.transA {
		ars, acs = 1, m
	}
	brs, bcs := n, 1
	if c.trB {
		brs, bcs = 1, k
	}
	cm := make([]float32, m*n)
	for i := range cm {
		cm[i] = float32(r.NormFloat64())
	}
	c0 := append([]float32(nil), cm...)
	var rs, rs0 []float32
	if c.rowSum {
		rs = make([]float32, m)
		for i := range rs {
			rs[i] = float32(r.NormFloat64())
		}
		rs0 = append([]float32(nil), rs...)
	}
	j := &b.gemm
	*j = gemmJob{m: m, n: n, k: k, a: a, ars: ars, acs: acs, b: bm, brs: brs, bcs: bcs, c: cm, acc: c.acc, rowSum: rs}
	b.runGemm(j)

	want, tol = make([]float64, m*n), make([]float64, m*n)
	for i := range m {
		for jj := range n {
			s, abs := 0.0, 0.0
			for p := range k {
				v := float64(a[i*ars+p*acs]) * float64(bm[p*brs+jj*bcs])
				s += v
				abs += math.Abs(v)
			}
			if c.acc {
				s += float64(c0[i*n+jj])
				abs += math.Abs(float64(c0[i*n+jj]))
			}
			// k roundings in the kernel, one per K block added to C,
			// one for the product: (k + K blocks + 2)·2⁻²⁴·Σ|terms|.
			want[i*n+jj], tol[i*n+jj] = s, gammaTol(k+ceilDiv(k, minKC)+1, abs)
		}
	}
	if c.rowSum {
		wantRS, tolRS = make([]float64, m), make([]float64, m)
		for i := range m {
			s, abs := 0.0, 0.0
			for p := range k {
				s += float64(a[i*ars+p*acs])
				abs += math.Abs(float64(a[i*ars+p*acs]))
			}
			if c.acc {
				s += float64(rs0[i])
				abs += math.Abs(float64(rs0[i]))
			}
			// float64 sum rounded once to float32: half an ulp, 2⁻²⁴·|s|,
			// bounded here by 2⁻²³·Σ|terms|.
			wantRS[i], tolRS[i] = s, 0x1p-23*abs+1e-30
		}
	}
	return cm, rs, want, tol, wantRS, tolRS
}

// minKC is below every kernel's K block (for the tolerance: one rounding
// per K block added to C).
const minKC = 64

// TestGemmShapes: on every kernel path this CPU runs, every m, n in 1…33 with a spread of k (and every k in
// 1…33 with a spread of m, n), all four transpose combinations, storing
// and accumulating, against the float64 reference; then the same GEMMs with
// the pure-Go twin forced, which must agree bitwise when Go fuses FMA.
func TestGemmShapes(t *testing.T) {
	var cases []gemmCase
	ks := []int{1, 2, 3, 4, 5, 7, 8, 16, 17, 31, 33}
	mns := []int{1, 2, 5, 6, 7, 12, 13, 15, 16, 17, 18, 31, 32, 33}
	if testing.Short() {
		ks = []int{1, 5, 17, 33}
	}
	i := 0
	add := func(m, n, k int) {
		i++
		cases = append(cases, gemmCase{m: m, n: n, k: k, transA: i%2 == 1, trB: i/2%2 == 1, acc: i/4%2 == 1, rowSum: i%3 == 0, threads: 1 + i%3})
	}
	for m := 1; m <= 33; m++ {
		for n := 1; n <= 33; n++ {
			for _, k := range ks {
				add(m, n, k)
			}
		}
	}
	for k := 1; k <= 33; k++ {
		for _, m := range mns {
			for _, n := range mns {
				add(m, n, k)
			}
		}
	}
	// Past the tile, K-block and packing-group limits.
	for _, s := range [][3]int{{mtMax + 7, 40, kcMax + 9}, {13, ntMax + 17, 40}, {97, 300, 2*kcMax + 3}, {256, 64, 256}, {0, 5, 3}, {4, 0, 3}, {3, 5, 0}} {
		for tr := range 4 {
			for _, acc := range []bool{false, true} {
				cases = append(cases, gemmCase{m: s[0], n: s[1], k: s[2], transA: tr%2 == 1, trB: tr/2 == 1, acc: acc, rowSum: tr == 1, threads: 1 + tr})
			}
		}
	}
	backends := map[int]*Backend{}
	for _, th := range []int{1, 2, 3, 4} {
		backends[th] = New(th)
		defer backends[th].Close()
	}
	bitwise := goFuses()
	t.Run("generic", func(t *testing.T) { testGemmShapes(t, cases, backends, goKernel, bitwise) })
	eachAsmPath(t, func(t *testing.T, k *kernel) { testGemmShapes(t, cases, backends, k, bitwise) })
}

// testGemmShapes runs the cases with kernel k against the float64
// reference; then the same GEMMs with k's pure-Go twin, which must agree
// bitwise when Go fuses FMA; and, for the AVX-512 kernel, with the AVX2
// one, which must agree bitwise in every build (both sum each K block in
// k order with one FMA per step, and the K blocks depend on k alone).
func testGemmShapes(t *testing.T, cases []gemmCase, backends map[int]*Backend, k *kernel, bitwise bool) {
	defer setKernel(active)()
	var other *kernel
	if k.path == pathAVX512 {
		other = kernelFor(pathAVX2)
	}
	for ci, c := range cases {
		name := fmt.Sprintf("%dx%dx%d transA %v transB %v acc %v threads %d", c.m, c.n, c.k, c.transA, c.trB, c.acc, c.threads)
		setKernel(k)
		got, gotRS, want, tol, wantRS, tolRS := runGemmCase(t, backends[c.threads], rand.New(rand.NewPCG(uint64(ci), 9)), c)
		for q := range got {
			if d := math.Abs(float64(got[q]) - want[q]); !(d <= tol[q]) {
				t.Fatalf("%s: C[%d,%d] = %g, want %g ± %g", name, q/c.n, q%c.n, got[q], want[q], tol[q])
			}
		}
		for q := range gotRS {
			if d := math.Abs(float64(gotRS[q]) - wantRS[q]); !(d <= tolRS[q]) {
				t.Fatalf("%s: rowSum[%d] = %g, want %g ± %g", name, q, gotRS[q], wantRS[q], tolRS[q])
			}
		}
		if k.twin == k && other == nil {
			continue
		}
		// The same GEMM (same random operands) on the pure-Go twin.
		setKernel(k.twin)
		twin, twinRS, _, _, _, _ := runGemmCase(t, backends[c.threads], rand.New(rand.NewPCG(uint64(ci), 9)), c)
		for q := range gotRS { // float64 sums in the same order: the same bits
			if math.Float32bits(gotRS[q]) != math.Float32bits(twinRS[q]) {
				t.Fatalf("%s: rowSum[%d] %s %g ≠ Go %g (bitwise)", name, q, k.path, gotRS[q], twinRS[q])
			}
		}
		for q := range got {
			if bitwise {
				if math.Float32bits(got[q]) != math.Float32bits(twin[q]) {
					t.Fatalf("%s: C[%d,%d] %s kernel %g ≠ Go twin %g (bitwise)", name, q/c.n, q%c.n, k.path, got[q], twin[q])
				}
			} else if d := math.Abs(float64(twin[q]) - want[q]); !(d <= tol[q]) {
				t.Fatalf("%s: Go twin C[%d,%d] = %g, want %g ± %g", name, q/c.n, q%c.n, twin[q], want[q], tol[q])
			}
		}
		if other != nil {
			setKernel(other)
			o, oRS, _, _, _, _ := runGemmCase(t, backends[c.threads], rand.New(rand.NewPCG(uint64(ci), 9)), c)
			for q := range got {
				if math.Float32bits(got[q]) != math.Float32bits(o[q]) {
					t.Fatalf("%s: C[%d,%d] %s kernel %g ≠ %s kernel %g (bitwise)", name, q/c.n, q%c.n, k.path, got[q], other.path, o[q])
				}
			}
			for q := range gotRS {
				if math.Float32bits(gotRS[q]) != math.Float32bits(oRS[q]) {
					t.Fatalf("%s: rowSum[%d] %s %g ≠ %s %g", name, q, k.path, gotRS[q], other.path, oRS[q])
				}
			}
		}
	}
	t.Logf("%d GEMMs on the %s kernel (%d×%d); bitwise twin comparison %v", len(cases), k.path, k.mr, k.nr, bitwise)
}

// TestPackPanel: the packing in use (AVX2 routines for whole panels on
// amd64) gives bitwise the panels of the Go packing, for both panel widths,
// every k up to 41 (the 8-column groups and their tails), whole and edge
// panels, row-contiguous (transposing), column-contiguous (copying) and
// general strides; nothing is written past the panel.
func TestPackPanel(t *testing.T) { eachAsmPath(t, testPackPanel) }

func testPackPanel(t *testing.T, kern *kernel) {
	defer setKernel(active)()
	setKernel(kern)
	r := rand.New(rand.NewPCG(3, 4))
	ks := []int{64, 100, 257}
	for k := range 42 {
		ks = append(ks, k)
	}
	for _, w := range []int{kern.mr, kern.nr} {
		for _, k := range ks {
			for _, ni := range []int{w, w - 1, 1} {
				for _, i0 := range []int{0, 3} {
					rows := i0 + ni
					for _, lay := range []struct{ rs, cs int }{
						{k + 3, 1},    // S rows contiguous
						{1, rows + 5}, // S columns contiguous
						{2, 2*rows + 1},
					} {
						s := make([]float32, rows*lay.rs+k*lay.cs+8)
						for i := range s {
							s[i] = float32(r.NormFloat64())
						}
						const guard = 9
						got, want := make([]float32, w*k+guard), make([]float32, w*k+guard)
						for i := range got {
							got[i], want[i] = float32(math.NaN()), float32(math.NaN())
						}
						packPanel(got[:w*k], s, i0, ni, w, k, lay.rs, lay.cs)
						packPanelGo(want[:w*k], s, i0, ni, w, k, lay.rs, lay.cs)
						for q := range got {
							if math.Float32bits(got[q]) != math.Float32bits(want[q]) {
								t.Fatalf("w %d k %d ni %d i0 %d strides %v: element %d = %g, want %g", w, k, ni, i0, lay, q, got[q], want[q])
							}
						}
					}
				}
			}
		}
	}
}

// TestRowSums: the vectorized row sums of a packed panel (the db
// reduction) against the Go loop, bitwise, for every panel width, every
// k up to 40 and fewer rows than the width.
func TestRowSums(t *testing.T) { eachAsmPath(t, testRowSums) }

func testRowSums(t *testing.T, kern *kernel) {
	defer setKernel(active)()
	r := rand.New(rand.NewPCG(11, 12))
	for _, w := range []int{6, 14, 16, 32} {
		for k := range 41 {
			for _, ni := range []int{w, w - 1, 1} {
				panel := make([]float32, k*w)
				for i := range panel {
					panel[i] = float32(r.NormFloat64() * 1e3)
				}
				s0 := make([]float64, ni)
				for i := range s0 {
					s0[i] = r.NormFloat64()
				}
				got, want := append([]float64(nil), s0...), append([]float64(nil), s0...)
				setKernel(kern)
				addPanelRowSums(got, panel, w)
				setKernel(goKernel)
				addPanelRowSums(want, panel, w)
				for i := range got {
					if math.Float64bits(got[i]) != math.Float64bits(want[i]) {
						t.Fatalf("w %d k %d ni %d: row %d = %g, want %g", w, k, ni, i, got[i], want[i])
					}
				}
			}
		}
	}
}
