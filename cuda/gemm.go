package cuda

import (
	"github.com/aegpu/aegpu/cuda/internal/cu"
	"github.com/aegpu/aegpu/engine"
	"github.com/aegpu/aegpu/kernels"
)

// The GEMM kernels' choice: which kernel, grid and block compute a product
// in the backend's precision (as cpu_fallback/gemm.go holds the CPU's GEMM).
//
// The GEMM kernels form a table, precision × shape × tile, each named
//
//	gemm_<shape><precision suffix><tile suffix>
//
// e.g. gemm_nt_bias_act (fp32, 128×128), gemm_nn_tf32_64 (TF32, 64×64).

// gemmPrec is the precision of a GEMM kernel (gemmPrecOf: the backend's).
type gemmPrec int

const (
	precFP32 gemmPrec = iota // gemm.cu, no suffix
	precTF32                 // gemm_tf32.cu, _tf32
	precBF16                 // gemm_bf16.cu, _bf16
	numGemmPrecs
)

// gemmShape is what a GEMM kernel computes; the names are the kernels'.
type gemmShape int

const (
	gemmNTBiasAct gemmShape = iota // Z = X·Wᵀ + b, Y = act(Z) (Dense)
	gemmNN                         // C = A·B + βC (dX)
	gemmTN                         // C = Aᵀ·B + βC (dW)
	gemmNNBiasAct                  // Z = X·W + b, Y = act(Z) (Dense, TransW)
	gemmNT                         // C = A·Bᵀ + βC (dX, TransW)
	numGemmShapes
)

// gemmTile is a GEMM kernel's tile: the default (128×128) or the small one
// (64×64, the _64 kernels) for problems too small to fill the device.
type gemmTile int

const (
	tileDefault gemmTile = iota
	tile64
	numGemmTiles
)

var (
	gemmPrecSuffix = [numGemmPrecs]string{precFP32: "", precTF32: "_tf32", precBF16: "_bf16"}
	gemmShapeName  = [numGemmShapes]string{
		gemmNTBiasAct: "gemm_nt_bias_act", gemmNN: "gemm_nn", gemmTN: "gemm_tn",
		gemmNNBiasAct: "gemm_nn_bias_act", gemmNT: "gemm_nt",
	}
	gemmTileSuffix = [numGemmTiles]string{tileDefault: "", tile64: "_64"}
)

// gemmKernelName is the name in the fatbin (kernels/ABI.md) of a GEMM kernel.
func gemmKernelName(p gemmPrec, s gemmShape, t gemmTile) string {
	return gemmShapeName[s] + gemmPrecSuffix[p] + gemmTileSuffix[t]
}

// gemmKernels holds the GEMM kernels' handles: [precision][shape][tile].
type gemmKernels [numGemmPrecs][numGemmShapes][numGemmTiles]cu.Function

// gemmGeom is the launch geometry of a tile: bm×bn of C per block of
// threads.
type gemmGeom struct{ bm, bn, threads int }

// gemmTiles is the geometry of each precision's tiles (kernels/geometry.cuh).
var gemmTiles = [numGemmPrecs][numGemmTiles]gemmGeom{
	precFP32: {
		tileDefault: {kernels.GemmBM, kernels.GemmBN, kernels.GemmThreads},
		tile64:      {kernels.Gemm64BM, kernels.Gemm64BN, kernels.Gemm64Threads},
	},
	precTF32: {
		tileDefault: {kernels.GemmTF32BM, kernels.GemmTF32BN, kernels.GemmTF32Threads},
		tile64:      {kernels.GemmTF32x64BM, kernels.GemmTF32x64BN, kernels.GemmTF32x64Threads},
	},
	precBF16: {
		tileDefault: {kernels.GemmBF16BM, kernels.GemmBF16BN, kernels.GemmBF16Threads},
		tile64:      {kernels.GemmBF16x64BM, kernels.GemmBF16x64BN, kernels.GemmBF16x64Threads},
	},
}

// gemmPrecOf maps the backend's precision to its GEMM kernels' (SetPrecision
// admits no other).
func gemmPrecOf(p engine.Precision) gemmPrec {
	switch p {
	case engine.TF32:
		return precTF32
	case engine.BF16:
		return precBF16
	}
	return precFP32
}

// gemm picks the kernel, grid and block of shape s producing C [m×n] in the
// backend's precision: the default tile when it gives every SM a block,
// else the 64×64 tile (4× the blocks). Both tiles give bitwise-identical
// results (one in-order chain of FMAs or mma steps per output).
func (b *Backend) gemm(s gemmShape, m, n int) (cu.Function, [3]uint32, [3]uint32) {
	p := gemmPrecOf(b.prec)
	t := tileDefault
	g := gemmTiles[p][t]
	x, y := kernels.GemmGrid(m, n, g.bm, g.bn)
	if x*y < b.dev.SMs {
		t = tile64
		g = gemmTiles[p][t]
		x, y = kernels.GemmGrid(m, n, g.bm, g.bn)
	}
	return b.k.gemm[p][s][t], [3]uint32{uint32(x), uint32(y), 1}, dim1(g.threads)
}
