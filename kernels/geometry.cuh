// Launch geometry of aegpu's kernels. Every #define here is mirrored by a Go
// constant in kernels/kernels.go (checked by TestGeometryMirrored), from
// which the Go launcher computes grids. Changing one means rebuilding the
// fatbin (make kernels).
#pragma once

// GEMMs, large tile (gemm_nt_bias_act, gemm_nn, gemm_tn, gemm_nn_bias_act,
// gemm_nt): a block computes a
// GEMM_BM×GEMM_BN tile of C with GEMM_THREADS threads, each an
// GEMM_TM×GEMM_TN register block; K advances GEMM_BK at a time.
// Grid: (ceil(N/GEMM_BN), ceil(M/GEMM_BM)), block (GEMM_THREADS, 1, 1).
#define GEMM_BM 128
#define GEMM_BN 128
#define GEMM_BK 8
#define GEMM_TM 8
#define GEMM_TN 8
#define GEMM_THREADS 256

// GEMMs, small tile (the *_64 kernels), for problems too small to fill the
// device with 128×128 tiles. Same grid rule with GEMM64_BM/GEMM64_BN.
#define GEMM64_BM 64
#define GEMM64_BN 64
#define GEMM64_BK 16
#define GEMM64_TM 4
#define GEMM64_TN 4
#define GEMM64_THREADS 256

// TF32 tensor-core GEMMs (gemm_tf32.cu on gemm_tc.cuh, the *_tf32 kernels,
// sm_80+): a block of GEMM_TF32_WARPS_M × GEMM_TF32_WARPS_N warps
// (GEMM_TF32_THREADS threads) computes a GEMM_TF32_BM×GEMM_TF32_BN tile of
// C, each warp a (BM/WARPS_M)×(BN/WARPS_N) sub-tile of 16×8
// mma.sync.m16n8k8 tiles; K advances GEMM_TF32_BK at a time (both
// configurations). The *_tf32_64 kernels: the same with the GEMM_TF32X64_*
// tile. Grid: (ceil(N/BN), ceil(M/BM)), block (THREADS, 1, 1).
#define GEMM_TF32_BM 128
#define GEMM_TF32_BN 128
#define GEMM_TF32_BK 16
#define GEMM_TF32_WARPS_M 2
#define GEMM_TF32_WARPS_N 4
#define GEMM_TF32_THREADS 256
#define GEMM_TF32X64_BM 64
#define GEMM_TF32X64_BN 64
#define GEMM_TF32X64_WARPS_M 2
#define GEMM_TF32X64_WARPS_N 2
#define GEMM_TF32X64_THREADS 128

// BF16 tensor-core GEMMs (gemm_bf16.cu on gemm_tc.cuh, the *_bf16 kernels,
// sm_80+): the same tile code and rule, with the GEMM_BF16_* tile (each
// warp's sub-tile 16×8 mma.sync.m16n8k16 tiles; K advances GEMM_BF16_BK at
// a time, both configurations) and the GEMM_BF16X64_* tile (*_bf16_64).
#define GEMM_BF16_BM 128
#define GEMM_BF16_BN 128
#define GEMM_BF16_BK 16
#define GEMM_BF16_WARPS_M 2
#define GEMM_BF16_WARPS_N 4
#define GEMM_BF16_THREADS 256
#define GEMM_BF16X64_BM 64
#define GEMM_BF16X64_BN 64
#define GEMM_BF16X64_WARPS_M 2
#define GEMM_BF16X64_WARPS_N 2
#define GEMM_BF16X64_THREADS 128

// act_grad_bias: grid ceil(N/ACTGRAD_COLS), block (ACTGRAD_COLS, ACTGRAD_ROWS).
#define ACTGRAD_COLS 32
#define ACTGRAD_ROWS 8

// Two-pass reductions: *_partial on at most REDUCE_BLOCKS blocks of
// REDUCE_THREADS threads (any grid up to REDUCE_BLOCKS works: the partial
// scratch must hold gridDim.x doubles), *_finish on one block of
// REDUCE_THREADS. row_loss: one block of REDUCE_THREADS per row.
// REDUCE_THREADS must be a multiple of 32; a block may have at most
// REDUCE_THREADS threads.
#define REDUCE_BLOCKS 512
#define REDUCE_THREADS 256

// col_mean: one thread per column, blocks of COLMEAN_THREADS.
#define COLMEAN_THREADS 256

// Elementwise, optimizer and clip kernels are grid-stride loops: any grid is
// correct; the launcher uses blocks of ELEM_THREADS and at most
// ELEM_MAX_BLOCKS blocks. rand_uniform/rand_normal/corrupt_f32 make
// RAND_PER_THREAD consecutive elements per thread and step (one Philox block,
// so RAND_PER_THREAD must stay 4).
#define ELEM_THREADS 256
#define ELEM_MAX_BLOCKS 4096
#define RAND_PER_THREAD 4
