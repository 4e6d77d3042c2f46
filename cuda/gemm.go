package cuda

import (
	"github.com/aegpu/aegpu/cuda/internal/cu"
	"github.com/aegpu/aegpu/engine"
	"github.com/aegpu/aegpu/kernels"
)

// The GEMM kernels' choice: which kernel, grid and block compute a product
// in the backend's precision (as cpu_fallback/gemm.go holds the CPU's GEMM).

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
