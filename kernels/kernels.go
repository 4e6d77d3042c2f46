// Package kernels holds aegpu's CUDA kernels: their sources (*.cu, *.cuh),
// the fatbin nvcc builds from them (aegpu.fatbin: SASS for sm_70, sm_75,
// sm_80, sm_86, sm_89 and sm_90, PTX for compute_90), embedded here for
// cuModuleLoadData, and the launch geometry the Go launcher needs.
//
// ABI.md is the contract: kernel names, parameters and semantics. The
// constants below mirror the #defines of geometry.cuh (TestGeometryMirrored
// checks them). The fatbin is committed; it is rebuilt with `make kernels`
// (kernels/build.sh, which needs nvcc), and TestStamp fails when the sources
// changed but the fatbin was not rebuilt. The sources are also compiled for
// the CPU by the emulator in kernels/emu, whose tests check every kernel
// against the CPU backend on machines without a GPU.
package kernels

import (
	_ "embed"
	"strings"
)

// Fatbin is the fat binary of every kernel in ABI.md.
//
//go:embed aegpu.fatbin
var Fatbin []byte

// Stamp is the content of aegpu.fatbin.sha256, written by build.sh: the
// sha256 of the sources the fatbin was built from, of the fatbin itself, and
// the nvcc version.
//
//go:embed aegpu.fatbin.sha256
var Stamp string

// SourcesSHA256 is the sha256 of the kernel sources (kernels/*.cu and
// kernels/*.cuh, sorted by name, concatenated) that Fatbin was built from.
func SourcesSHA256() string { return stampField("sources") }

// FatbinSHA256 is the sha256 of Fatbin as recorded by build.sh.
func FatbinSHA256() string { return stampField("fatbin") }

// NvccVersion is the nvcc that built Fatbin.
func NvccVersion() string { return stampField("nvcc") }

func stampField(key string) string {
	for _, line := range strings.Split(Stamp, "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), " "); ok && k == key {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// Launch geometry (geometry.cuh). Kernel parameters of C type int are int32
// on the Go side, long long int64, unsigned long long uint64.
const (
	// gemm_nt_bias_act, gemm_nn, gemm_tn, gemm_nn_bias_act, gemm_nt: grid
	// (⌈N/GemmBN⌉, ⌈M/GemmBM⌉), block GemmThreads.
	GemmBM      = 128 // GEMM_BM
	GemmBN      = 128 // GEMM_BN
	GemmBK      = 8   // GEMM_BK
	GemmTM      = 8   // GEMM_TM
	GemmTN      = 8   // GEMM_TN
	GemmThreads = 256 // GEMM_THREADS

	// The *_64 variants: grid (⌈N/Gemm64BN⌉, ⌈M/Gemm64BM⌉), block Gemm64Threads.
	Gemm64BM      = 64  // GEMM64_BM
	Gemm64BN      = 64  // GEMM64_BN
	Gemm64BK      = 16  // GEMM64_BK
	Gemm64TM      = 4   // GEMM64_TM
	Gemm64TN      = 4   // GEMM64_TN
	Gemm64Threads = 256 // GEMM64_THREADS

	// The TF32 tensor-core GEMMs (gemm_*_tf32, sm_80+): grid
	// (⌈N/GemmTF32BN⌉, ⌈M/GemmTF32BM⌉), block GemmTF32Threads, of
	// GemmTF32WarpsM × GemmTF32WarpsN warps; K steps of GemmTF32BK.
	GemmTF32BM      = 128 // GEMM_TF32_BM
	GemmTF32BN      = 128 // GEMM_TF32_BN
	GemmTF32BK      = 16  // GEMM_TF32_BK
	GemmTF32WarpsM  = 2   // GEMM_TF32_WARPS_M
	GemmTF32WarpsN  = 4   // GEMM_TF32_WARPS_N
	GemmTF32Threads = 256 // GEMM_TF32_THREADS

	// The gemm_*_tf32_64 variants: grid (⌈N/GemmTF32x64BN⌉,
	// ⌈M/GemmTF32x64BM⌉), block GemmTF32x64Threads.
	GemmTF32x64BM      = 64  // GEMM_TF32X64_BM
	GemmTF32x64BN      = 64  // GEMM_TF32X64_BN
	GemmTF32x64WarpsM  = 2   // GEMM_TF32X64_WARPS_M
	GemmTF32x64WarpsN  = 2   // GEMM_TF32X64_WARPS_N
	GemmTF32x64Threads = 128 // GEMM_TF32X64_THREADS

	// The BF16 tensor-core GEMMs (gemm_*_bf16, sm_80+): grid
	// (⌈N/GemmBF16BN⌉, ⌈M/GemmBF16BM⌉), block GemmBF16Threads, of
	// GemmBF16WarpsM × GemmBF16WarpsN warps; K steps of GemmBF16BK.
	GemmBF16BM      = 128 // GEMM_BF16_BM
	GemmBF16BN      = 128 // GEMM_BF16_BN
	GemmBF16BK      = 16  // GEMM_BF16_BK
	GemmBF16WarpsM  = 2   // GEMM_BF16_WARPS_M
	GemmBF16WarpsN  = 4   // GEMM_BF16_WARPS_N
	GemmBF16Threads = 256 // GEMM_BF16_THREADS

	// The gemm_*_bf16_64 variants: grid (⌈N/GemmBF16x64BN⌉,
	// ⌈M/GemmBF16x64BM⌉), block GemmBF16x64Threads.
	GemmBF16x64BM      = 64  // GEMM_BF16X64_BM
	GemmBF16x64BN      = 64  // GEMM_BF16X64_BN
	GemmBF16x64WarpsM  = 2   // GEMM_BF16X64_WARPS_M
	GemmBF16x64WarpsN  = 2   // GEMM_BF16X64_WARPS_N
	GemmBF16x64Threads = 128 // GEMM_BF16X64_THREADS

	// act_grad_bias: grid ⌈N/ActGradCols⌉, block (ActGradCols, ActGradRows).
	ActGradCols = 32 // ACTGRAD_COLS
	ActGradRows = 8  // ACTGRAD_ROWS

	// *_partial: at most ReduceBlocks blocks of ReduceThreads (the partial
	// scratch holds one float64 per block); *_finish: one block of
	// ReduceThreads; row_loss: one block of ReduceThreads per row.
	ReduceBlocks  = 512 // REDUCE_BLOCKS
	ReduceThreads = 256 // REDUCE_THREADS

	// col_mean: ⌈cols/ColMeanThreads⌉ blocks of ColMeanThreads.
	ColMeanThreads = 256 // COLMEAN_THREADS

	// Elementwise, optimizer, clip and random kernels: blocks of
	// ElemThreads, at most ElemMaxBlocks; the random kernels (rand_*,
	// corrupt_f32) make RandPerThread elements per thread and step.
	ElemThreads   = 256  // ELEM_THREADS
	ElemMaxBlocks = 4096 // ELEM_MAX_BLOCKS
	RandPerThread = 4    // RAND_PER_THREAD
)

// Names lists every kernel of ABI.md, in its order.
var Names = []string{
	"gemm_nt_bias_act", "gemm_nn", "gemm_tn",
	"gemm_nt_bias_act_64", "gemm_nn_64", "gemm_tn_64",
	"gemm_nn_bias_act", "gemm_nn_bias_act_64", "gemm_nt", "gemm_nt_64",
	"gemm_nt_bias_act_tf32", "gemm_nn_tf32", "gemm_tn_tf32", "gemm_nn_bias_act_tf32", "gemm_nt_tf32",
	"gemm_nt_bias_act_tf32_64", "gemm_nn_tf32_64", "gemm_tn_tf32_64", "gemm_nn_bias_act_tf32_64", "gemm_nt_tf32_64",
	"gemm_nt_bias_act_bf16", "gemm_nn_bf16", "gemm_tn_bf16", "gemm_nn_bias_act_bf16", "gemm_nt_bf16",
	"gemm_nt_bias_act_bf16_64", "gemm_nn_bf16_64", "gemm_tn_bf16_64", "gemm_nn_bias_act_bf16_64", "gemm_nt_bf16_64",
	"act_grad_bias",
	"loss_grad_partial", "loss_finish", "row_loss", "col_mean",
	"sumsq_partial", "sumsq_finish", "clip_scale",
	"adam_step", "sgd_step",
	"fill_f32", "copy_f32", "axpy_f32", "ema_f32", "scale_f32", "rand_uniform", "rand_normal",
	"corrupt_f32",
	"sparsity_grad", "contractive_exact", "act_jvp", "act_jvp_backward", "act_grad_add",
	"reparam_f32", "reparam_grad_partial",
	"layernorm_fwd", "layernorm_bwd_dx", "layernorm_bwd_params",
}

func ceilDiv(a, b int64) int64 { return (a + b - 1) / b }

// GemmGrid is the grid (x, y) of a GEMM producing C [m×n] with tiles of
// bm×bn (GemmBM×GemmBN, or Gemm64BM×Gemm64BN for the *_64 kernels;
// GemmTF32BM×GemmTF32BN or GemmTF32x64BM×GemmTF32x64BN for the TF32 ones,
// GemmBF16BM×GemmBF16BN or GemmBF16x64BM×GemmBF16x64BN for the BF16 ones).
func GemmGrid(m, n, bm, bn int) (x, y int) {
	return int(ceilDiv(int64(n), int64(bn))), int(ceilDiv(int64(m), int64(bm)))
}

// ReduceGrid is the number of blocks of ReduceThreads for a *_partial
// kernel over n elements: enough to give each thread work, at most
// ReduceBlocks, at least 1.
func ReduceGrid(n int64) int {
	return int(max(1, min(ReduceBlocks, ceilDiv(n, ReduceThreads))))
}

// ElemGrid is the number of blocks of ElemThreads for a grid-stride kernel
// over n elements (each thread taking perThread elements per step: 1, or
// RandPerThread for the random kernels rand_* and corrupt_f32), at most
// ElemMaxBlocks, at least 1.
func ElemGrid(n int64, perThread int) int {
	return int(max(1, min(ElemMaxBlocks, ceilDiv(ceilDiv(n, int64(perThread)), ElemThreads))))
}
