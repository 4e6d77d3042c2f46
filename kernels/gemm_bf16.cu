// BF16 tensor-core GEMMs (engine.BF16, `--precision bf16`): the *_bf16 and
// *_bf16_64 kernels, gemm_tc.cuh's tile code (the TF32 kernels' tiles,
// gemm_tf32.cu) with
//
//   mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32
//
// operands rounded to bf16 by cvt.rn.bf16x2.f32 (7 stored mantissa bits, to
// nearest, ties to even), one k16 step per K tile of GEMM_BF16_BK. Tiles:
// GEMM_BF16 (128×128) and GEMM_BF16X64 (64×64), geometry.cuh.
//
// PrecBF16: the tiles hold each operand rounded to bf16 (as an fp32 word,
// so the layouts of gemm_tc.cuh are shared), one m16n8k16 step per K tile;
// fragment register r packs the elements at k and k+1 (PTX ISA §9.7.14.5.8,
// .bf16): a0 = {A(r0+g, k0+2t), A(r0+g, k0+2t+1)}, a1 rows +8, a2/a3 k +8;
// b0 = {B(k0+2t, n0+g), B(k0+2t+1, n0+g)}, b1 k +8 (lower k in the lower
// half); C/D as the TF32 fragments' (gemm_tf32.cu).
#pragma once

#include "common.cuh"
#include "gemm_tc.cuh"

// bf16_round2 is cvt.rn.bf16x2.f32 d, hi, lo: both rounded to bf16 (7
// stored mantissa bits, 8 significant; to nearest, ties to even), hi in the
// upper half of d, lo in the lower.
__device__ __forceinline__ unsigned int bf16_round2(float hi, float lo) {
#if defined(AEGPU_EMULATOR)
  return emu::cvt_rn_bf16x2(hi, lo);
#elif defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  unsigned int r;
  asm("cvt.rn.bf16x2.f32 %0, %1, %2;" : "=r"(r) : "f"(hi), "f"(lo));
  return r;
#else
  __trap();
  return 0u;
#endif
}

// mma_bf16_tile: as mma_tf32_tile with mma.sync.m16n8k16 BF16 (each .b32
// register two bf16, the lower half the element of lower k).
template <int MI, int NI>
__device__ __forceinline__ void mma_bf16_tile(float (&acc)[MI][NI][4], const unsigned int (&a)[MI][4],
                                              const unsigned int (&b)[NI][2]) {
#if defined(AEGPU_EMULATOR)
  emu::mma_m16n8k16_bf16_tile<MI, NI>(acc, a, b);
#elif defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
#pragma unroll
  for (int i = 0; i < MI; ++i)
#pragma unroll
    for (int j = 0; j < NI; ++j)
      asm volatile(
          "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
          "{%0, %1, %2, %3};\n"
          : "+f"(acc[i][j][0]), "+f"(acc[i][j][1]), "+f"(acc[i][j][2]), "+f"(acc[i][j][3])
          : "r"(a[i][0]), "r"(a[i][1]), "r"(a[i][2]), "r"(a[i][3]), "r"(b[j][0]), "r"(b[j][1]));
#else
  __trap();
#endif
}

// PrecBF16, the BF16 operand precision of the tile code (gemm_tc.cuh).
// A tile word is its bf16 in the upper half, zeros below (exactly the
// bf16 value as an fp32); a register packs (r, k) low and (r, k+1) high.
struct PrecBF16 {
  static constexpr int KSTEP = 16, EPR = 2;
  __device__ __forceinline__ static float4 convert4(float x0, float x1, float x2, float x3) {
    const unsigned int p01 = bf16_round2(x1, x0), p23 = bf16_round2(x3, x2);
    return make_float4(__uint_as_float(p01 << 16), __uint_as_float(p01 & 0xFFFF0000u),
                       __uint_as_float(p23 << 16), __uint_as_float(p23 & 0xFFFF0000u));
  }
  template <class T>
  __device__ __forceinline__ static unsigned int frag(const float* s, int r, int k) {
    const unsigned int lo = __float_as_uint(s[T::at(r, k)]), hi = __float_as_uint(s[T::at(r, k + 1)]);
    return (hi & 0xFFFF0000u) | (lo >> 16);
  }
  template <int MI, int NI>
  __device__ __forceinline__ static void mma(float (&acc)[MI][NI][4], const unsigned int (&a)[MI][4],
                                             const unsigned int (&b)[NI][2]) {
    mma_bf16_tile<MI, NI>(acc, a, b);
  }
};

static_assert(GEMM_BF16_THREADS == 32 * GEMM_BF16_WARPS_M * GEMM_BF16_WARPS_N, "GEMM_BF16_THREADS");
static_assert(GEMM_BF16X64_THREADS == 32 * GEMM_BF16X64_WARPS_M * GEMM_BF16X64_WARPS_N, "GEMM_BF16X64_THREADS");

DEFINE_GEMM_TC_ALL(PrecBF16, bf16, GEMM_BF16, GEMM_BF16X64)
