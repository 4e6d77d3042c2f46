package cuda

import (
	"fmt"

	"github.com/aegpu/aegpu/cuda/internal/cu"
)

// kernelSet holds the kernels' function handles, resolved once at Open.
type kernelSet struct {
	gemm                               gemmKernels // Dense and DenseBackward's products (gemm.go)
	actGradBias                        cu.Function
	lossPartial, lossFinish, rowLoss   cu.Function
	colMean, sumsqPartial, sumsqFinish cu.Function
	clipScale, adam, sgd               cu.Function
	fill, copy, axpy, ema, scale       cu.Function
	randU, randN, corrupt              cu.Function
	// The variant regularizers (penalty.go).
	sparsity, contractive, actJVP, actJVPBack, actGradAdd cu.Function
	reparam, reparamGrad                                  cu.Function
	lnFwd, lnDX, lnParams                                 cu.Function
}

type kernelEntry struct {
	f    *cu.Function
	name string
}

// table pairs every handle with its kernel's name in the fatbin: the GEMMs
// by precision, shape and tile (gemmKernelName), then the others.
func (k *kernelSet) table() []kernelEntry {
	var t []kernelEntry
	for p := range numGemmPrecs {
		for s := range numGemmShapes {
			for tile := range numGemmTiles {
				t = append(t, kernelEntry{&k.gemm[p][s][tile], gemmKernelName(p, s, tile)})
			}
		}
	}
	return append(t, []kernelEntry{
		{&k.actGradBias, "act_grad_bias"},
		{&k.lossPartial, "loss_grad_partial"}, {&k.lossFinish, "loss_finish"}, {&k.rowLoss, "row_loss"},
		{&k.colMean, "col_mean"}, {&k.sumsqPartial, "sumsq_partial"}, {&k.sumsqFinish, "sumsq_finish"},
		{&k.clipScale, "clip_scale"}, {&k.adam, "adam_step"}, {&k.sgd, "sgd_step"},
		{&k.fill, "fill_f32"}, {&k.copy, "copy_f32"}, {&k.axpy, "axpy_f32"}, {&k.ema, "ema_f32"}, {&k.scale, "scale_f32"},
		{&k.randU, "rand_uniform"}, {&k.randN, "rand_normal"}, {&k.corrupt, "corrupt_f32"},
		{&k.sparsity, "sparsity_grad"}, {&k.contractive, "contractive_exact"}, {&k.actJVP, "act_jvp"},
		{&k.actJVPBack, "act_jvp_backward"}, {&k.actGradAdd, "act_grad_add"},
		{&k.reparam, "reparam_f32"}, {&k.reparamGrad, "reparam_grad_partial"},
		{&k.lnFwd, "layernorm_fwd"}, {&k.lnDX, "layernorm_bwd_dx"}, {&k.lnParams, "layernorm_bwd_params"},
	}...)
}

// bind resolves every handle in m; a kernel missing from the fatbin is an
// error that names it.
func (k *kernelSet) bind(m cu.Module) error {
	for _, e := range k.table() {
		f, err := m.Function(e.name)
		if err != nil {
			return fmt.Errorf("kernel %s: %w (is kernels/aegpu.fatbin up to date? run make kernels)", e.name, err)
		}
		*e.f = f
	}
	return nil
}
