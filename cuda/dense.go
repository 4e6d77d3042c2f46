package cuda

import (
	"github.com/aegpu/aegpu/engine"
	"github.com/aegpu/aegpu/kernels"
)

// The fused layer ops Dense and DenseBackward (as cpu_fallback/dense.go):
// act_grad_bias and the GEMMs that gemm.go picks.

// Dense computes y = act(x·wᵀ + b) (and z = x·wᵀ + b when z is present);
// with TransW, w is [in×out] and the product is x·w (gemm_nn_bias_act).
// Under engine.TF32 / engine.BF16 the product runs on the tensor cores (*_tf32 / *_bf16 kernels).
func (b *Backend) Dense(y, z, x, w, bias engine.Matrix, act engine.Act, opt engine.DenseOpt) error {
	if err := engine.CheckDense(y, z, x, w, bias, act, opt); err != nil {
		return err
	}
	if err := b.enter("Dense", y, z, x, w, bias); err != nil {
		return err
	}
	m, n, k := x.Rows, y.Cols, x.Cols
	if m == 0 || n == 0 {
		return nil
	}
	op := gemmNTBiasAct
	if opt&engine.TransW != 0 {
		op = gemmNNBiasAct
	}
	b.args.Reset().Ptr(b.ptr(x)).Ptr(b.ptr(w)).Ptr(b.ptr(bias)).Ptr(b.ptr(z)).Ptr(b.ptr(y)).
		I32(int32(m)).I32(int32(n)).I32(int32(k)).I32(int32(act))
	f, grid, block := b.gemm(op, m, n)
	return b.launch(f, grid, block)
}

// DenseBackward folds act′ into dy (and reduces db, when present) in one
// kernel, then runs the two products: dx = dz·w and dw = dzᵀ·x, or with
// TransW (w, dw [in×out]) dx = dz·wᵀ and dw = xᵀ·dz. Accumulation is the
// GEMMs' beta (and act_grad_bias's for db).
func (b *Backend) DenseBackward(dx, dw, db, dy, y, z, x, w engine.Matrix, act engine.Act, opt engine.DenseOpt) error {
	if err := engine.CheckDenseBackward(dx, dw, db, dy, y, z, x, w, act, opt); err != nil {
		return err
	}
	if err := b.enter("DenseBackward", dx, dw, db, dy, y, z, x, w); err != nil {
		return err
	}
	trans := opt&engine.TransW != 0
	accumulate := opt&engine.Accumulate != 0
	beta, dxBeta := float32(0), float32(0)
	if accumulate {
		beta = 1
	}
	if opt&engine.AccumulateDX != 0 {
		dxBeta = 1
	}
	m, n, k := x.Rows, dy.Cols, x.Cols // batch, out, in
	yp, zp := b.ptr(y), b.ptr(z)
	if act == engine.Linear {
		yp, zp = 0, 0
	}
	// dz = dy ⊙ act′ in place and db (+)= Σ_rows dz: nothing to do for a
	// linear layer without db, nor for an empty batch without db.
	if n > 0 && (!db.Empty() || (act != engine.Linear && m > 0)) {
		b.args.Reset().Ptr(b.ptr(dy)).Ptr(yp).Ptr(zp).Ptr(b.ptr(db)).
			I32(int32(m)).I32(int32(n)).I32(int32(act)).F32(beta)
		grid := dim1((n + kernels.ActGradCols - 1) / kernels.ActGradCols)
		if err := b.launch(b.k.actGradBias, grid, [3]uint32{kernels.ActGradCols, kernels.ActGradRows, 1}); err != nil {
			return err
		}
	}
	if !dx.Empty() && m > 0 && k > 0 {
		switch {
		case n == 0: // an empty sum
			if dxBeta == 0 {
				if err := b.fill(dx, 0); err != nil {
					return err
				}
			}
		case !trans: // dx[m×k] = dz[m×n] · w[n×k]
			b.args.Reset().Ptr(b.ptr(dy)).Ptr(b.ptr(w)).Ptr(b.ptr(dx)).I32(int32(m)).I32(int32(k)).I32(int32(n)).F32(dxBeta)
			f, grid, block := b.gemm(gemmNN, m, k)
			if err := b.launch(f, grid, block); err != nil {
				return err
			}
		default: // dx[m×k] = dz[m×n] · w[k×n]ᵀ
			b.args.Reset().Ptr(b.ptr(dy)).Ptr(b.ptr(w)).Ptr(b.ptr(dx)).I32(int32(m)).I32(int32(k)).I32(int32(n)).F32(dxBeta)
			f, grid, block := b.gemm(gemmNT, m, k)
			if err := b.launch(f, grid, block); err != nil {
				return err
			}
		}
	}
	if n == 0 || k == 0 {
		return nil // dw is empty
	}
	switch {
	case m == 0: // an empty sum
		if accumulate {
			return nil
		}
		return b.fill(dw, 0)
	case !trans: // dw[n×k] = dz[m×n]ᵀ · x[m×k]
		b.args.Reset().Ptr(b.ptr(dy)).Ptr(b.ptr(x)).Ptr(b.ptr(dw)).I32(int32(n)).I32(int32(k)).I32(int32(m)).F32(beta)
		f, grid, block := b.gemm(gemmTN, n, k)
		return b.launch(f, grid, block)
	default: // dw[k×n] = x[m×k]ᵀ · dz[m×n]
		b.args.Reset().Ptr(b.ptr(x)).Ptr(b.ptr(dy)).Ptr(b.ptr(dw)).I32(int32(k)).I32(int32(n)).I32(int32(m)).F32(beta)
		f, grid, block := b.gemm(gemmTN, k, n)
		return b.launch(f, grid, block)
	}
}
