package cpu_fallback

import (
	"math"

	"github.com/aegpu/aegpu/engine"
)

// The passes of the penalty ops (penalty.go), one job type each, every field
// named for what it holds in that pass. They live on the Backend (penJobs),
// so handing them to the pool allocates nothing. Element passes run over
// chunks of chunk elements, row passes over blocks of whole rows.
type penJobs struct {
	colSum      colSumJob
	rowSq       rowSqJob
	sparse      sparseJob
	contrDY     contrDYJob
	contrDW     contrDWJob
	jvp         jvpJob
	jvpBack     jvpBackJob
	actBack     actBackJob
	reparam     reparamJob
	reparamBack reparamBackJob
}

// chunkSpan is element chunk i of n elements: [lo, hi).
func chunkSpan(i, n int) (lo, hi int) { return i * chunk, min(n, (i+1)*chunk) }

// sub returns x[lo:hi:hi], or nil for a nil x (an act input act does not read).
func sub(x []float32, lo, hi int) []float32 {
	if x == nil {
		return nil
	}
	return x[lo:hi:hi]
}

// actAt returns y[t] and z[t], 0 for an absent one.
func actAt(y, z []float32, t int) (yv, zv float32) {
	if y != nil {
		yv = y[t]
	}
	if z != nil {
		zv = z[t]
	}
	return yv, zv
}

// rowBlocks cuts rows rows of length d into blocks of rowsPer rows.
type rowBlocks struct{ rows, d, rowsPer int }

// plan sets the blocks of a rows×d matrix and returns their number.
func (r *rowBlocks) plan(rows, d int) int {
	r.rows, r.d, r.rowsPer = rows, d, max(1, chunk/max(d, 1))
	return ceilDiv(rows, r.rowsPer)
}

// block is the rows [r0, r1) of block i.
func (r *rowBlocks) block(i int) (r0, r1 int) { return i * r.rowsPer, min(r.rows, (i+1)*r.rowsPer) }

// row is row i of x, a [rows×d] matrix (nil for a nil x).
func (r *rowBlocks) row(x []float32, i int) []float32 {
	if x == nil {
		return nil
	}
	return x[i*r.d : (i+1)*r.d : (i+1)*r.d]
}

// colSumJob: part[blk·d + k] = Σ over block blk's rows r of x[r, k], or,
// with squareGrad, of act′(y[r, k], z[r, k])² (ContractiveExact's Σ_i a′_ij²).
type colSumJob struct {
	rowBlocks
	x          []float32
	squareGrad bool
	act        engine.Act
	y, z       []float32 // act inputs (squareGrad)
	part       []float64
}

func (j *colSumJob) do(i int) {
	r0, r1 := j.block(i)
	d := j.d
	p := j.part[i*d : (i+1)*d : (i+1)*d]
	clear(p)
	for r := r0; r < r1; r++ {
		row := j.row(j.x, r)
		if !j.squareGrad {
			for k, v := range row {
				p[k] += float64(v)
			}
			continue
		}
		y, z := j.row(j.y, r), j.row(j.z, r)
		for k := range row {
			yv, zv := actAt(y, z, k)
			a := float64(actPrime(j.act, yv, zv))
			p[k] += a * a
		}
	}
}

// rowSqJob: norms[r] = Σ_k w[r, k]² (‖w_r‖², in float64).
type rowSqJob struct {
	rowBlocks
	w     []float32
	norms []float64
}

func (j *rowSqJob) do(i int) {
	r0, r1 := j.block(i)
	for r := r0; r < r1; r++ {
		s := 0.0
		for _, v := range j.w[r*j.d : (r+1)*j.d] {
			s += float64(v) * float64(v)
		}
		j.norms[r] = s
	}
}

// sparseJob: dh[r, k] += klGrad[k] (+ l1B·sign(h[r, k]) when l1B ≠ 0);
// part[chunk] = Σ |h| over the chunk.
type sparseJob struct {
	n, d   int
	dh, h  []float32
	klGrad []float64
	l1B    float64
	part   []float64
}

func (j *sparseJob) do(i int) {
	lo, hi := chunkSpan(i, j.n)
	x, h := j.dh[lo:hi:hi], j.h[lo:hi:hi]
	k := lo % j.d
	sa := 0.0
	for t, hv := range h {
		v := float64(x[t]) + j.klGrad[k]
		if j.l1B != 0 {
			hd := float64(hv)
			v += j.l1B * sign(hd)
			sa += math.Abs(hd)
		}
		x[t] = float32(v)
		if k++; k == j.d {
			k = 0
		}
	}
	j.part[i] = sa
}

// contrDYJob: dy[r, k] ← dy·a′ + c·norms[k]·a′·a″ (a′, a″ of y or z).
type contrDYJob struct {
	n, d  int
	act   engine.Act
	dy    []float32
	y, z  []float32
	norms []float64
	c     float64
}

func (j *contrDYJob) do(i int) {
	lo, hi := chunkSpan(i, j.n)
	x, y, z := j.dy[lo:hi:hi], sub(j.y, lo, hi), sub(j.z, lo, hi)
	second := hasSecond(j.act)
	k := lo % j.d
	for t := range x {
		yv, zv := actAt(y, z, t)
		a1 := float64(actPrime(j.act, yv, zv))
		v := float64(x[t]) * a1
		if second {
			v += j.c * j.norms[k] * a1 * float64(actSecond(j.act, yv, zv))
		}
		x[t] = float32(v)
		if k++; k == j.d {
			k = 0
		}
	}
}

// contrDWJob: dw[r, k] = c·gradSq[r]·w[r, k] for the rows r of w, gradSq[r]
// = Σ_i a′_ir² (colSums).
type contrDWJob struct {
	rowBlocks
	dw, w  []float32
	gradSq []float64
	c      float64
}

func (j *contrDWJob) do(i int) {
	r0, r1 := j.block(i)
	for r := r0; r < r1; r++ {
		c := j.c * j.gradSq[r]
		w, out := j.row(j.w, r), j.row(j.dw, r)
		for k, v := range w {
			out[k] = float32(c * float64(v))
		}
	}
}

// jvpJob: u = s ⊙ act′ (inPlace: u is s).
type jvpJob struct {
	n       int
	act     engine.Act
	u, s    []float32
	y, z    []float32
	inPlace bool
}

func (j *jvpJob) do(i int) {
	lo, hi := chunkSpan(i, j.n)
	u := j.u[lo:hi:hi]
	if !j.inPlace {
		copy(u, j.s[lo:hi])
	}
	actGrad(u, sub(j.y, lo, hi), sub(j.z, lo, hi), j.act)
}

// jvpBackJob: dzExtra += du ⊙ s ⊙ act″, then ds = du ⊙ act′ (inPlace: ds
// is du).
type jvpBackJob struct {
	n                  int
	act                engine.Act
	ds, dzExtra, du, s []float32
	y, z               []float32
	inPlace            bool
}

func (j *jvpBackJob) do(i int) {
	lo, hi := chunkSpan(i, j.n)
	du, y, z := j.du[lo:hi:hi], sub(j.y, lo, hi), sub(j.z, lo, hi)
	if hasSecond(j.act) {
		e, s := j.dzExtra[lo:hi:hi], j.s[lo:hi:hi]
		for t := range e {
			yv, zv := actAt(y, z, t)
			e[t] += du[t] * s[t] * actSecond(j.act, yv, zv)
		}
	}
	ds := j.ds[lo:hi:hi]
	if !j.inPlace {
		copy(ds, du)
	}
	actGrad(ds, y, z, j.act)
}

// actBackJob: dy ← dy ⊙ act′ (+ extra, when present).
type actBackJob struct {
	n         int
	act       engine.Act
	dy, extra []float32
	y, z      []float32
}

func (j *actBackJob) do(i int) {
	lo, hi := chunkSpan(i, j.n)
	dy := j.dy[lo:hi:hi]
	actGrad(dy, sub(j.y, lo, hi), sub(j.z, lo, hi), j.act)
	if j.extra != nil {
		e := j.extra[lo:hi:hi]
		for t := range dy {
			dy[t] += e[t]
		}
	}
}

// reparamJob: z = mu + exp(½·clamp(logvar))·eps, in float64.
type reparamJob struct {
	n                  int
	z, mu, logvar, eps []float32
}

func (j *reparamJob) do(i int) {
	lo, hi := chunkSpan(i, j.n)
	z := j.z[lo:hi:hi]
	mu, lv, eps := j.mu[lo:hi:hi], j.logvar[lo:hi:hi], j.eps[lo:hi:hi]
	for t := range z {
		l := clampLogVar(float64(lv[t]))
		z[t] = float32(float64(mu[t]) + math.Exp(0.5*l)*float64(eps[t]))
	}
}

// reparamBackJob: dmu and dlogvar from dz (and the KL's gradient, scaled by
// betaScale); part[chunk] = Σ KL over the chunk.
type reparamBackJob struct {
	n                int
	dmu, dlogvar, dz []float32
	mu, logvar, eps  []float32
	betaScale        float64
	part             []float64
}

func (j *reparamBackJob) do(i int) {
	lo, hi := chunkSpan(i, j.n)
	x, dl, dz := j.dmu[lo:hi:hi], j.dlogvar[lo:hi:hi], j.dz[lo:hi:hi]
	mu, lv, eps := j.mu[lo:hi:hi], j.logvar[lo:hi:hi], j.eps[lo:hi:hi]
	kl := 0.0
	for t := range x {
		m, raw, g := float64(mu[t]), float64(lv[t]), float64(dz[t])
		l := clampLogVar(raw)
		ex := math.Exp(l)
		kl += -0.5 * (1 + l - m*m - ex)
		x[t] = float32(g + j.betaScale*m)
		if raw >= engine.LogVarMin && raw <= engine.LogVarMax {
			dl[t] = float32(0.5*g*float64(eps[t])*math.Exp(0.5*l) + j.betaScale*0.5*(ex-1))
		} else {
			dl[t] = 0
		}
	}
	j.part[i] = kl
}

// clampLogVar clamps a log-variance to [LogVarMin, LogVarMax] (NaN stays NaN).
func clampLogVar(v float64) float64 { return min(max(v, engine.LogVarMin), engine.LogVarMax) }
