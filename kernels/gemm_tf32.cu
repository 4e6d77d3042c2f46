// TF32 tensor-core GEMMs (engine.TF32, `--precision tf32`): the *_tf32 and
// *_tf32_64 kernels, gemm_tc.cuh's tile code with
//
//   mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32
//
// operands rounded to TF32 (cvt.rna.tf32.f32: 10 mantissa bits, to nearest,
// ties away from zero), two k8 steps per K tile of GEMM_TF32_BK. Tiles:
// GEMM_TF32 (128×128) and GEMM_TF32X64 (64×64), geometry.cuh.
//
// Fragments (PTX ISA §9.7.14.5.7, "Matrix Fragments for mma.m16n8k8", .tf32),
// for the 16×8 A tile at (r0, k0) and the 8×8 B tile at (k0, n0):
//   a0 = A(r0+g,   k0+t)    a1 = A(r0+g+8, k0+t)
//   a2 = A(r0+g,   k0+t+4)  a3 = A(r0+g+8, k0+t+4)
//   b0 = B(k0+t,   n0+g)    b1 = B(k0+t+4, n0+g)
//   c0 = C(r0+g, n0+2t)  c1 = C(r0+g, n0+2t+1)  c2 = C(r0+g+8, n0+2t)  c3 = C(r0+g+8, n0+2t+1)
#pragma once

#include "common.cuh"
#include "gemm_tc.cuh"

// tf32_round is cvt.rna.tf32.f32: x rounded to TF32, as its .b32 pattern.
__device__ __forceinline__ unsigned int tf32_round(float x) {
#if defined(AEGPU_EMULATOR)
  return emu::cvt_rna_tf32(x);
#elif defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  unsigned int r;
  asm("cvt.rna.tf32.f32 %0, %1;" : "=r"(r) : "f"(x));
  return r;
#else
  __trap();
  return 0u;
#endif
}

// mma_tf32_tile issues MI×NI mma.sync.m16n8k8 TF32 instructions of the
// warp: acc[i][j] += A_i·B_j, A_i the 16×8 tile in fragment a[i], B_j the
// 8×8 tile in fragment b[j]. Every lane of the warp must call it with the
// same MI, NI (.aligned).
template <int MI, int NI>
__device__ __forceinline__ void mma_tf32_tile(float (&acc)[MI][NI][4], const unsigned int (&a)[MI][4],
                                              const unsigned int (&b)[NI][2]) {
#if defined(AEGPU_EMULATOR)
  emu::mma_m16n8k8_tf32_tile<MI, NI>(acc, a, b);
#elif defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
#pragma unroll
  for (int i = 0; i < MI; ++i)
#pragma unroll
    for (int j = 0; j < NI; ++j)
      asm volatile(
          "mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
          "{%0, %1, %2, %3};\n"
          : "+f"(acc[i][j][0]), "+f"(acc[i][j][1]), "+f"(acc[i][j][2]), "+f"(acc[i][j][3])
          : "r"(a[i][0]), "r"(a[i][1]), "r"(a[i][2]), "r"(a[i][3]), "r"(b[j][0]), "r"(b[j][1]));
#else
  __trap();
#endif
}

// PrecTF32, the TF32 operand precision of the tile code (gemm_tc.cuh): the
// tiles hold the TF32-rounded operands as fp32 words, one per register.
// KSTEP: k of one mma; EPR: operand elements per .b32 register.
struct PrecTF32 {
  static constexpr int KSTEP = 8, EPR = 1;
  __device__ __forceinline__ static float4 convert4(float x0, float x1, float x2, float x3) {
    return make_float4(__uint_as_float(tf32_round(x0)), __uint_as_float(tf32_round(x1)),
                       __uint_as_float(tf32_round(x2)), __uint_as_float(tf32_round(x3)));
  }
  template <class T>
  __device__ __forceinline__ static unsigned int frag(const float* s, int r, int k) {
    return __float_as_uint(s[T::at(r, k)]);
  }
  template <int MI, int NI>
  __device__ __forceinline__ static void mma(float (&acc)[MI][NI][4], const unsigned int (&a)[MI][4],
                                             const unsigned int (&b)[NI][2]) {
    mma_tf32_tile<MI, NI>(acc, a, b);
  }
};

static_assert(GEMM_TF32_THREADS == 32 * GEMM_TF32_WARPS_M * GEMM_TF32_WARPS_N, "GEMM_TF32_THREADS");
static_assert(GEMM_TF32X64_THREADS == 32 * GEMM_TF32X64_WARPS_M * GEMM_TF32X64_WARPS_N, "GEMM_TF32X64_THREADS");

DEFINE_GEMM_TC_ALL(PrecTF32, tf32, GEMM_TF32, GEMM_TF32X64)
