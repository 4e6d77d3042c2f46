package pca

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"gonum.org/v1/gonum/mat"
)

// lowRank returns rows×cols float32 data A·B + offset + noise·N(0,1), with
// A rows×r and B r×cols standard normal, and offset a per-column constant.
func lowRank(rng *rand.Rand, rows, cols, r int, offset, noise float64) []float32 {
	a := make([]float64, rows*r)
	b := make([]float64, r*cols)
	off := make([]float64, cols)
	for i := range a {
		a[i] = rng.NormFloat64()
	}
	for i := range b {
		b[i] = rng.NormFloat64()
	}
	for j := range off {
		off[j] = offset * (1 + rng.Float64())
	}
	x := make([]float32, rows*cols)
	for i := 0; i < rows; i++ {
		for j := 0; j < cols; j++ {
			v := off[j] + noise*rng.NormFloat64()
			for t := 0; t < r; t++ {
				v += a[i*r+t] * b[t*cols+j]
			}
			x[i*cols+j] = float32(v)
		}
	}
	return x
}

// svdRef centres the float32 data in float64 and returns the covariance
// eigenvalues s²/rows (descending) and right singular vectors (cols×cols).
func svdRef(t *testing.T, x []float32, rows, cols int) ([]float64, *mat.Dense) {
	t.Helper()
	d := mat.NewDense(rows, cols, nil)
	for j := 0; j < cols; j++ {
		var mu float64
		for i := 0; i < rows; i++ {
			mu += float64(x[i*cols+j])
		}
		mu /= float64(rows)
		for i := 0; i < rows; i++ {
			d.Set(i, j, float64(x[i*cols+j])-mu)
		}
	}
	var svd mat.SVD
	if !svd.Factorize(d, mat.SVDThin) {
		t.Fatal("reference SVD failed")
	}
	s := svd.Values(nil)
	lam := make([]float64, cols) // zero beyond min(rows, cols)
	// V is cols×min(rows, cols).
	for i, v := range s {
		lam[i] = v * v / float64(rows)
	}
	var v mat.Dense
	svd.VTo(&v)
	return lam, &v
}

func checkOrthonormal(t *testing.T, m *Model, tol float64) {
	t.Helper()
	c, k := m.Cols(), m.K()
	comp := m.Components()
	for a := 0; a < k; a++ {
		for b := 0; b < k; b++ {
			var dot float64
			for j := 0; j < c; j++ {
				dot += comp[a*c+j] * comp[b*c+j]
			}
			want := 0.0
			if a == b {
				want = 1
			}
			if math.Abs(dot-want) > tol {
				t.Fatalf("components %d·%d = %v, want %v (±%g)", a, b, dot, want, tol)
			}
		}
	}
}

func TestKnownRank(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	const rows, cols, r = 300, 20, 3
	const noise = 1e-3

	// Exact rank r (up to float32 rounding of O(1) values, ~1e-7).
	x := lowRank(rng, rows, cols, r, 5, 0)
	for k := r; k <= cols; k++ {
		m, err := Fit(x, rows, cols, k)
		if err != nil {
			t.Fatal(err)
		}
		// float32 rounding leaves residuals of ~1e-7 → squared ~1e-14.
		if mse := m.ReconstructionMSE(x); mse > 1e-12 {
			t.Errorf("exact rank %d, k=%d: MSE %g, want ~0", r, k, mse)
		}
		checkOrthonormal(t, m, 1e-12) // eigenvectors from a symmetric solver
	}
	m, _ := Fit(x, rows, cols, r-1)
	if mse := m.ReconstructionMSE(x); mse < 1e-3 {
		t.Errorf("k=%d below rank: MSE %g suspiciously small", r-1, mse)
	}

	// Rank r plus isotropic noise σ²: the rank-r residual keeps the noise
	// in the cols−r discarded directions, MSE ≈ σ²(cols−r)/cols.
	x = lowRank(rng, rows, cols, r, 5, noise)
	m, err := Fit(x, rows, cols, r)
	if err != nil {
		t.Fatal(err)
	}
	want := noise * noise * float64(cols-r) / float64(cols)
	if mse := m.ReconstructionMSE(x); mse < 0.7*want || mse > 1.3*want { // sampling spread of 300·17 χ² terms ≈ ±3%; PCA fits some noise too
		t.Errorf("noisy rank %d: MSE %g, want ≈ %g", r, mse, want)
	}
	ev := m.ExplainedVariance()
	var sum float64
	for i, v := range ev {
		sum += v
		if i > 0 && v > ev[i-1] {
			t.Errorf("explained variance not descending: %v", ev)
		}
	}
	if sum < 0.9999 || sum > 1+1e-12 { // noise holds ~1e-6 of the variance
		t.Errorf("rank-%d explained variance sums to %v", r, sum)
	}
}

func TestAgainstSVD(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 2))
	for _, sh := range []struct {
		rows, cols int
		offset     float64
	}{{60, 12, 0}, {40, 50, 0}, {500, 30, 100}, {300, 8, 1e4}, {9, 16, 3}} {
		rows, cols := sh.rows, sh.cols
		// Full-rank correlated data: low rank plus visible noise, so the
		// eigenvalues are distinct and the subspaces well determined.
		x := lowRank(rng, rows, cols, 4, sh.offset, 0.3)
		lam, v := svdRef(t, x, rows, cols)
		var total float64
		for _, l := range lam {
			total += l
		}
		for _, k := range []int{1, 3, cols / 2, cols} {
			m, err := Fit(x, rows, cols, k)
			if err != nil {
				t.Fatal(err)
			}
			checkOrthonormal(t, m, 1e-12)
			vars, ev := m.Variances(), m.ExplainedVariance()
			var kept float64
			for i := 0; i < k; i++ {
				kept += lam[i]
				// eigenvalues of a well-conditioned float64 problem
				if math.Abs(vars[i]-lam[i]) > 1e-10*total {
					t.Errorf("%dx%d k=%d: variance %d = %v, SVD %v", rows, cols, k, i, vars[i], lam[i])
				}
				if math.Abs(ev[i]-lam[i]/total) > 1e-10 {
					t.Errorf("%dx%d: explained ratio %d = %v, want %v", rows, cols, i, ev[i], lam[i]/total)
				}
			}
			if math.Abs(m.TotalVariance()-total) > 1e-10*total {
				t.Errorf("total variance %v, SVD %v", m.TotalVariance(), total)
			}
			// MSE on the fitted data = discarded variance / cols.
			want := (total - kept) / float64(cols)
			if mse := m.ReconstructionMSE(x); math.Abs(mse-want) > 1e-9*total/float64(cols) {
				t.Errorf("%dx%d+%v k=%d: MSE %.12g, discarded/cols %.12g", rows, cols, sh.offset, k, mse, want)
			}
			// Same directions as the SVD, up to sign, where the eigenvalue
			// is separated from its neighbours (and non-zero).
			comp := m.Components()
			for i := 0; i < k && i < rows-1; i++ {
				gap := lam[i]
				if i+1 < cols {
					gap = lam[i] - lam[i+1]
				}
				if i > 0 {
					gap = min(gap, lam[i-1]-lam[i])
				}
				if gap < 1e-3*total {
					continue
				}
				var dot float64
				for j := 0; j < cols; j++ {
					dot += comp[i*cols+j] * v.At(j, i)
				}
				if math.Abs(math.Abs(dot)-1) > 1e-8 { // perturbation ~ ε·total/gap
					t.Errorf("%dx%d: component %d · SVD vector = %v", rows, cols, i, dot)
				}
			}
		}
	}
}

func TestAccumulatorChunks(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	const rows, cols, k = 700, 17, 5 // crosses the 256-row block size
	x := lowRank(rng, rows, cols, 6, 50, 0.5)
	ref, err := Fit(x, rows, cols, k)
	if err != nil {
		t.Fatal(err)
	}
	acc := NewAccumulator(cols)
	for r0, step := 0, 1; r0 < rows; step = step*3 + 1 { // chunks of 1, 4, 13, 40, 121, 364, …
		n := min(step, rows-r0)
		if err := acc.Add(x[r0*cols : (r0+n)*cols]); err != nil {
			t.Fatal(err)
		}
		if err := acc.Add(nil); err != nil { // empty chunks are no-ops
			t.Fatal(err)
		}
		r0 += n
	}
	if acc.Rows() != rows {
		t.Fatalf("Rows = %d", acc.Rows())
	}
	m, err := acc.Fit(k)
	if err != nil {
		t.Fatal(err)
	}
	// Different summation order only: agreement to ~1e-12 relative.
	mm, rm := m.Mean(), ref.Mean()
	for j := range mm {
		if math.Abs(mm[j]-rm[j]) > 1e-12*math.Abs(rm[j]) {
			t.Fatalf("mean %d: %v vs %v", j, mm[j], rm[j])
		}
	}
	mv, rv := m.Variances(), ref.Variances()
	for i := range mv {
		if math.Abs(mv[i]-rv[i]) > 1e-11*rv[0] {
			t.Fatalf("variance %d: %v vs %v", i, mv[i], rv[i])
		}
	}
	mc, rc := m.Components(), ref.Components()
	for i := range mc { // signs are normalised, so components compare directly
		if math.Abs(mc[i]-rc[i]) > 1e-8 { // eigenvector sensitivity ~ ε·λ₀/gap
			t.Fatalf("component entry %d: %v vs %v", i, mc[i], rc[i])
		}
	}
	if a, b := m.ReconstructionMSE(x), ref.ReconstructionMSE(x); math.Abs(a-b) > 1e-10*b {
		t.Fatalf("MSE %v vs %v", a, b)
	}
	// The accumulator can go on after a Fit.
	if err := acc.Add(x[:cols]); err != nil || acc.Rows() != rows+1 {
		t.Fatalf("Add after Fit: %v, rows %d", err, acc.Rows())
	}
}

func TestTransformInverse(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 4))
	const rows, cols = 600, 10
	x := lowRank(rng, rows, cols, 3, 2, 0.1)
	m, err := Fit(x, rows, cols, cols) // full rank: Inverse∘Transform = identity
	if err != nil {
		t.Fatal(err)
	}
	codes := m.Transform(x)
	if len(codes) != rows*cols {
		t.Fatalf("codes length %d", len(codes))
	}
	back := m.Inverse(codes)
	for i := range x {
		if math.Abs(float64(back[i]-x[i])) > 1e-5*(1+math.Abs(float64(x[i]))) { // float32 codes, O(10) values
			t.Fatalf("round trip %d: %v vs %v", i, back[i], x[i])
		}
	}
	// Rank-3 model: MSE from the float32 round trip matches ReconstructionMSE.
	m3, _ := Fit(x, rows, cols, 3)
	c3 := m3.Transform(x)
	if len(c3) != rows*3 {
		t.Fatalf("codes length %d", len(c3))
	}
	// Codes of the training data are centred and have the component variances.
	vars := m3.Variances()
	for c := 0; c < 3; c++ {
		var s, ss float64
		for i := 0; i < rows; i++ {
			v := float64(c3[i*3+c])
			s += v
			ss += v * v
		}
		if math.Abs(s/rows) > 1e-5 || math.Abs(ss/rows-vars[c]) > 1e-5*vars[0] { // float32 codes
			t.Errorf("code %d: mean %v, var %v, want 0, %v", c, s/rows, ss/rows, vars[c])
		}
	}
	r3 := m3.Inverse(c3)
	var sum float64
	for i := range x {
		d := float64(x[i] - r3[i])
		sum += d * d
	}
	if got, want := sum/float64(len(x)), m3.ReconstructionMSE(x); math.Abs(got-want) > 1e-3*want { // float32 rounding of codes and output
		t.Errorf("float32 round-trip MSE %v, ReconstructionMSE %v", got, want)
	}
	// A single new row works too.
	if got := m3.Transform(x[:cols]); len(got) != 3 || got[0] != c3[0] {
		t.Errorf("single-row transform %v vs %v", got, c3[:3])
	}
	if got := m3.Transform(nil); got == nil || len(got) != 0 {
		t.Errorf("Transform(empty) = %#v", got)
	}
}

func TestConstantData(t *testing.T) {
	x := make([]float32, 5*4)
	for i := range x {
		x[i] = 7
	}
	m, err := Fit(x, 5, 4, 2)
	if err != nil {
		t.Fatal(err)
	}
	if mse := m.ReconstructionMSE(x); mse != 0 {
		t.Errorf("constant data MSE %v", mse)
	}
	for _, r := range m.ExplainedVariance() {
		if r != 0 {
			t.Errorf("constant data explained variance %v", m.ExplainedVariance())
		}
	}
	checkOrthonormal(t, m, 1e-12)
	// One row is enough to fit (zero covariance).
	if _, err := Fit(x[:4], 1, 4, 4); err != nil {
		t.Errorf("single row: %v", err)
	}
}

func TestErrors(t *testing.T) {
	x := make([]float32, 12)
	for _, c := range []struct {
		name             string
		data             []float32
		rows, cols, k    int
		wantErrSubstring string
	}{
		{"k zero", x, 3, 4, 0, "k = 0"},
		{"k above cols", x, 3, 4, 5, "k = 5"},
		{"negative k", x, 3, 4, -1, "k = -1"},
		{"length", x, 4, 4, 2, "12 values"},
		{"no rows", nil, 0, 4, 2, "shape"},
		{"no cols", nil, 3, 0, 1, "shape"},
		{"NaN", []float32{1, 2, float32(math.NaN()), 4}, 2, 2, 1, "NaN"},
		{"Inf", []float32{1, 2, 3, float32(math.Inf(1))}, 2, 2, 1, "+Inf"},
	} {
		_, err := Fit(c.data, c.rows, c.cols, c.k)
		if err == nil || !strings.Contains(err.Error(), c.wantErrSubstring) {
			t.Errorf("%s: error %v, want one mentioning %q", c.name, err, c.wantErrSubstring)
		}
	}
	acc := NewAccumulator(3)
	if _, err := acc.Fit(1); err == nil {
		t.Error("Fit with no rows: no error")
	}
	if err := acc.Add(make([]float32, 4)); err == nil {
		t.Error("Add of a partial row: no error")
	}
	if err := acc.Add([]float32{1, 2, 3, 4, float32(math.NaN()), 6}); err == nil || acc.Rows() != 0 {
		t.Errorf("Add with NaN: %v, rows %d (want error, nothing added)", err, acc.Rows())
	}
	bad := NewAccumulator(0)
	if err := bad.Add(nil); err == nil {
		t.Error("NewAccumulator(0).Add: no error")
	}
	if _, err := bad.Fit(1); err == nil {
		t.Error("NewAccumulator(0).Fit: no error")
	}
	m, err := Fit([]float32{1, 2, 3, 4, 5, 7}, 3, 2, 1)
	if err != nil {
		t.Fatal(err)
	}
	if m.Transform(make([]float32, 3)) != nil || m.Inverse(make([]float32, 0)) == nil {
		t.Error("Transform of a partial row should be nil; Inverse of no codes empty")
	}
	if !math.IsNaN(m.ReconstructionMSE(make([]float32, 3))) || !math.IsNaN(m.ReconstructionMSE(nil)) {
		t.Error("ReconstructionMSE of bad input should be NaN")
	}
	m2, _ := Fit(make([]float32, 6), 2, 3, 2)
	if m2.Inverse(make([]float32, 3)) != nil {
		t.Error("Inverse of a partial code row should be nil")
	}
}

// TestWide784 checks an MNIST-width fit with few rows: the eigen-solve on
// the 784×784 covariance dominates the cost (under 1 s on a 2-core machine).
func TestWide784(t *testing.T) {
	if testing.Short() {
		t.Skip("784×784 eigendecomposition")
	}
	rng := rand.New(rand.NewPCG(5, 5))
	const rows, cols, k = 40, 784, 16
	x := make([]float32, rows*cols)
	for i := range x {
		x[i] = float32(rng.Float64())
	}
	start := time.Now()
	m, err := Fit(x, rows, cols, k)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("784-wide fit: %v", time.Since(start))
	lam, _ := svdRef(t, x, rows, cols)
	var total, kept float64
	for i, l := range lam {
		total += l
		if i < k {
			kept += l
		}
	}
	want := (total - kept) / cols
	if mse := m.ReconstructionMSE(x); math.Abs(mse-want) > 1e-9*total/cols {
		t.Errorf("MSE %v, discarded/cols %v", mse, want)
	}
	checkOrthonormal(t, m, 1e-10)
}
