package cuda

import (
	"github.com/aegpu/aegpu/cuda/internal/cu"
	"github.com/aegpu/aegpu/engine"
	"github.com/aegpu/aegpu/kernels"
)

// The variant regularizers' ops (kernels/penalty.cu; see kernels/ABI.md).
// Scalar penalties go through the reduction scratch b.partial (one double
// per block) and loss_finish, which adds weight·Σ partial to acc: no host
// round trip, so the ops record into graphs like the others.

// penBlock is the block of the column-group kernels (sparsity_grad,
// contractive_exact): ActGradCols columns × ActGradRows row phases.
var penBlock = [3]uint32{kernels.ActGradCols, kernels.ActGradRows, 1}

// penGrid is their grid for d columns: a block per group of ActGradCols
// columns, at most ReduceBlocks (one partial each; the kernels are
// grid-stride over column groups).
func penGrid(d int) int {
	return max(1, min(kernels.ReduceBlocks, (d+kernels.ActGradCols-1)/kernels.ActGradCols))
}

// actPtrs returns the device pointers of the activation input act reads
// (y, or z for GELU), 0 for the other (both 0 for linear).
func (b *Backend) actPtrs(act engine.Act, y, z engine.Matrix) (cu.DevicePtr, cu.DevicePtr) {
	switch {
	case act.NeedsPre():
		return 0, b.ptr(z)
	case act == engine.Linear:
		return 0, 0
	}
	return b.ptr(y), 0
}

// finish queues loss_finish: acc += weight·Σ partial[0 … nb).
func (b *Backend) finish(acc engine.Matrix, nb int, weight float32) error {
	b.args.Reset().Ptr(b.partial).I32(int32(nb)).Ptr(b.ptr(acc)).F32(weight)
	return b.launch(b.k.lossFinish, dim1(1), dim1(kernels.ReduceThreads))
}

// Sparsity: sparsity_grad (ρ̂, the gradient and per-block penalties in one
// kernel), then loss_finish.
func (b *Backend) Sparsity(acc, dh, rho, h engine.Matrix, l1, beta, target, weight float32) error {
	if err := engine.CheckSparsity(acc, dh, rho, h, l1, beta, target); err != nil {
		return err
	}
	if err := b.enter("Sparsity", acc, dh, rho, h); err != nil {
		return err
	}
	B, D := h.Rows, h.Cols
	if D == 0 {
		return nil
	}
	nb := penGrid(D)
	b.args.Reset().Ptr(b.ptr(h)).Ptr(b.ptr(dh)).Ptr(b.ptr(rho)).Ptr(b.partial).
		I32(int32(B)).I32(int32(D)).F32(l1).F32(beta).F32(target)
	if err := b.launch(b.k.sparsity, dim1(nb), penBlock); err != nil {
		return err
	}
	return b.finish(acc, nb, weight)
}

// ContractiveExact: contractive_exact (‖w_j‖², Σ_i a′², dy, dw, db and the
// per-block penalties in one kernel), then loss_finish.
func (b *Backend) ContractiveExact(acc, dy, dw, db, y, z, w engine.Matrix, act engine.Act, lambda, weight float32) error {
	if err := engine.CheckContractiveExact(acc, dy, dw, db, y, z, w, act, lambda); err != nil {
		return err
	}
	if err := b.enter("ContractiveExact", acc, dy, dw, db, y, z, w); err != nil {
		return err
	}
	B, D, K := dy.Rows, dy.Cols, w.Cols
	if D == 0 {
		return nil
	}
	yp, zp := b.actPtrs(act, y, z)
	nb := penGrid(D)
	b.args.Reset().Ptr(b.ptr(dy)).Ptr(yp).Ptr(zp).Ptr(b.ptr(w)).Ptr(b.ptr(dw)).Ptr(b.ptr(db)).Ptr(b.partial).
		I32(int32(B)).I32(int32(D)).I32(int32(K)).I32(int32(act)).F32(lambda)
	if err := b.launch(b.k.contractive, dim1(nb), penBlock); err != nil {
		return err
	}
	return b.finish(acc, nb, weight)
}

// ActJVP: act_jvp, u = s ⊙ act′ (u may be s).
func (b *Backend) ActJVP(u, s, y, z engine.Matrix, act engine.Act) error {
	if err := engine.CheckActJVP(u, s, y, z, act); err != nil {
		return err
	}
	if err := b.enter("ActJVP", u, s, y, z); err != nil {
		return err
	}
	n := u.Len()
	if n == 0 {
		return nil
	}
	yp, zp := b.actPtrs(act, y, z)
	b.args.Reset().Ptr(b.ptr(u)).Ptr(b.ptr(s)).Ptr(yp).Ptr(zp).I64(int64(n)).I32(int32(act))
	return b.launch(b.k.actJVP, elemGrid(n), dim1(kernels.ElemThreads))
}

// ActJVPBackward: act_jvp_backward, dzExtra += du ⊙ s ⊙ act″ and
// ds = du ⊙ act′ (ds may be du).
func (b *Backend) ActJVPBackward(ds, dzExtra, du, s, y, z engine.Matrix, act engine.Act) error {
	if err := engine.CheckActJVPBackward(ds, dzExtra, du, s, y, z, act); err != nil {
		return err
	}
	if err := b.enter("ActJVPBackward", ds, dzExtra, du, s, y, z); err != nil {
		return err
	}
	n := du.Len()
	if n == 0 {
		return nil
	}
	yp, zp := b.actPtrs(act, y, z)
	b.args.Reset().Ptr(b.ptr(ds)).Ptr(b.ptr(dzExtra)).Ptr(b.ptr(du)).Ptr(b.ptr(s)).Ptr(yp).Ptr(zp).
		I64(int64(n)).I32(int32(act))
	return b.launch(b.k.actJVPBack, elemGrid(n), dim1(kernels.ElemThreads))
}

// ActBackward: act_grad_add, dy ← dy ⊙ act′ + extra.
func (b *Backend) ActBackward(dy, extra, y, z engine.Matrix, act engine.Act) error {
	if err := engine.CheckActBackward(dy, extra, y, z, act); err != nil {
		return err
	}
	if err := b.enter("ActBackward", dy, extra, y, z); err != nil {
		return err
	}
	n := dy.Len()
	if n == 0 || (act == engine.Linear && extra.Empty()) {
		return nil
	}
	yp, zp := b.actPtrs(act, y, z)
	b.args.Reset().Ptr(b.ptr(dy)).Ptr(b.ptr(extra)).Ptr(yp).Ptr(zp).I64(int64(n)).I32(int32(act))
	return b.launch(b.k.actGradAdd, elemGrid(n), dim1(kernels.ElemThreads))
}

// Reparameterize: reparam_f32, z = mu + exp(½·clamp(logvar))·eps.
func (b *Backend) Reparameterize(z, mu, logvar, eps engine.Matrix) error {
	if err := engine.CheckReparameterize(z, mu, logvar, eps); err != nil {
		return err
	}
	if err := b.enter("Reparameterize", z, mu, logvar, eps); err != nil {
		return err
	}
	n := z.Len()
	if n == 0 {
		return nil
	}
	b.args.Reset().Ptr(b.ptr(z)).Ptr(b.ptr(mu)).Ptr(b.ptr(logvar)).Ptr(b.ptr(eps)).I64(int64(n))
	return b.launch(b.k.reparam, elemGrid(n), dim1(kernels.ElemThreads))
}

// ReparamBackward: reparam_grad_partial (dmu, dlogvar and the KL's
// partial sums; β read from the device), then loss_finish.
func (b *Backend) ReparamBackward(dmu, dlogvar, acc, beta, dz, mu, logvar, eps engine.Matrix, scale, weight float32) error {
	if err := engine.CheckReparamBackward(dmu, dlogvar, acc, beta, dz, mu, logvar, eps); err != nil {
		return err
	}
	if err := b.enter("ReparamBackward", dmu, dlogvar, acc, beta, dz, mu, logvar, eps); err != nil {
		return err
	}
	n := mu.Len()
	if n == 0 {
		return nil
	}
	nb := kernels.ReduceGrid(int64(n))
	b.args.Reset().Ptr(b.ptr(dmu)).Ptr(b.ptr(dlogvar)).Ptr(b.ptr(beta)).Ptr(b.ptr(dz)).Ptr(b.ptr(mu)).
		Ptr(b.ptr(logvar)).Ptr(b.ptr(eps)).Ptr(b.partial).I64(int64(n)).F32(scale)
	if err := b.launch(b.k.reparamGrad, dim1(nb), dim1(kernels.ReduceThreads)); err != nil {
		return err
	}
	return b.finish(acc, nb, weight)
}
