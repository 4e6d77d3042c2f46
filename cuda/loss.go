package cuda

import (
	"github.com/aegpu/aegpu/engine"
	"github.com/aegpu/aegpu/kernels"
)

// The reconstruction losses (as cpu_fallback/loss.go): loss_grad_partial
// and loss_finish, row_loss.

// LossGrad adds weight·mean loss to acc and writes the gradient.
func (b *Backend) LossGrad(kind engine.Loss, acc, grad, pred, target engine.Matrix, weight float32) error {
	if err := engine.CheckLossGrad(kind, acc, grad, pred, target); err != nil {
		return err
	}
	if err := b.enter("LossGrad", acc, grad, pred, target); err != nil {
		return err
	}
	n := pred.Len()
	b.args.Reset().I32(int32(kind)).Ptr(b.ptr(pred)).Ptr(b.ptr(target)).Ptr(b.ptr(grad)).Ptr(b.partial).
		I64(int64(n)).F32(float32(1 / float64(n)))
	nb := kernels.ReduceGrid(int64(n))
	if err := b.launch(b.k.lossPartial, dim1(nb), dim1(kernels.ReduceThreads)); err != nil {
		return err
	}
	b.args.Reset().Ptr(b.partial).I32(int32(nb)).Ptr(b.ptr(acc)).F32(float32(float64(weight) / float64(n)))
	return b.launch(b.k.lossFinish, dim1(1), dim1(kernels.ReduceThreads))
}

// RowLoss writes each row's mean elementwise loss.
func (b *Backend) RowLoss(kind engine.Loss, out, pred, target engine.Matrix) error {
	if err := engine.CheckRowLoss(kind, out, pred, target); err != nil {
		return err
	}
	if err := b.enter("RowLoss", out, pred, target); err != nil {
		return err
	}
	if pred.Rows == 0 {
		return nil
	}
	b.args.Reset().I32(int32(kind)).Ptr(b.ptr(pred)).Ptr(b.ptr(target)).Ptr(b.ptr(out)).I32(int32(pred.Rows)).I32(int32(pred.Cols))
	return b.launch(b.k.rowLoss, dim1(pred.Rows), dim1(kernels.ReduceThreads))
}
