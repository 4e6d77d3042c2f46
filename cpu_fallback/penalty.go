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

// chunkParts returns the scratch for the per-chunk partial sums of a pass
// over n elements.
func (b *Backend) chunkParts(n int) []float64 {
	b.scratch.part = grow64(b.scratch.part, ceilDiv(n, chunk))
	return b.scratch.part
}

// runChunks runs j over the element chunks of n elements.
func (b *Backend) runChunks(n int, j job) { b.pool.run(ceilDiv(n, chunk), j) }

// colSums sets col1[k] = Σ_r f(x[r, k]) in float64 (f: identity, or act′²
// from y/z when squareGrad), deterministic: row blocks summed in block order.
func (b *Backend) colSums(x, y, z []float32, rows, d int, act engine.Act, squareGrad bool) []float64 {
	j := &b.pen.colSum
	*j = colSumJob{x: x}
	if squareGrad {
		j.act, j.y, j.z, j.squareGrad = act, y, z, true
	}
	blocks := j.plan(rows, d)
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
		j := &b.pen.sparse
		*j = sparseJob{n: B * D, d: D, dh: dhs, h: hs, klGrad: cols, l1B: float64(l1) * invB}
		j.part = b.chunkParts(j.n)
		b.runChunks(j.n, j)
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
	rs := &b.pen.rowSq
	*rs = rowSqJob{w: ws, norms: norms}
	b.pool.run(rs.plan(D, in), rs)
	// Σ_i a′_ij² into col1.
	sq := b.colSums(dys, ys, zs, B, D, act, true)
	lb := float64(lambda) / float64(B)
	p := 0.0
	for k, v := range sq {
		p += norms[k] * v
	}
	as[0] = float32(float64(as[0]) + float64(weight)*lb*p)
	c := 2 * lb
	cy := &b.pen.contrDY
	*cy = contrDYJob{n: B * D, d: D, act: act, dy: dys, y: ys, z: zs, norms: norms, c: c}
	b.runChunks(cy.n, cy)
	cw := &b.pen.contrDW
	*cw = contrDWJob{dw: dws, w: ws, gradSq: sq, c: c}
	b.pool.run(cw.plan(D, in), cw)
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
	j := &b.pen.jvp
	*j = jvpJob{n: u.Len(), act: act, u: sl[0], s: sl[1], y: ys, z: zs, inPlace: u.Off == s.Off && u.Buf == s.Buf}
	b.runChunks(j.n, j)
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
	j := &b.pen.jvpBack
	*j = jvpBackJob{n: du.Len(), act: act, ds: sl[0], dzExtra: sl[1], du: sl[2], s: sl[3], y: ys, z: zs,
		inPlace: ds.Off == du.Off && ds.Buf == du.Buf}
	b.runChunks(j.n, j)
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
	j := &b.pen.actBack
	*j = actBackJob{n: dy.Len(), act: act, dy: sl[0], extra: sl[1], y: ys, z: zs}
	b.runChunks(j.n, j)
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
	j := &b.pen.reparam
	*j = reparamJob{n: z.Len(), z: sl[0], mu: sl[1], logvar: sl[2], eps: sl[3]}
	b.runChunks(j.n, j)
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
	j := &b.pen.reparamBack
	*j = reparamBackJob{n: mu.Len(), dmu: sl[0], dlogvar: sl[1], dz: sl[4], mu: sl[5], logvar: sl[6], eps: sl[7],
		betaScale: float64(sl[3][0]) * float64(scale)}
	j.part = b.chunkParts(j.n)
	b.runChunks(j.n, j)
	as := sl[2]
	as[0] = float32(float64(as[0]) + float64(weight)*sumParts(j.part))
	return nil
}
