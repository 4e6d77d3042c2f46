package cpu_fallback

import (
	"math"

	"github.com/aegpu/aegpu/engine"
)

// lnJob is LayerNorm and LayerNormBackward over row blocks (the forward
// pass and dx) or column blocks (dgamma and dbeta), each task's rows or
// columns summed in order, so the results do not depend on the threads.
type lnJob struct {
	op                  int // lnForward, lnDX, lnParams
	x, y, g, bt, mu, rs []float32
	dy, dx, dg, db      []float32
	rows, d, per        int
	eps                 float64
}

const (
	lnForward = iota
	lnDX
	lnParams
)

func (j *lnJob) do(i int) {
	if j.op == lnParams {
		for c := i * j.per; c < min(j.d, (i+1)*j.per); c++ {
			var sg, sb float64
			for r := range j.rows {
				dy := float64(j.dy[r*j.d+c])
				xh := (float64(j.x[r*j.d+c]) - float64(j.mu[r])) * float64(j.rs[r])
				sg += dy * float64(float32(xh))
				sb += dy
			}
			j.dg[c], j.db[c] = float32(sg), float32(sb)
		}
		return
	}
	for r := i * j.per; r < min(j.rows, (i+1)*j.per); r++ {
		x := j.x[r*j.d : (r+1)*j.d]
		if j.op == lnForward {
			j.forwardRow(r, x)
		} else {
			j.dxRow(r, x)
		}
	}
}

// forwardRow normalises row r (x): two passes in float64.
func (j *lnJob) forwardRow(r int, x []float32) {
	var s float64
	for _, v := range x {
		s += float64(v)
	}
	mu := s / float64(j.d)
	var v2 float64
	for _, v := range x {
		d := float64(v) - mu
		v2 += d * d
	}
	rs := 1 / math.Sqrt(v2/float64(j.d)+j.eps)
	y := j.y[r*j.d : (r+1)*j.d]
	for c, v := range x {
		xh := float32((float64(v) - mu) * rs)
		y[c] = float32(xh*j.g[c]) + j.bt[c]
	}
	j.mu[r], j.rs[r] = float32(mu), float32(rs)
}

// dxRow is row r's input gradient from the saved μ and r.
func (j *lnJob) dxRow(r int, x []float32) {
	mu, rs := float64(j.mu[r]), float64(j.rs[r])
	dy := j.dy[r*j.d : (r+1)*j.d]
	var s1, s2 float64
	for c, v := range x {
		g := float64(dy[c]) * float64(j.g[c])
		s1 += g
		s2 += g * (float64(v) - mu) * rs
	}
	m1, m2 := s1/float64(j.d), s2/float64(j.d)
	dx := j.dx[r*j.d : (r+1)*j.d]
	for c, v := range x {
		g := float64(dy[c]) * float64(j.g[c])
		dx[c] = float32(rs * (g - m1 - (float64(v)-mu)*rs*m2))
	}
}

// LayerNorm normalises each row of x: see engine.Backend.
func (b *Backend) LayerNorm(y, mean, rstd, x, gamma, beta engine.Matrix, eps float32) error {
	if err := engine.CheckLayerNorm(y, mean, rstd, x, gamma, beta, eps); err != nil {
		return err
	}
	s, err := b.slices(y, mean, rstd, x, gamma, beta)
	if err != nil {
		return err
	}
	j := &b.layerNorm
	*j = lnJob{op: lnForward, y: s[0], mu: s[1], rs: s[2], x: s[3], g: s[4], bt: s[5],
		rows: x.Rows, d: x.Cols, per: max(1, chunk/x.Cols), eps: float64(eps)}
	b.pool.run(ceilDiv(j.rows, j.per), j)
	return nil
}

// LayerNormBackward is LayerNorm's backward pass: see engine.Backend.
func (b *Backend) LayerNormBackward(dx, dgamma, dbeta, dy, x, mean, rstd, gamma engine.Matrix) error {
	if err := engine.CheckLayerNormBackward(dx, dgamma, dbeta, dy, x, mean, rstd, gamma); err != nil {
		return err
	}
	s, err := b.slices(dx, dgamma, dbeta, dy, x, mean, rstd, gamma)
	if err != nil {
		return err
	}
	j := &b.layerNorm
	*j = lnJob{op: lnParams, dx: s[0], dg: s[1], db: s[2], dy: s[3], x: s[4], mu: s[5], rs: s[6], g: s[7],
		rows: x.Rows, d: x.Cols, per: max(1, chunk/max(x.Rows, 1))}
	b.pool.run(ceilDiv(j.d, j.per), j)
	if dx.Empty() {
		return nil
	}
	j.op, j.per = lnDX, max(1, chunk/x.Cols)
	b.pool.run(ceilDiv(j.rows, j.per), j)
	return nil
}
