package cpu_fallback

import "github.com/aegpu/aegpu/engine"

// Dense computes the fused layer
//
//	z = x·wᵀ + b    x [B×in], w [out×in], b [1×out]
//	y = act(z)      y, z [B×out]
//
// as one GEMM (A = x, Bᵀ = w) whose epilogue adds the bias and applies the
// activation tile by tile. z, when present, receives the pre-activation.
func (b *Backend) Dense(y, z, x, w, bias engine.Matrix, act engine.Act) error {
	if err := engine.CheckDense(y, z, x, w, bias, act); err != nil {
		return err
	}
	s, err := b.slices(y, z, x, w, bias)
	if err != nil {
		return err
	}
	ys, zs, xs, ws, bs := s[0], s[1], s[2], s[3], s[4]
	c := ys
	if zs != nil {
		c = zs
	}
	j := &b.gemm
	*j = gemmJob{
		m: x.Rows, n: w.Rows, k: x.Cols,
		a: xs, ars: x.Cols, acs: 1, // A = x
		b: ws, brs: 1, bcs: w.Cols, // B = wᵀ
		c: c, bias: bs, y: ys, act: act,
	}
	b.runGemm(j)
	return nil
}

// DenseBackward is Dense's backward pass:
//
//	dz  = dy ⊙ act′(y or z)    written over dy [B×out]
//	dw (+)= dzᵀ·x              [out×in]  (GEMM: A = dzᵀ, B = x)
//	db (+)= Σ_rows dz          [1×out]   (summed while packing dzᵀ)
//	dx  = dz·w                 [B×in]    (GEMM: A = dz, B = w; skipped when absent)
func (b *Backend) DenseBackward(dx, dw, db, dy, y, z, x, w engine.Matrix, act engine.Act, accumulate bool) error {
	if err := engine.CheckDenseBackward(dx, dw, db, dy, y, z, x, w, act); err != nil {
		return err
	}
	s, err := b.slices(dx, dw, db, dy, y, z, x, w)
	if err != nil {
		return err
	}
	dxs, dws, dbs, dys, ys, zs, xs, ws := s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]
	B, in, out := x.Rows, x.Cols, w.Rows

	if act != engine.Linear {
		e := &b.ew
		*e = ewJob{op: ewActGrad, n: len(dys), x: dys, y: ys, z: zs, act: act}
		b.runEW(e)
	}
	j := &b.gemm
	*j = gemmJob{
		m: out, n: in, k: B,
		a: dys, ars: 1, acs: out, // A = dzᵀ
		b: xs, brs: in, bcs: 1, // B = x
		c: dws, acc: accumulate, rowSum: dbs,
	}
	b.runGemm(j)
	if dxs != nil {
		*j = gemmJob{
			m: B, n: in, k: out,
			a: dys, ars: out, acs: 1, // A = dz
			b: ws, brs: in, bcs: 1, // B = w
			c: dxs,
		}
		b.runGemm(j)
	}
	return nil
}
