package cuda

import (
	"github.com/aegpu/aegpu/engine"
	"github.com/aegpu/aegpu/kernels"
)

// lnGrid is the row kernels' grid: a block per row, at most ReduceBlocks.
func lnGrid(rows int) [3]uint32 { return dim1(min(rows, kernels.ReduceBlocks)) }

// LayerNorm normalises each row of x: see engine.Backend.
func (b *Backend) LayerNorm(y, mean, rstd, x, gamma, beta engine.Matrix, eps float32) error {
	if err := engine.CheckLayerNorm(y, mean, rstd, x, gamma, beta, eps); err != nil {
		return err
	}
	if err := b.enter("LayerNorm", y, mean, rstd, x, gamma, beta); err != nil {
		return err
	}
	b.args.Reset().Ptr(b.ptr(x)).Ptr(b.ptr(gamma)).Ptr(b.ptr(beta)).Ptr(b.ptr(y)).Ptr(b.ptr(mean)).Ptr(b.ptr(rstd)).
		I32(int32(x.Rows)).I32(int32(x.Cols)).F32(eps)
	return b.launch(b.k.lnFwd, lnGrid(x.Rows), dim1(kernels.ReduceThreads))
}

// LayerNormBackward is LayerNorm's backward pass: see engine.Backend.
func (b *Backend) LayerNormBackward(dx, dgamma, dbeta, dy, x, mean, rstd, gamma engine.Matrix) error {
	if err := engine.CheckLayerNormBackward(dx, dgamma, dbeta, dy, x, mean, rstd, gamma); err != nil {
		return err
	}
	if err := b.enter("LayerNormBackward", dx, dgamma, dbeta, dy, x, mean, rstd, gamma); err != nil {
		return err
	}
	b.args.Reset().Ptr(b.ptr(dy)).Ptr(b.ptr(x)).Ptr(b.ptr(mean)).Ptr(b.ptr(rstd)).Ptr(b.ptr(dgamma)).Ptr(b.ptr(dbeta)).
		I32(int32(x.Rows)).I32(int32(x.Cols))
	cols := (x.Cols + kernels.ColMeanThreads - 1) / kernels.ColMeanThreads
	if err := b.launch(b.k.lnParams, dim1(cols), dim1(kernels.ColMeanThreads)); err != nil {
		return err
	}
	if dx.Empty() {
		return nil
	}
	b.args.Reset().Ptr(b.ptr(dy)).Ptr(b.ptr(x)).Ptr(b.ptr(gamma)).Ptr(b.ptr(mean)).Ptr(b.ptr(rstd)).Ptr(b.ptr(dx)).
		I32(int32(x.Rows)).I32(int32(x.Cols))
	return b.launch(b.k.lnDX, lnGrid(x.Rows), dim1(kernels.ReduceThreads))
}
