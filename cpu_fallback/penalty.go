package cpu_fallback

import (
	"math"

	"github.com/aegpu/aegpu/engine"
)

// The variant regularizers' ops (sparse, contractive, variational); see
// engine.Backend for their definitions. Per-column sums (ρ̂, Σ_i a′², ‖w_j‖²)
// are float64 over fixed row blocks combined in block order, scalar
// penalties float64 over fixed element chunks combined in chunk order, so
// every result is independent of the thread count. Elementwise values that
// involve a penalty term are formed in float64 from the float32 inputs and
// rounded once; act′ and act″ are the float32 helpers of mathf.go (actGrad,
// actPrime, actSecond), as DenseBackward uses.

type penOp int

const (
	penColSum      penOp = iota // part[blk·d + k] = Σ over the block's rows of x (or of act′², with act)
	penRowSq                    // col2[j] = Σ_k x[j, k]² for the block's rows j
	penSparse                   // x (dh) += col1[k] (+ l1B·sign(y)); part[chunk] = Σ |y| (y = h)
	penContrDY                  // x (dy) ← x·a′ + c·col2[k]·a′·a″
	penContrDW                  // x (dw) = c·col1[j]·w[j, k] for the block's rows j (w in y)
	penJVP                      // x (u) = y (s) ⊙ act′
	penJVPBack                  // e (dzExtra) += x (du) ⊙ s ⊙ act″, then w (ds) = du ⊙ act′
	penActBack                  // x (dy) ← x ⊙ act′ + e (extra)
	penReparam                  // x (z) = mu + exp(½·lv)·eps
	penReparamBack              // x (dmu), e (dlogvar); part[chunk] = Σ KL
)

// penJob is one pass of a penalty op, over element chunks or row blocks.
// The slices are named for the op's main operands; see penOp for each
// op's use of them.
type penJob struct {
	op                 penOp
	act                engine.Act
	n, d               int // elements; columns (row length)
	rows, rowsPer      int // row blocks (penColSum, penRowSq, penContrDW)
	x, w, e, s         []float32
	y, z               []float32 // act inputs (or, by op, other inputs)
	mu, lv, eps        []float32
	col1, col2         []float64 // per-column (per-row for w) values
	part               []float64
	c, l1B, bs         float64
	inPlace, withExtra bool
	sq                 bool // penColSum: sum act′² instead of x
}

func (j *penJob) do(i int) {
	switch j.op {
	case penColSum, penRowSq, penContrDW:
		j.doRows(i)
		return
	}
	lo, hi := i*chunk, min(j.n, (i+1)*chunk)
	sub := func(x []float32) []float32 {
		if x == nil {
			return nil
		}
		return x[lo:hi:hi]
	}
	x := j.x[lo:hi:hi]
	switch j.op {
	case penSparse:
		h := j.y[lo:hi:hi]
		k := lo % j.d
		sa := 0.0
		for t, hv := range h {
			v := float64(x[t]) + j.col1[k]
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
	case penContrDY:
		y, z := sub(j.y), sub(j.z)
		second := hasSecond(j.act)
		k := lo % j.d
		for t := range x {
			var yv, zv float32
			if y != nil {
				yv = y[t]
			}
			if z != nil {
				zv = z[t]
			}
			a1 := float64(actPrime(j.act, yv, zv))
			v := float64(x[t]) * a1
			if second {
				v += j.c * j.col2[k] * a1 * float64(actSecond(j.act, yv, zv))
			}
			x[t] = float32(v)
			if k++; k == j.d {
				k = 0
			}
		}
	case penJVP: // x = u, s = s
		if !j.inPlace {
			copy(x, j.s[lo:hi])
		}
		actGrad(x, sub(j.y), sub(j.z), j.act)
	case penJVPBack: // x = du, w = ds, e = dzExtra
		y, z := sub(j.y), sub(j.z)
		if hasSecond(j.act) {
			e, s := j.e[lo:hi:hi], j.s[lo:hi:hi]
			for t := range e {
				var yv, zv float32
				if y != nil {
					yv = y[t]
				}
				if z != nil {
					zv = z[t]
				}
				e[t] += x[t] * s[t] * actSecond(j.act, yv, zv)
			}
		}
		ds := j.w[lo:hi:hi]
		if !j.inPlace {
			copy(ds, x)
		}
		actGrad(ds, y, z, j.act)
	case penActBack:
		actGrad(x, sub(j.y), sub(j.z), j.act)
		if j.withExtra {
			e := j.e[lo:hi:hi]
			for t := range x {
				x[t] += e[t]
			}
		}
	case penReparam:
		mu, lv, eps := j.mu[lo:hi:hi], j.lv[lo:hi:hi], j.eps[lo:hi:hi]
		for t := range x {
			l := clampLogVar(float64(lv[t]))
			x[t] = float32(float64(mu[t]) + math.Exp(0.5*l)*float64(eps[t]))
		}
	case penReparamBack: // x = dmu, e = dlogvar, s = dz
		dl, dz := j.e[lo:hi:hi], j.s[lo:hi:hi]
		mu, lv, eps := j.mu[lo:hi:hi], j.lv[lo:hi:hi], j.eps[lo:hi:hi]
		kl := 0.0
		for t := range x {
			m, raw, g := float64(mu[t]), float64(lv[t]), float64(dz[t])
			l := clampLogVar(raw)
			ex := math.Exp(l)
			kl += -0.5 * (1 + l - m*m - ex)
			x[t] = float32(g + j.bs*m)
			if raw >= engine.LogVarMin && raw <= engine.LogVarMax {
				dl[t] = float32(0.5*g*float64(eps[t])*math.Exp(0.5*l) + j.bs*0.5*(ex-1))
			} else {
				dl[t] = 0
			}
		}
		j.part[i] = kl
	}
}

// clampLogVar clamps a log-variance to [LogVarMin, LogVarMax] (NaN stays NaN).
func clampLogVar(v float64) float64 { return min(max(v, engine.LogVarMin), engine.LogVarMax) }

// doRows runs row block i of the row-blocked ops.
func (j *penJob) doRows(i int) {
	r0, r1 := i*j.rowsPer, min(j.rows, (i+1)*j.rowsPer)
	d := j.d
	switch j.op {
	case penColSum:
		p := j.part[i*d : (i+1)*d : (i+1)*d]
		clear(p)
		for r := r0; r < r1; r++ {
			row := j.x[r*d : (r+1)*d : (r+1)*d]
			if !j.sq {
				for k, v := range row {
					p[k] += float64(v)
				}
				continue
			}
			// act′² (ContractiveExact's Σ_i a′_ij²), from y or z.
			var y, z []float32
			if j.y != nil {
				y = j.y[r*d : (r+1)*d : (r+1)*d]
			}
			if j.z != nil {
				z = j.z[r*d : (r+1)*d : (r+1)*d]
			}
			for k := range row {
				var yv, zv float32
				if y != nil {
					yv = y[k]
				}
				if z != nil {
					zv = z[k]
				}
				a := float64(actPrime(j.act, yv, zv))
				p[k] += a * a
			}
		}
	case penRowSq:
		for r := r0; r < r1; r++ {
			s := 0.0
			for _, v := range j.x[r*d : (r+1)*d] {
				s += float64(v) * float64(v)
			}
			j.col2[r] = s
		}
	case penContrDW:
		for r := r0; r < r1; r++ {
			c := j.c * j.col1[r]
			w := j.y[r*d : (r+1)*d : (r+1)*d]
			out := j.x[r*d : (r+1)*d : (r+1)*d]
			for k, v := range w {
				out[k] = float32(c * float64(v))
			}
		}
	}
}

// runChunks runs j over element chunks of j.n, with a partial sum per chunk
// when part is set.
func (b *Backend) runChunks(j *penJob, part bool) {
	tasks := ceilDiv(j.n, chunk)
	if part {
		b.scratch.part = grow64(b.scratch.part, tasks)
		j.part = b.scratch.part
	}
	b.pool.run(tasks, j)
}

// runRows runs j over blocks of rows of length j.d.
func (b *Backend) runRows(j *penJob) int {
	j.rowsPer = max(1, chunk/max(j.d, 1))
	blocks := ceilDiv(j.rows, j.rowsPer)
	b.pool.run(blocks, j)
	return blocks
}

// colSums sets col1[k] = Σ_r f(x[r, k]) in float64 (f: identity, or act′²
// from y/z when squareGrad), deterministic: row blocks summed in block order.
func (b *Backend) colSums(x, y, z []float32, rows, d int, act engine.Act, squareGrad bool) []float64 {
	j := &b.pen
	*j = penJob{op: penColSum, x: x, rows: rows, d: d}
	if squareGrad {
		j.act, j.y, j.z, j.sq = act, y, z, true
	}
	j.rowsPer = max(1, chunk/max(d, 1))
	blocks := ceilDiv(rows, j.rowsPer)
	b.scratch.part = grow64(b.scratch.part, blocks*d)
	j.part = b.scratch.part
	b.pool.run(blocks, j)
	b.scratch.col1 = grow64(b.scratch.col1, d)
	cols := b.scratch.col1
	for k := range cols {
		s := 0.0
		for blk := range blocks {
			s += j.part[blk*d+k]
		}
		cols[k] = s
	}
	return cols
}

// Sparsity adds the L1 and KL sparsity penalties of h to acc and their
// gradient to dh, and writes ρ̂ into rho (see engine.Backend).
func (b *Backend) Sparsity(acc, dh, rho, h engine.Matrix, l1, beta, target, weight float32) error {
	if err := engine.CheckSparsity(acc, dh, rho, h, l1, beta, target); err != nil {
		return err
	}
	s, err := b.slices(acc, dh, rho, h)
	if err != nil {
		return err
	}
	as, dhs, rhos, hs := s[0], s[1], s[2], s[3]
	B, D := h.Rows, h.Cols
	invB := 1 / float64(B)
	cols := b.colSums(hs, nil, nil, B, D, engine.Linear, false)
	// cols becomes the KL gradient's per-column term.
	p2 := 0.0
	rt := float64(target)
	for k, sum := range cols {
		m := sum * invB
		rhos[k] = float32(m)
		cols[k] = 0
		if beta > 0 {
			r := min(max(m, 1e-6), 1-1e-6)
			p2 += rt*math.Log(rt/r) + (1-rt)*math.Log((1-rt)/(1-r))
			cols[k] = float64(beta) * invB * (-rt/r + (1-rt)/(1-r))
		}
	}
	p1 := 0.0
	if l1 != 0 || beta > 0 {
		j := &b.pen
		*j = penJob{op: penSparse, n: B * D, d: D, x: dhs, y: hs, col1: cols, l1B: float64(l1) * invB}
		b.runChunks(j, true)
		p1 = float64(l1) * invB * sumParts(j.part)
	}
	as[0] = float32(float64(as[0]) + float64(weight)*(p1+float64(beta)*p2))
	return nil
}

// ContractiveExact adds the closed-form contractive penalty of a one-layer
// encoder to acc, turns dy into ∂(L+P)/∂z and writes the penalty's direct
// gradient into dw (zeros into db); see engine.Backend.
func (b *Backend) ContractiveExact(acc, dy, dw, db, y, z, w engine.Matrix, act engine.Act, lambda, weight float32) error {
	if err := engine.CheckContractiveExact(acc, dy, dw, db, y, z, w, act, lambda); err != nil {
		return err
	}
	s, err := b.slices(acc, dy, dw, db, y, z, w)
	if err != nil {
		return err
	}
	as, dys, dws, dbs, ys, zs, ws := s[0], s[1], s[2], s[3], s[4], s[5], s[6]
	if act.NeedsPre() {
		ys = nil
	} else {
		zs = nil
		if act == engine.Linear {
			ys = nil
		}
	}
	B, D, in := dy.Rows, dy.Cols, w.Cols
	// ‖w_j‖² into col2 (rows of w in parallel blocks).
	b.scratch.col2 = grow64(b.scratch.col2, D)
	norms := b.scratch.col2
	j := &b.pen
	*j = penJob{op: penRowSq, x: ws, rows: D, d: in, col2: norms}
	b.runRows(j)
	// Σ_i a′_ij² into col1.
	sq := b.colSums(dys, ys, zs, B, D, act, true)
	lb := float64(lambda) / float64(B)
	p := 0.0
	for k, v := range sq {
		p += norms[k] * v
	}
	as[0] = float32(float64(as[0]) + float64(weight)*lb*p)
	c := 2 * lb
	*j = penJob{op: penContrDY, act: act, n: B * D, d: D, x: dys, y: ys, z: zs, col2: norms, c: c}
	b.runChunks(j, false)
	*j = penJob{op: penContrDW, x: dws, y: ws, rows: D, d: in, col1: sq, c: c}
	b.runRows(j)
	clear(dbs)
	return nil
}

// actIn returns the act inputs the ops read: y, or z for GELU, nil for
// linear (and for whichever of the two act does not use).
func actIn(act engine.Act, y, z []float32) ([]float32, []float32) {
	switch {
	case act.NeedsPre():
		return nil, z
	case act == engine.Linear:
		return nil, nil
	}
	return y, nil
}

// ActJVP writes u = act′ ⊙ s (u may be s).
func (b *Backend) ActJVP(u, s, y, z engine.Matrix, act engine.Act) error {
	if err := engine.CheckActJVP(u, s, y, z, act); err != nil {
		return err
	}
	sl, err := b.slices(u, s, y, z)
	if err != nil {
		return err
	}
	ys, zs := actIn(act, sl[2], sl[3])
	j := &b.pen
	*j = penJob{op: penJVP, act: act, n: u.Len(), x: sl[0], s: sl[1], y: ys, z: zs, inPlace: u.Off == s.Off && u.Buf == s.Buf}
	b.runChunks(j, false)
	return nil
}

// ActJVPBackward adds du ⊙ s ⊙ act″ to dzExtra and writes ds = du ⊙ act′
// (ds may be du).
func (b *Backend) ActJVPBackward(ds, dzExtra, du, s, y, z engine.Matrix, act engine.Act) error {
	if err := engine.CheckActJVPBackward(ds, dzExtra, du, s, y, z, act); err != nil {
		return err
	}
	sl, err := b.slices(ds, dzExtra, du, s, y, z)
	if err != nil {
		return err
	}
	ys, zs := actIn(act, sl[4], sl[5])
	j := &b.pen
	*j = penJob{op: penJVPBack, act: act, n: du.Len(), w: sl[0], e: sl[1], x: sl[2], s: sl[3], y: ys, z: zs,
		inPlace: ds.Off == du.Off && ds.Buf == du.Buf}
	b.runChunks(j, false)
	return nil
}

// ActBackward turns dy into dy ⊙ act′ + extra in place.
func (b *Backend) ActBackward(dy, extra, y, z engine.Matrix, act engine.Act) error {
	if err := engine.CheckActBackward(dy, extra, y, z, act); err != nil {
		return err
	}
	sl, err := b.slices(dy, extra, y, z)
	if err != nil {
		return err
	}
	ys, zs := actIn(act, sl[2], sl[3])
	j := &b.pen
	*j = penJob{op: penActBack, act: act, n: dy.Len(), x: sl[0], e: sl[1], y: ys, z: zs, withExtra: sl[1] != nil}
	b.runChunks(j, false)
	return nil
}

// Reparameterize writes z = mu + exp(½·clamp(logvar))·eps, in float64.
func (b *Backend) Reparameterize(z, mu, logvar, eps engine.Matrix) error {
	if err := engine.CheckReparameterize(z, mu, logvar, eps); err != nil {
		return err
	}
	sl, err := b.slices(z, mu, logvar, eps)
	if err != nil {
		return err
	}
	j := &b.pen
	*j = penJob{op: penReparam, n: z.Len(), x: sl[0], mu: sl[1], lv: sl[2], eps: sl[3]}
	b.runChunks(j, false)
	return nil
}

// ReparamBackward writes dmu and dlogvar and adds weight·KL to acc (see
// engine.Backend); each element in float64, KL summed per chunk in order.
func (b *Backend) ReparamBackward(dmu, dlogvar, acc, beta, dz, mu, logvar, eps engine.Matrix, scale, weight float32) error {
	if err := engine.CheckReparamBackward(dmu, dlogvar, acc, beta, dz, mu, logvar, eps); err != nil {
		return err
	}
	sl, err := b.slices(dmu, dlogvar, acc, beta, dz, mu, logvar, eps)
	if err != nil {
		return err
	}
	j := &b.pen
	*j = penJob{op: penReparamBack, n: mu.Len(), x: sl[0], e: sl[1], s: sl[4], mu: sl[5], lv: sl[6], eps: sl[7],
		bs: float64(sl[3][0]) * float64(scale)}
	b.runChunks(j, true)
	as := sl[2]
	as[0] = float32(float64(as[0]) + float64(weight)*sumParts(j.part))
	return nil
}
