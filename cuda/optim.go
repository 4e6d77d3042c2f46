package cuda

import (
	"math"

	"github.com/aegpu/aegpu/engine"
	"github.com/aegpu/aegpu/kernels"
)

// The optimizer step and gradient clipping (as cpu_fallback/optim.go).

// OptimizerStep applies one SGD/Adam/AdamW step over the flat buffer.
func (b *Backend) OptimizerStep(o engine.OptStep, params, grads, s1, s2 engine.Matrix) error {
	if err := engine.CheckOptimizer(o, params, grads, s1, s2); err != nil {
		return err
	}
	if err := b.enter("OptimizerStep", params, grads, s1, s2); err != nil {
		return err
	}
	n := params.Len()
	if n == 0 {
		return nil
	}
	switch o.Kind {
	case engine.SGD:
		first := int32(0)
		if o.Step <= 1 {
			first = 1
		}
		b.args.Reset().Ptr(b.ptr(params)).Ptr(b.ptr(grads)).Ptr(b.ptr(s1)).I64(int64(n)).
			F32(o.LR).F32(o.Momentum).F32(o.WeightDecay).I32(first)
		return b.launch(b.k.sgd, elemGrid(n), dim1(kernels.ElemThreads))
	default:
		t := float64(o.Step)
		bc1 := 1 - math.Pow(float64(o.Beta1), t)
		bc2 := 1 - math.Pow(float64(o.Beta2), t)
		decoupled := int32(0)
		if o.Kind == engine.AdamW {
			decoupled = 1
		}
		b.args.Reset().Ptr(b.ptr(params)).Ptr(b.ptr(grads)).Ptr(b.ptr(s1)).Ptr(b.ptr(s2)).I64(int64(n)).
			F32(o.LR).F32(o.Beta1).F32(o.Beta2).F32(o.Eps).F32(o.WeightDecay).F32(float32(bc1)).F32(float32(bc2)).I32(decoupled)
		return b.launch(b.k.adam, elemGrid(n), dim1(kernels.ElemThreads))
	}
}

// ClipGradNorm writes ‖grads‖ into norm and scales grads on the device.
func (b *Backend) ClipGradNorm(grads, norm engine.Matrix, maxNorm float32) error {
	if err := engine.CheckClipGradNorm(grads, norm, maxNorm); err != nil {
		return err
	}
	if err := b.enter("ClipGradNorm", grads, norm); err != nil {
		return err
	}
	if err := b.sumSquares(norm, grads, 1); err != nil {
		return err
	}
	n := grads.Len()
	b.args.Reset().Ptr(b.ptr(grads)).I64(int64(n)).Ptr(b.ptr(norm)).F32(maxNorm)
	return b.launch(b.k.clipScale, elemGrid(n), dim1(kernels.ElemThreads))
}
