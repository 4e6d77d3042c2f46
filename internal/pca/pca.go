// Package pca fits a principal component analysis baseline to compare an
// autoencoder against (the --compare-pca report): a linear "autoencoder" whose
// encoder projects centred rows onto the top-k principal directions and whose
// decoder maps the k codes back. Its ReconstructionMSE is the same
// per-element mean squared error an MSE-trained autoencoder reports as loss,
// so the two numbers compare directly; on the data it was fitted on, it is the
// smallest any rank-k linear reconstruction can reach.
//
// The principal directions are the eigenvectors of the column covariance
// XᵀX/rows of the centred data (population normalisation), found with
// gonum's mat.EigenSym on the cols×cols matrix. The covariance is
// accumulated in float64 from chunks of rows (Accumulator), so data can be
// streamed without being held in memory; each chunk is centred on its own
// mean and merged with the pairwise update of Chan, Golub and LeVeque, which
// stays accurate when the column means are large compared with the spread.
//
// Data is row-major float32 throughout, as in the rest of aegpu; all
// arithmetic is float64. Bad input is reported as an error (or, for the
// methods whose signature has none, as a nil slice or NaN); nothing panics.
package pca

import (
	"errors"
	"fmt"
	"math"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/mat"
)

// blockRows bounds the rows converted to float64 at once, so that memory
// stays O(blockRows·cols + cols²) however large a chunk is.
const blockRows = 256

// Accumulator gathers the column means and the centred scatter matrix
// Σ (x−μ)(x−μ)ᵀ of rows fed to it in chunks of any size. The zero value is
// not usable; call NewAccumulator.
type Accumulator struct {
	cols int
	n    int
	mean []float64 // running column means
	m2   []float64 // cols×cols centred scatter, upper triangle valid
	err  error     // sticky construction error

	buf   []float64 // blockRows×cols scratch
	bmean []float64 // block means
}

// NewAccumulator returns an empty accumulator for rows of cols values. A
// cols < 1 is reported by Add and Fit.
func NewAccumulator(cols int) *Accumulator {
	if cols < 1 {
		return &Accumulator{err: fmt.Errorf("pca: cols = %d, need at least 1", cols)}
	}
	return &Accumulator{
		cols:  cols,
		mean:  make([]float64, cols),
		m2:    make([]float64, cols*cols),
		bmean: make([]float64, cols),
	}
}

// Cols returns the row width the accumulator was created for.
func (a *Accumulator) Cols() int { return a.cols }

// Rows returns the number of rows added so far.
func (a *Accumulator) Rows() int { return a.n }

// Add accumulates rows, a row-major chunk of len(rows)/Cols() rows. It
// returns an error, and adds nothing, when len(rows) is not a multiple of
// Cols() or a value is NaN or infinite. An empty chunk is a no-op.
func (a *Accumulator) Add(rows []float32) error {
	if a.err != nil {
		return a.err
	}
	if len(rows)%a.cols != 0 {
		return fmt.Errorf("pca: chunk of %d values is not a whole number of %d-value rows", len(rows), a.cols)
	}
	for i, v := range rows {
		if f := float64(v); math.IsNaN(f) || math.IsInf(f, 0) {
			return fmt.Errorf("pca: value %d (row %d, column %d) is %v", i, a.n+i/a.cols, i%a.cols, v)
		}
	}
	for off := 0; off < len(rows); off += blockRows * a.cols {
		end := min(len(rows), off+blockRows*a.cols)
		a.addBlock(rows[off:end])
	}
	return nil
}

// addBlock merges one block of at most blockRows whole, finite rows.
func (a *Accumulator) addBlock(rows []float32) {
	c := a.cols
	nb := len(rows) / c
	if a.buf == nil {
		a.buf = make([]float64, blockRows*c)
	}
	x := a.buf[:nb*c]
	for j := range a.bmean {
		a.bmean[j] = 0
	}
	for i := 0; i < nb; i++ {
		r := rows[i*c : (i+1)*c]
		for j, v := range r {
			a.bmean[j] += float64(v)
		}
	}
	for j := range a.bmean {
		a.bmean[j] /= float64(nb)
	}
	for i := 0; i < nb; i++ {
		r, xr := rows[i*c:(i+1)*c], x[i*c:(i+1)*c]
		for j, v := range r {
			xr[j] = float64(v) - a.bmean[j]
		}
	}
	m2 := blas64.Symmetric{N: c, Stride: c, Data: a.m2, Uplo: blas.Upper}
	// m2 += XbᵀXb (the block's own centred scatter).
	blas64.Syrk(blas.Trans, 1, blas64.General{Rows: nb, Cols: c, Stride: c, Data: x}, 1, m2)
	// Chan et al.: m2 += δδᵀ·n·nb/(n+nb), mean += δ·nb/(n+nb), δ = μb − μ.
	n, tot := float64(a.n), float64(a.n+nb)
	delta := a.bmean // reused in place: δ replaces μb
	for j := range delta {
		delta[j] -= a.mean[j]
	}
	if a.n > 0 {
		blas64.Syr(n*float64(nb)/tot, blas64.Vector{N: c, Inc: 1, Data: delta}, m2)
	}
	for j := range a.mean {
		a.mean[j] += delta[j] * float64(nb) / tot
	}
	a.n += nb
}

// Fit returns the model of the top-k principal directions of the rows added
// so far; k must be in 1..Cols(), and at least one row must have been added.
// The accumulator is not changed and can go on accumulating.
func (a *Accumulator) Fit(k int) (*Model, error) {
	if a.err != nil {
		return nil, a.err
	}
	if a.n == 0 {
		return nil, errors.New("pca: no rows to fit")
	}
	if k < 1 || k > a.cols {
		return nil, fmt.Errorf("pca: k = %d, need 1 ≤ k ≤ cols = %d", k, a.cols)
	}
	c := a.cols
	cov := mat.NewSymDense(c, nil)
	var total float64
	inv := 1 / float64(a.n)
	for i := 0; i < c; i++ {
		for j := i; j < c; j++ {
			cov.SetSym(i, j, a.m2[i*c+j]*inv)
		}
		total += a.m2[i*c+i] * inv
	}
	var eig mat.EigenSym
	if !eig.Factorize(cov, true) {
		return nil, errors.New("pca: eigendecomposition of the covariance did not converge")
	}
	vals := eig.Values(nil) // ascending
	var vecs mat.Dense
	eig.VectorsTo(&vecs)

	m := &Model{
		cols:     c,
		k:        k,
		rows:     a.n,
		mean:     append([]float64(nil), a.mean...),
		comp:     make([]float64, k*c),
		variance: make([]float64, k),
		total:    total,
	}
	for i := 0; i < k; i++ {
		src := c - 1 - i // i-th largest eigenvalue
		m.variance[i] = max(vals[src], 0)
		row := m.comp[i*c : (i+1)*c]
		// Deterministic sign: the entry of largest magnitude is positive.
		big := 0.0
		for j := range row {
			row[j] = vecs.At(j, src)
			if math.Abs(row[j]) > math.Abs(big) {
				big = row[j]
			}
		}
		if big < 0 {
			for j := range row {
				row[j] = -row[j]
			}
		}
	}
	return m, nil
}

// Fit fits a k-component PCA to data, rows×cols row-major. It needs rows ≥ 1,
// cols ≥ 1, len(data) = rows·cols, finite values and 1 ≤ k ≤ cols. It is
// NewAccumulator(cols), Add(data), Fit(k).
func Fit(data []float32, rows, cols, k int) (*Model, error) {
	if rows < 1 || cols < 1 {
		return nil, fmt.Errorf("pca: shape %d×%d, need at least one row and one column", rows, cols)
	}
	if len(data) != rows*cols {
		return nil, fmt.Errorf("pca: %d values for a %d×%d matrix", len(data), rows, cols)
	}
	if k < 1 || k > cols {
		return nil, fmt.Errorf("pca: k = %d, need 1 ≤ k ≤ cols = %d", k, cols)
	}
	acc := NewAccumulator(cols)
	if err := acc.Add(data); err != nil {
		return nil, err
	}
	return acc.Fit(k)
}

// Model is a fitted PCA: the column means and k orthonormal principal
// directions, largest variance first. The sign of each direction is fixed so
// that its entry of largest magnitude is positive.
type Model struct {
	cols, k, rows int
	mean          []float64 // cols
	comp          []float64 // k×cols row-major, orthonormal rows
	variance      []float64 // k eigenvalues, descending
	total         float64   // trace of the covariance
}

// Cols returns the input width.
func (m *Model) Cols() int { return m.cols }

// K returns the number of components (the code width).
func (m *Model) K() int { return m.k }

// Rows returns the number of rows the model was fitted on.
func (m *Model) Rows() int { return m.rows }

// Mean returns a copy of the column means.
func (m *Model) Mean() []float64 { return append([]float64(nil), m.mean...) }

// Components returns a copy of the principal directions, K()×Cols()
// row-major, one unit vector per row, largest variance first.
func (m *Model) Components() []float64 { return append([]float64(nil), m.comp...) }

// Variances returns the variance captured by each component (the top-k
// eigenvalues of the population covariance), largest first.
func (m *Model) Variances() []float64 { return append([]float64(nil), m.variance...) }

// TotalVariance returns the trace of the covariance: the sum over columns of
// the population variance. On the fitted data, ReconstructionMSE equals
// (TotalVariance − Σ Variances)/Cols up to rounding.
func (m *Model) TotalVariance() float64 { return m.total }

// ExplainedVariance returns, for each component, the fraction of the total
// variance it captures (Variances divided by TotalVariance). For constant
// data (no variance) every ratio is 0.
func (m *Model) ExplainedVariance() []float64 {
	r := make([]float64, m.k)
	if m.total <= 0 {
		return r
	}
	for i, v := range m.variance {
		r[i] = v / m.total
	}
	return r
}

// blockCodes centres the rows of x (whole rows, at most blockRows) into xc
// and writes their codes (nb×k) into codes.
func (m *Model) blockCodes(x []float32, xc, codes []float64) {
	c, nb := m.cols, len(x)/m.cols
	for i := 0; i < nb; i++ {
		for j := 0; j < c; j++ {
			xc[i*c+j] = float64(x[i*c+j]) - m.mean[j]
		}
	}
	blas64.Gemm(blas.NoTrans, blas.Trans, 1,
		blas64.General{Rows: nb, Cols: c, Stride: c, Data: xc[:nb*c]},
		blas64.General{Rows: m.k, Cols: c, Stride: c, Data: m.comp},
		0, blas64.General{Rows: nb, Cols: m.k, Stride: m.k, Data: codes[:nb*m.k]})
}

// blockRecon writes codes (nb×k) times the components into out (nb×cols),
// without adding the mean.
func (m *Model) blockRecon(codes []float64, out []float64) {
	nb := len(codes) / m.k
	blas64.Gemm(blas.NoTrans, blas.NoTrans, 1,
		blas64.General{Rows: nb, Cols: m.k, Stride: m.k, Data: codes},
		blas64.General{Rows: m.k, Cols: m.cols, Stride: m.cols, Data: m.comp},
		0, blas64.General{Rows: nb, Cols: m.cols, Stride: m.cols, Data: out[:nb*m.cols]})
}

// Transform returns the codes of x (rows×Cols() row-major) as rows×K()
// row-major values: the coordinates of each centred row on the principal
// directions. It returns nil when len(x) is not a multiple of Cols().
func (m *Model) Transform(x []float32) []float32 {
	if len(x)%m.cols != 0 {
		return nil
	}
	rows := len(x) / m.cols
	out := make([]float32, rows*m.k)
	xc := make([]float64, min(rows, blockRows)*m.cols)
	codes := make([]float64, min(rows, blockRows)*m.k)
	for r0 := 0; r0 < rows; r0 += blockRows {
		nb := min(blockRows, rows-r0)
		m.blockCodes(x[r0*m.cols:(r0+nb)*m.cols], xc, codes)
		for i, v := range codes[:nb*m.k] {
			out[r0*m.k+i] = float32(v)
		}
	}
	return out
}

// Inverse maps codes, rows×K() row-major, back to input space: rows×Cols()
// values, mean + codes·components. It returns nil when len(codes) is not a
// multiple of K().
func (m *Model) Inverse(codes []float32) []float32 {
	if len(codes)%m.k != 0 {
		return nil
	}
	rows := len(codes) / m.k
	out := make([]float32, rows*m.cols)
	cb := make([]float64, min(rows, blockRows)*m.k)
	rb := make([]float64, min(rows, blockRows)*m.cols)
	for r0 := 0; r0 < rows; r0 += blockRows {
		nb := min(blockRows, rows-r0)
		for i, v := range codes[r0*m.k : (r0+nb)*m.k] {
			cb[i] = float64(v)
		}
		m.blockRecon(cb[:nb*m.k], rb)
		for i := 0; i < nb; i++ {
			for j := 0; j < m.cols; j++ {
				out[(r0+i)*m.cols+j] = float32(rb[i*m.cols+j] + m.mean[j])
			}
		}
	}
	return out
}

// ReconstructionMSE returns the mean over all rows·Cols() elements of
// (x − Inverse(Transform(x)))², the per-element mean an MSE autoencoder
// reports as its loss. The round trip is computed in float64 (codes are not
// rounded to float32 in between). It returns NaN when x is empty or len(x) is
// not a multiple of Cols().
func (m *Model) ReconstructionMSE(x []float32) float64 {
	if len(x) == 0 || len(x)%m.cols != 0 {
		return math.NaN()
	}
	rows := len(x) / m.cols
	xc := make([]float64, min(rows, blockRows)*m.cols)
	codes := make([]float64, min(rows, blockRows)*m.k)
	rec := make([]float64, min(rows, blockRows)*m.cols)
	var sum float64
	for r0 := 0; r0 < rows; r0 += blockRows {
		nb := min(blockRows, rows-r0)
		m.blockCodes(x[r0*m.cols:(r0+nb)*m.cols], xc, codes)
		m.blockRecon(codes[:nb*m.k], rec)
		var s float64
		for i, v := range xc[:nb*m.cols] {
			d := v - rec[i]
			s += d * d
		}
		sum += s
	}
	return sum / float64(len(x))
}
