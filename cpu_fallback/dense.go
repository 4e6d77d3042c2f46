package cpu_fallback

import "github.com/aegpu/aegpu/engine"

// Dense computes the fused layer
//
//	z = x·wᵀ + b    x [B×in], w [out×in], b [1×out]   (TransW: z = x·w + b, w [in×out])
//	y = act(z)      y, z [B×out]
//
// as one GEMM (A = x, B = wᵀ or w, read through strides) whose epilogue adds
// the bias and applies the activation tile by tile. z, when present,
// receives the pre-activation.
func (b *Backend) Dense(y, z, x, w, bias engine.Matrix, act engine.Act, opt engine.DenseOpt) error {
	if err := engine.CheckDense(y, z, x, w, bias, act, opt); err != nil {
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
	brs, bcs := 1, w.Cols // B = wᵀ
	if opt&engine.TransW != 0 {
		brs, bcs = w.Cols, 1 // B = w
	}
	j := &b.gemm
	*j = gemmJob{
		m: x.Rows, n: y.Cols, k: x.Cols,
		a: xs, ars: x.Cols, acs: 1, // A = x
		b: ws, brs: brs, bcs: bcs,
		c: c, bias: bs, y: ys, act: act,
	}
	b.runGemm(j)
	return nil
}

// DenseBackward is Dense's backward pass:
//
//	dz  = dy ⊙ act′(y or z)    written over dy [B×out]
//	dw (+)= dzᵀ·x              [out×in]  (GEMM: A = dzᵀ, B = x; TransW: xᵀ·dz)
//	db (+)= Σ_rows dz          [1×out]   (summed while packing dzᵀ; skipped when absent)
//	dx (+)= dz·w               [B×in]    (GEMM: A = dz, B = w or wᵀ; skipped when absent)
func (b *Backend) DenseBackward(dx, dw, db, dy, y, z, x, w engine.Matrix, act engine.Act, opt engine.DenseOpt) error {
	if err := engine.CheckDenseBackward(dx, dw, db, dy, y, z, x, w, act, opt); err != nil {
		return err
	}
	s, err := b.slices(dx, dw, db, dy, y, z, x, w)
	if err != nil {
		return err
	}
	dxs, dws, dbs, dys, ys, zs, xs, ws := s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]
	B, in, out := x.Rows, x.Cols, dy.Cols
	accum := opt&engine.Accumulate != 0

	if act != engine.Linear {
		e := &b.ew
		*e = ewJob{op: ewActGrad, n: len(dys), x: dys, y: ys, z: zs, act: act}
		b.runEW(e)
	}
	j := &b.gemm
	if opt&engine.TransW == 0 {
		*j = gemmJob{
			m: out, n: in, k: B,
			a: dys, ars: 1, acs: out, // A = dzᵀ
			b: xs, brs: in, bcs: 1, // B = x
			c: dws, acc: accum, rowSum: dbs,
		}
		b.runGemm(j)
	} else {
		*j = gemmJob{
			m: in, n: out, k: B,
			a: xs, ars: 1, acs: in, // A = xᵀ
			b: dys, brs: out, bcs: 1, // B = dz
			c: dws, acc: accum,
		}
		b.runGemm(j)
		if dbs != nil {
			b.colSum(dbs, dys, B, out, accum)
		}
	}
	if dxs != nil {
		brs, bcs := in, 1 // B = w [out×in]
		if opt&engine.TransW != 0 {
			brs, bcs = 1, out // B = wᵀ, w [in×out]
		}
		*j = gemmJob{
			m: B, n: in, k: out,
			a: dys, ars: out, acs: 1, // A = dz
			b: ws, brs: brs, bcs: bcs,
			c: dxs, acc: opt&engine.AccumulateDX != 0,
		}
		b.runGemm(j)
	}
	return nil
}

// colSum writes (or with acc adds) the column sums of x [rows×d] into out,
// each summed in float64 in row order.
func (b *Backend) colSum(out, x []float32, rows, d int, acc bool) {
	sums := grow64(b.scratch.part, d)
	b.scratch.part = sums
	sums = sums[:d]
	clear(sums)
	for r := range rows {
		for k, v := range x[r*d : (r+1)*d] {
			sums[k] += float64(v)
		}
	}
	for k, s := range sums {
		if acc {
			s += float64(out[k])
		}
		out[k] = float32(s)
	}
}
