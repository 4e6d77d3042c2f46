package cuda

import (
	"math"

	"github.com/aegpu/aegpu/cuda/internal/cu"
	"github.com/aegpu/aegpu/engine"
	"github.com/aegpu/aegpu/kernels"
)

// Launch geometry. The kernels are correct for any size; these only decide
// how the work is spread (see kernels/ABI.md).

func dim1(n int) [3]uint32 { return [3]uint32{uint32(n), 1, 1} }

// elemGrid is the grid of a grid-stride elementwise kernel over n elements.
func elemGrid(n int) [3]uint32 { return dim1(kernels.ElemGrid(int64(n), 1)) }

// gemmKernel picks the tile size for a GEMM producing C [m×n]: 128×128
// tiles when they give every SM a block, else 64×64 tiles (4× the blocks).
// Both give bitwise-identical results (one in-order FMA chain per output).
func (b *Backend) gemmKernel(big, small cu.Function, m, n int) (cu.Function, [3]uint32, [3]uint32) {
	x, y := kernels.GemmGrid(m, n, kernels.GemmBM, kernels.GemmBN)
	if x*y >= b.dev.SMs {
		return big, [3]uint32{uint32(x), uint32(y), 1}, dim1(kernels.GemmThreads)
	}
	x, y = kernels.GemmGrid(m, n, kernels.Gemm64BM, kernels.Gemm64BN)
	return small, [3]uint32{uint32(x), uint32(y), 1}, dim1(kernels.Gemm64Threads)
}

// gemmTF32Kernel is gemmKernel for the TF32 kernels (same rule, their tiles).
func (b *Backend) gemmTF32Kernel(big, small cu.Function, m, n int) (cu.Function, [3]uint32, [3]uint32) {
	x, y := kernels.GemmGrid(m, n, kernels.GemmTF32BM, kernels.GemmTF32BN)
	if x*y >= b.dev.SMs {
		return big, [3]uint32{uint32(x), uint32(y), 1}, dim1(kernels.GemmTF32Threads)
	}
	x, y = kernels.GemmGrid(m, n, kernels.GemmTF32x64BM, kernels.GemmTF32x64BN)
	return small, [3]uint32{uint32(x), uint32(y), 1}, dim1(kernels.GemmTF32x64Threads)
}

// The GEMMs of Dense and DenseBackward in the backend's precision.
type gemmOp int

const (
	opNTBias gemmOp = iota // Z = X·Wᵀ + b (gemm_nt_bias_act)
	opNNBias               // Z = X·W + b (gemm_nn_bias_act, tied)
	opNN                   // C = A·B + βC
	opTN                   // C = Aᵀ·B + βC
	opNT                   // C = A·Bᵀ + βC (tied dX)
)

// gemm picks the kernel, grid and block of op producing C [m×n].
func (b *Backend) gemm(op gemmOp, m, n int) (cu.Function, [3]uint32, [3]uint32) {
	k := &b.k
	if b.prec == engine.TF32 {
		big, small := [...]cu.Function{k.gemmNTtf, k.gemmNNBiastf, k.gemmNNtf, k.gemmTNtf, k.gemmNTBetatf}[op],
			[...]cu.Function{k.gemmNTtf64, k.gemmNNBiastf64, k.gemmNNtf64, k.gemmTNtf64, k.gemmNTBetatf64}[op]
		return b.gemmTF32Kernel(big, small, m, n)
	}
	if b.prec == engine.BF16 { // same tiles as TF32
		big, small := [...]cu.Function{k.gemmNTbf, k.gemmNNBiasbf, k.gemmNNbf, k.gemmTNbf, k.gemmNTBetabf}[op],
			[...]cu.Function{k.gemmNTbf64, k.gemmNNBiasbf64, k.gemmNNbf64, k.gemmTNbf64, k.gemmNTBetabf64}[op]
		return b.gemmTF32Kernel(big, small, m, n)
	}
	big, small := [...]cu.Function{k.gemmNT, k.gemmNNBias, k.gemmNN, k.gemmTN, k.gemmNTBeta}[op],
		[...]cu.Function{k.gemmNT64, k.gemmNNBias64, k.gemmNN64, k.gemmTN64, k.gemmNTBeta64}[op]
	return b.gemmKernel(big, small, m, n)
}

func (b *Backend) launch(f cu.Function, grid, block [3]uint32) error {
	return cu.Launch(f, grid, block, 0, b.stream, b.args)
}

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
	op := opNTBias
	if opt&engine.TransW != 0 {
		op = opNNBias
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
			f, grid, block := b.gemm(opNN, m, k)
			if err := b.launch(f, grid, block); err != nil {
				return err
			}
		default: // dx[m×k] = dz[m×n] · w[k×n]ᵀ
			b.args.Reset().Ptr(b.ptr(dy)).Ptr(b.ptr(w)).Ptr(b.ptr(dx)).I32(int32(m)).I32(int32(k)).I32(int32(n)).F32(dxBeta)
			f, grid, block := b.gemm(opNT, m, k)
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
		f, grid, block := b.gemm(opTN, n, k)
		return b.launch(f, grid, block)
	default: // dw[k×n] = x[m×k]ᵀ · dz[m×n]
		b.args.Reset().Ptr(b.ptr(x)).Ptr(b.ptr(dy)).Ptr(b.ptr(dw)).I32(int32(k)).I32(int32(n)).I32(int32(m)).F32(beta)
		f, grid, block := b.gemm(opTN, k, n)
		return b.launch(f, grid, block)
	}
}

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

// sumSquares queues Σx² of x into acc (mode 0: add, mode 1: acc = sqrt).
func (b *Backend) sumSquares(acc, x engine.Matrix, mode int32) error {
	nb := kernels.ReduceGrid(int64(x.Len()))
	b.args.Reset().Ptr(b.ptr(x)).Ptr(b.partial).I64(int64(x.Len()))
	if err := b.launch(b.k.sumsqPartial, dim1(nb), dim1(kernels.ReduceThreads)); err != nil {
		return err
	}
	b.args.Reset().Ptr(b.partial).I32(int32(nb)).Ptr(b.ptr(acc)).I32(mode)
	return b.launch(b.k.sumsqFinish, dim1(1), dim1(kernels.ReduceThreads))
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

// SumSquares adds Σx² to acc.
func (b *Backend) SumSquares(acc, x engine.Matrix) error {
	if err := engine.CheckScalarOut("SumSquares", acc, x); err != nil {
		return err
	}
	if err := b.enter("SumSquares", acc, x); err != nil {
		return err
	}
	return b.sumSquares(acc, x, 0)
}

// ColMean writes the mean of each column of x into out.
func (b *Backend) ColMean(out, x engine.Matrix) error {
	if err := engine.CheckColMean(out, x); err != nil {
		return err
	}
	if err := b.enter("ColMean", out, x); err != nil {
		return err
	}
	b.args.Reset().Ptr(b.ptr(x)).Ptr(b.ptr(out)).I32(int32(x.Rows)).I32(int32(x.Cols))
	return b.launch(b.k.colMean, dim1((x.Cols+kernels.ColMeanThreads-1)/kernels.ColMeanThreads), dim1(kernels.ColMeanThreads))
}

func (b *Backend) fill(x engine.Matrix, v float32) error {
	n := x.Len()
	if n == 0 {
		return nil
	}
	b.args.Reset().Ptr(b.ptr(x)).I64(int64(n)).F32(v)
	return b.launch(b.k.fill, elemGrid(n), dim1(kernels.ElemThreads))
}

// Fill sets every element of x to v.
func (b *Backend) Fill(x engine.Matrix, v float32) error {
	if err := engine.CheckUnary("Fill", x); err != nil {
		return err
	}
	if err := b.enter("Fill", x); err != nil {
		return err
	}
	return b.fill(x, v)
}

// Copy copies src into dst.
func (b *Backend) Copy(dst, src engine.Matrix) error {
	if err := engine.CheckBinary("Copy", dst, src); err != nil {
		return err
	}
	if err := b.enter("Copy", dst, src); err != nil {
		return err
	}
	if n := src.Len(); n > 0 && b.ptr(dst) != b.ptr(src) {
		return cu.MemcpyDtoDAsync(b.ptr(dst), b.ptr(src), int64(4*n), b.stream)
	}
	return nil
}

// Axpy computes y += alpha·x.
func (b *Backend) Axpy(alpha float32, x, y engine.Matrix) error {
	if err := engine.CheckBinary("Axpy", x, y); err != nil {
		return err
	}
	if err := b.enter("Axpy", x, y); err != nil {
		return err
	}
	n := x.Len()
	if n == 0 {
		return nil
	}
	b.args.Reset().F32(alpha).Ptr(b.ptr(x)).Ptr(b.ptr(y)).I64(int64(n))
	return b.launch(b.k.axpy, elemGrid(n), dim1(kernels.ElemThreads))
}

// Scale computes x *= alpha.
func (b *Backend) Scale(x engine.Matrix, alpha float32) error {
	if err := engine.CheckUnary("Scale", x); err != nil {
		return err
	}
	if err := b.enter("Scale", x); err != nil {
		return err
	}
	n := x.Len()
	if n == 0 {
		return nil
	}
	b.args.Reset().Ptr(b.ptr(x)).I64(int64(n)).F32(alpha)
	return b.launch(b.k.scale, elemGrid(n), dim1(kernels.ElemThreads))
}

// RandUniform fills dst from the Philox Uniform stream of (seed, stream).
func (b *Backend) RandUniform(dst engine.Matrix, seed, stream uint64, lo, hi float32) error {
	if err := engine.CheckUnary("RandUniform", dst); err != nil {
		return err
	}
	if err := b.enter("RandUniform", dst); err != nil {
		return err
	}
	n := dst.Len()
	if n == 0 {
		return nil
	}
	b.args.Reset().Ptr(b.ptr(dst)).I64(int64(n)).U64(seed).U64(stream).F32(lo).F32(hi)
	return b.launch(b.k.randU, dim1(kernels.ElemGrid(int64(n), kernels.RandPerThread)), dim1(kernels.ElemThreads))
}

// RandNormal fills dst from the Philox Normal stream of (seed, stream).
func (b *Backend) RandNormal(dst engine.Matrix, seed, stream uint64, mean, std float32) error {
	if err := engine.CheckUnary("RandNormal", dst); err != nil {
		return err
	}
	if err := b.enter("RandNormal", dst); err != nil {
		return err
	}
	n := dst.Len()
	if n == 0 {
		return nil
	}
	b.args.Reset().Ptr(b.ptr(dst)).I64(int64(n)).U64(seed).U64(stream).F32(mean).F32(std)
	return b.launch(b.k.randN, dim1(kernels.ElemGrid(int64(n), kernels.RandPerThread)), dim1(kernels.ElemThreads))
}

// Corrupt writes a corrupted copy of src into dst with corrupt_f32 (dst may
// be src itself), element i drawing element i of the (seed, stream) streams.
func (b *Backend) Corrupt(dst, src engine.Matrix, kind engine.Noise, level float32, seed, stream uint64) error {
	if err := engine.CheckCorrupt(dst, src, kind, level); err != nil {
		return err
	}
	if err := b.enter("Corrupt", dst, src); err != nil {
		return err
	}
	n := dst.Len()
	if n == 0 || (kind == engine.NoiseNone && b.ptr(dst) == b.ptr(src)) {
		return nil
	}
	b.args.Reset().Ptr(b.ptr(dst)).Ptr(b.ptr(src)).I64(int64(n)).I32(int32(kind)).F32(level).U64(seed).U64(stream)
	return b.launch(b.k.corrupt, dim1(kernels.ElemGrid(int64(n), kernels.RandPerThread)), dim1(kernels.ElemThreads))
}
