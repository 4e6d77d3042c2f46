// Tensor-core GEMMs, TF32 (engine.TF32, `--precision tf32`) and BF16
// (engine.BF16, `--precision bf16`, PrecBF16 and the *_bf16 kernels at the
// end: the same tile code with mma.m16n8k16 .bf16 and cvt.rn.bf16x2.f32,
// see ABI.md). The TF32 kernels compute the products of
// gemm.cu — Dense forward Z = X·op(W) + b, Y = act(Z), and C = op(A)·op(B) +
// beta·C — on the tensor cores with
//
//   mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32
//
// operands rounded to TF32 (cvt.rna.tf32.f32: 10 mantissa bits, to nearest,
// ties away from zero), products accumulated in fp32, fp32 in and out
// (master weights stay fp32). Only sm_80 and later have the instruction: for
// older architectures every kernel here is a __trap() (the Go side selects
// them only on compute capability ≥ 8.0). The CPU emulator (kernels/emu)
// runs them with an emulated mma.sync and cvt (emu/cuda_emu.h).
//
// Tiling. A block of WM×WN warps computes a BM×BN tile of C; warp (wm, wn)
// computes the (BM/WM)×(BN/WN) sub-tile at rows wm·BM/WM, columns wn·BN/WN
// as MI×NI mma tiles of 16×8 (MI = BM/WM/16, NI = BN/WN/8). K advances
// GEMM_TF32_BK = 16 at a time, two k8 steps per tile. Shared memory is
// double-buffered with register prefetch: while the tensor cores work on
// tile kt, tile kt+1 is loaded into registers (gemm.cu's TileLoad: float4
// loads on interior tiles of 16-byte aligned operands, bounds-checked scalar
// loads with zero fill elsewhere), then converted to TF32 and stored into the
// other buffer. Each operand tile keeps the source's contiguous dimension
// contiguous in shared memory, so every global load and shared store is a
// float4:
//
//   K-contiguous source ([rows×K]):  S[r][k], row stride BK + 4
//   rows-contiguous source ([K×rows]): S[k][r], row stride ROWS + 8
//
// and the fragment reads, lane (g, t) = (laneid >> 2, laneid % 4) reading
// S(row0 + g (+8), k0 + t (+4)), hit 32 distinct banks in both layouts
// (g·20 mod 32 and t·136 mod 32 = t·8 are distinct multiples of 4 and 8).
//
// Fragments (PTX ISA §9.7.14.5.7, "Matrix Fragments for mma.m16n8k8", .tf32),
// for the 16×8 A tile at (r0, k0) and the 8×8 B tile at (k0, n0):
//   a0 = A(r0+g,   k0+t)    a1 = A(r0+g+8, k0+t)
//   a2 = A(r0+g,   k0+t+4)  a3 = A(r0+g+8, k0+t+4)
//   b0 = B(k0+t,   n0+g)    b1 = B(k0+t+4, n0+g)
//   c0 = C(r0+g, n0+2t)  c1 = C(r0+g, n0+2t+1)  c2 = C(r0+g+8, n0+2t)  c3 = C(r0+g+8, n0+2t+1)
//
// Epilogue: the accumulators go through shared memory, one 16-row mma
// slot of every warp row at a time (WM·16 rows × BN), and are swept by all
// threads in row-major order (coalesced stores), applying the same bias and
// activation (act_forward, common.cuh) as gemm.cu's Dense epilogue, or
// beta·C.
//
// BF16 (PrecBF16): the tiles hold each operand rounded to bf16 (as an fp32
// word, so the layouts above are shared), one m16n8k16 step per K tile;
// fragment register r packs the elements at k and k+1 (PTX ISA §9.7.14.5.8,
// .bf16): a0 = {A(r0+g, k0+2t), A(r0+g, k0+2t+1)}, a1 rows +8, a2/a3 k +8;
// b0 = {B(k0+2t, n0+g), B(k0+2t+1, n0+g)}, b1 k +8 (lower k in the lower
// half); C/D as above.
//
// Determinism: every C element is the same chain of mma steps over k8 (TF32)
// or k16 (BF16) chunks in order (the zero-filled tail adds exact zeros),
// whatever the tile configuration and load path, so the 128×128 and 64×64
// kernels give bitwise the same results; run to run too (no atomics, no
// split-K).
#pragma once

#include "common.cuh"
#include "gemm.cu"

// The tensor-core code exists for sm_80+ (and for the emulator and the
// host pass, which compiles no device code).
#if defined(AEGPU_EMULATOR) || !defined(__CUDA_ARCH__) || __CUDA_ARCH__ >= 800
#define AEGPU_HAS_TF32 1
#else
#define AEGPU_HAS_TF32 0
#endif

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

// The operand precisions of the tensor-core GEMMs: what the shared-memory
// tiles hold (fp32 words whose value is the rounded operand), how a
// fragment register is read from a tile, and the mma. KSTEP: k of one mma;
// EPR: operand elements per .b32 register (consecutive k).
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

// BF16: a tile word is its bf16 in the upper half, zeros below (exactly the
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

// One operand tile in shared memory (see the header comment): KC, the
// source is [rows×K] and the tile S[r][k]; else [K×rows] and S[k][r].
template <int ROWS, bool KC>
struct TcTile {
  static constexpr int BK = GEMM_TF32_BK;
  static constexpr int LD = KC ? BK + 4 : ROWS + 8;
  static constexpr int SIZE = KC ? ROWS * LD : BK * LD;
  __device__ __forceinline__ static int at(int r, int k) { return KC ? r * LD + k : k * LD + r; }

  // store converts the registers of a TileLoad (its float4 groups, see
  // gemm.cu) to the precision P's operand values (P::convert4) and writes
  // them as float4s.
  template <class P, int THREADS>
  __device__ __forceinline__ static void store(const TileLoad<ROWS, BK, THREADS, KC>& l, float* S, int tid) {
    typedef TileLoad<ROWS, BK, THREADS, KC> L;
#pragma unroll
    for (int p = 0; p < L::PER; ++p) {
      const int f = tid + p * THREADS;
      const int off = KC ? at(f / (BK / 4), (f % (BK / 4)) * 4) : at((f % (ROWS / 4)) * 4, f / (ROWS / 4));
      *reinterpret_cast<float4*>(&S[off]) = P::convert4(l.v[4 * p + 0], l.v[4 * p + 1], l.v[4 * p + 2], l.v[4 * p + 3]);
    }
  }
};

// The block's shape: BM×BN tile, WM×WN warps.
template <int BM, int BN, int WM, int WN>
struct TcShape {
  static constexpr int THREADS = 32 * WM * WN;
  static constexpr int WTM = BM / WM, WTN = BN / WN;  // a warp's sub-tile
  static constexpr int MI = WTM / 16, NI = WTN / 8;   // its mma tiles
  static constexpr int STAGE_ROWS = 16 * WM;          // epilogue: rows per pass
  static constexpr int STAGE_LD = BN + 8;             // conflict-free float2 stores of c0,c1 / c2,c3
  static_assert(WTM % 16 == 0 && WTN % 8 == 0, "warp tile must be whole mma tiles");
  static constexpr int ASIZE = TcTile<BM, true>::SIZE > TcTile<BM, false>::SIZE ? TcTile<BM, true>::SIZE
                                                                                     : TcTile<BM, false>::SIZE;
  static constexpr int BSIZE = TcTile<BN, true>::SIZE > TcTile<BN, false>::SIZE ? TcTile<BN, true>::SIZE
                                                                                     : TcTile<BN, false>::SIZE;
  static_assert(STAGE_ROWS * STAGE_LD <= 2 * (ASIZE + BSIZE), "epilogue staging must fit in the tiles");
};

// The shared memory of one TF32 GEMM block (declared in each kernel, see
// GemmSmem in gemm.cu): two buffers of each operand tile, sized for either
// layout; the epilogue reuses the whole of it as its staging area.
template <int BM, int BN, int WM, int WN>
struct TcSmem {
  float s[2 * (TcShape<BM, BN, WM, WN>::ASIZE + TcShape<BM, BN, WM, WN>::BSIZE)];
};

// tc_mainloop accumulates the block's tile at (m0, n0): acc[i][j][e] is
// element e (c_e of the fragment layout) of the warp's mma tile (i, j).
// A(i, k) = A[i·lda + k] when A_KC, else A[k·lda + i]; B(k, j) = B[j·ldb + k]
// when B_KC, else B[k·ldb + j]. Every thread executes every barrier; it ends
// with one, after which the shared memory is free.
template <class P, int BM, int BN, int WM, int WN, bool A_KC, bool B_KC>
__device__ __forceinline__ void tc_mainloop(const float* __restrict__ A, int lda, const float* __restrict__ B,
                                              int ldb, int M, int N, int K, int m0, int n0,
                                              float (&acc)[TcShape<BM, BN, WM, WN>::MI][TcShape<BM, BN, WM, WN>::NI][4],
                                              float* smem) {
  typedef TcShape<BM, BN, WM, WN> S;
  typedef TcTile<BM, A_KC> TA;
  typedef TcTile<BN, B_KC> TB;
  constexpr int BK = GEMM_TF32_BK;
  const int tid = (int)threadIdx.x;
  const int warp = tid / 32, lane = tid % 32;
  const int g = lane >> 2, t = lane & 3;
  const int wr = (warp / WN) * S::WTM, wc = (warp % WN) * S::WTN;  // the warp's sub-tile in the block tile
  // Buffer c of A at smem + c·ASIZE, of B at smem + 2·ASIZE + c·BSIZE.
  float* const Bsm = smem + 2 * S::ASIZE;

#pragma unroll
  for (int i = 0; i < S::MI; ++i)
#pragma unroll
    for (int j = 0; j < S::NI; ++j)
#pragma unroll
      for (int e = 0; e < 4; ++e) acc[i][j][e] = 0.0f;

  const bool alignA = aligned16(A) && (lda & 3) == 0;
  const bool alignB = aligned16(B) && (ldb & 3) == 0;
  const bool fullM = m0 + BM <= M, fullN = n0 + BN <= N;

  TileLoad<BM, BK, S::THREADS, A_KC> la;
  TileLoad<BN, BK, S::THREADS, B_KC> lb;

  const int nk = (K + BK - 1) / BK;
  if (nk > 0) {
    const bool fullK = BK <= K;
    la.load(A, lda, m0, 0, M, K, alignA && fullM && fullK, tid);
    lb.load(B, ldb, n0, 0, N, K, alignB && fullN && fullK, tid);
    TA::template store<P, S::THREADS>(la, smem, tid);
    TB::template store<P, S::THREADS>(lb, Bsm, tid);
  }
  __syncthreads();

  for (int kt = 0; kt < nk; ++kt) {
    const int cur = kt & 1;
    const bool more = kt + 1 < nk;
    if (more) {  // the next tile into registers while the tensor cores work on this one
      const int k0 = (kt + 1) * BK;
      const bool fullK = k0 + BK <= K;
      la.load(A, lda, m0, k0, M, K, alignA && fullM && fullK, tid);
      lb.load(B, ldb, n0, k0, N, K, alignB && fullN && fullK, tid);
    }
    const float* as = smem + cur * S::ASIZE;
    const float* bs = Bsm + cur * S::BSIZE;
#pragma unroll
    for (int ks = 0; ks < BK; ks += P::KSTEP) {
      // Register r of the A fragment: rows +8·(r & 1), k +KSTEP/2·(r >> 1);
      // of the B fragment: k +KSTEP/2·r; within each, lane (g, t) holds
      // row/column g, k = P::EPR·t (+1) (see the header comment).
      constexpr int KH = P::KSTEP / 2;
      const int kt0 = ks + P::EPR * t;
      unsigned int a[S::MI][4], b[S::NI][2];
#pragma unroll
      for (int i = 0; i < S::MI; ++i) {
        const int r = wr + 16 * i + g;
        a[i][0] = P::template frag<TA>(as, r, kt0);
        a[i][1] = P::template frag<TA>(as, r + 8, kt0);
        a[i][2] = P::template frag<TA>(as, r, kt0 + KH);
        a[i][3] = P::template frag<TA>(as, r + 8, kt0 + KH);
      }
#pragma unroll
      for (int j = 0; j < S::NI; ++j) {
        const int c = wc + 8 * j + g;
        b[j][0] = P::template frag<TB>(bs, c, kt0);
        b[j][1] = P::template frag<TB>(bs, c, kt0 + KH);
      }
      P::template mma<S::MI, S::NI>(acc, a, b);
    }
    if (more) {
      // The other buffers were last read in iteration kt−1, which every
      // thread finished before the barrier that ended it.
      TA::template store<P, S::THREADS>(la, smem + (cur ^ 1) * S::ASIZE, tid);
      TB::template store<P, S::THREADS>(lb, Bsm + (cur ^ 1) * S::BSIZE, tid);
    }
    __syncthreads();
  }
}

// tc_epilogue writes the accumulators through the staging area, one mma
// row slot i at a time: the block's rows  wm·WTM + 16·i + (0…15)  for every
// warp row wm go to stage[16·wm + rr][col]; then all threads sweep the
// stage row-major, calling op(r, c, v) for each element inside the matrix
// (consecutive threads, consecutive columns).
template <int BM, int BN, int WM, int WN, class Op>
__device__ __forceinline__ void tc_epilogue(
    const float (&acc)[TcShape<BM, BN, WM, WN>::MI][TcShape<BM, BN, WM, WN>::NI][4], float* stage, int M, int N,
    int m0, int n0, const Op& op) {
  typedef TcShape<BM, BN, WM, WN> S;
  const int tid = (int)threadIdx.x;
  const int warp = tid / 32, lane = tid % 32;
  const int g = lane >> 2, t = lane & 3;
  const int wm = warp / WN, wc = (warp % WN) * S::WTN;
  constexpr int LD = S::STAGE_LD;
#pragma unroll
  for (int i = 0; i < S::MI; ++i) {
#pragma unroll
    for (int j = 0; j < S::NI; ++j) {
      const int c = wc + 8 * j + 2 * t;
      *reinterpret_cast<float2*>(&stage[(16 * wm + g) * LD + c]) = make_float2(acc[i][j][0], acc[i][j][1]);
      *reinterpret_cast<float2*>(&stage[(16 * wm + g + 8) * LD + c]) = make_float2(acc[i][j][2], acc[i][j][3]);
    }
    __syncthreads();
#pragma unroll 1
    for (int e = tid; e < S::STAGE_ROWS * BN; e += S::THREADS) {
      const int sr = e / BN, lc = e % BN;
      const int r = m0 + (sr / 16) * S::WTM + 16 * i + sr % 16, c = n0 + lc;
      if (r < M && c < N) op(r, c, stage[sr * LD + lc]);
    }
    __syncthreads();  // the stage is rewritten for the next slot
  }
}

// The Dense epilogue's element: z = v + b[c] to Z (when non-null), act(z) to Y.
template <int ACT>
struct TcDenseOp {
  const float* bias;
  float* Z;
  float* Y;
  int N;
  __device__ __forceinline__ void operator()(int r, int c, float v) const {
    const float z = v + bias[c];
    const long long o = (long long)r * N + c;
    if (Z != nullptr) Z[o] = z;
    Y[o] = act_forward(ACT, z);
  }
};

// C = v + beta·C (beta 0: C not read), as gemm.cu's gemm_beta_body.
struct TcBetaOp {
  float* C;
  int N;
  float beta;
  __device__ __forceinline__ void operator()(int r, int c, float v) const {
    const long long o = (long long)r * N + c;
    if (beta != 0.0f) v += beta * C[o];
    C[o] = v;
  }
};

// Dense forward on the tensor cores: Z = X·op(W) + b, Y = act(Z); W_KC: W
// [N×K] (gemm_nt_bias_act_tf32), else W [K×N] (gemm_nn_bias_act_tf32).
template <class P, int BM, int BN, int WM, int WN, bool W_KC>
__device__ __forceinline__ void gemm_tc_bias_act_body(const float* __restrict__ X, const float* __restrict__ W,
                                                        const float* __restrict__ bias, float* __restrict__ Z,
                                                        float* __restrict__ Y, int M, int N, int K, int act,
                                                        float* smem) {
  typedef TcShape<BM, BN, WM, WN> S;
  gemm_check_block(S::THREADS);
  const int m0 = (int)blockIdx.y * BM, n0 = (int)blockIdx.x * BN;
  float acc[S::MI][S::NI][4];
  tc_mainloop<P, BM, BN, WM, WN, true, W_KC>(X, K, W, W_KC ? K : N, M, N, K, m0, n0, acc, smem);
  switch (act) {  // outside the epilogue's loops
    case ACT_RELU:
      tc_epilogue<BM, BN, WM, WN>(acc, smem, M, N, m0, n0, TcDenseOp<ACT_RELU>{bias, Z, Y, N});
      break;
    case ACT_LEAKY_RELU:
      tc_epilogue<BM, BN, WM, WN>(acc, smem, M, N, m0, n0, TcDenseOp<ACT_LEAKY_RELU>{bias, Z, Y, N});
      break;
    case ACT_TANH:
      tc_epilogue<BM, BN, WM, WN>(acc, smem, M, N, m0, n0, TcDenseOp<ACT_TANH>{bias, Z, Y, N});
      break;
    case ACT_SIGMOID:
      tc_epilogue<BM, BN, WM, WN>(acc, smem, M, N, m0, n0, TcDenseOp<ACT_SIGMOID>{bias, Z, Y, N});
      break;
    case ACT_GELU:
      tc_epilogue<BM, BN, WM, WN>(acc, smem, M, N, m0, n0, TcDenseOp<ACT_GELU>{bias, Z, Y, N});
      break;
    default:
      tc_epilogue<BM, BN, WM, WN>(acc, smem, M, N, m0, n0, TcDenseOp<ACT_LINEAR>{bias, Z, Y, N});
      break;
  }
}

// C = op(A)·op(B) + beta·C on the tensor cores (layouts as gemm_beta_body).
template <class P, int BM, int BN, int WM, int WN, bool A_KC, bool B_KC>
__device__ __forceinline__ void gemm_tc_beta_body(const float* __restrict__ A, const float* __restrict__ B,
                                                    float* __restrict__ C, int M, int N, int K, float beta,
                                                    float* smem) {
  typedef TcShape<BM, BN, WM, WN> S;
  gemm_check_block(S::THREADS);
  const int m0 = (int)blockIdx.y * BM, n0 = (int)blockIdx.x * BN;
  float acc[S::MI][S::NI][4];
  tc_mainloop<P, BM, BN, WM, WN, A_KC, B_KC>(A, A_KC ? K : M, B, B_KC ? K : N, M, N, K, m0, n0, acc, smem);
  tc_epilogue<BM, BN, WM, WN>(acc, smem, M, N, m0, n0, TcBetaOp{C, N, beta});
}

// ---------------------------------------------------------------------------
// The exported kernels (kernels/ABI.md): CFG = GEMM_TF32 (128×128, name) or
// GEMM_TF32X64 (64×64, name_64). On architectures before sm_80 the body is
// __trap(): the launch fails instead of computing anything.

#define GEMM_TF32_CFG(CFG) CFG##_BM, CFG##_BN, CFG##_WARPS_M, CFG##_WARPS_N

static_assert(GEMM_TF32_THREADS == 32 * GEMM_TF32_WARPS_M * GEMM_TF32_WARPS_N, "GEMM_TF32_THREADS");
static_assert(GEMM_TF32X64_THREADS == 32 * GEMM_TF32X64_WARPS_M * GEMM_TF32X64_WARPS_N, "GEMM_TF32X64_THREADS");

#define DEFINE_GEMM_TC_BIAS_ACT(name, P, CFG, W_KC)                                                         \
  extern "C" __global__ void __launch_bounds__(CFG##_THREADS, 2)                                           \
  name(const float* __restrict__ X, const float* __restrict__ W, const float* __restrict__ b,               \
       float* __restrict__ Z, float* __restrict__ Y, int M, int N, int K, int act) {                        \
    if (AEGPU_HAS_TF32) {                                                                                   \
      __shared__ __align__(16) TcSmem<GEMM_TF32_CFG(CFG)> sm;                                              \
      gemm_tc_bias_act_body<P, GEMM_TF32_CFG(CFG), W_KC>(X, W, b, Z, Y, M, N, K, act, sm.s);               \
    } else {                                                                                                \
      __trap();                                                                                             \
    }                                                                                                       \
  }

#define DEFINE_GEMM_TC_BETA(name, P, CFG, A_KC, B_KC)                                                       \
  extern "C" __global__ void __launch_bounds__(CFG##_THREADS, 2)                                           \
  name(const float* __restrict__ A, const float* __restrict__ B, float* __restrict__ C, int M, int N, int K, \
       float beta) {                                                                                        \
    if (AEGPU_HAS_TF32) {                                                                                   \
      __shared__ __align__(16) TcSmem<GEMM_TF32_CFG(CFG)> sm;                                              \
      gemm_tc_beta_body<P, GEMM_TF32_CFG(CFG), A_KC, B_KC>(A, B, C, M, N, K, beta, sm.s);                  \
    } else {                                                                                                \
      __trap();                                                                                             \
    }                                                                                                       \
  }

// The five shapes at both tiles, in precision P: suffix _tf32 / _bf16 and
// _tf32_64 / _bf16_64.
#define DEFINE_GEMM_TC_ALL(P, SUF)                                                    \
  DEFINE_GEMM_TC_BIAS_ACT(gemm_nt_bias_act_##SUF, P, GEMM_TF32, true)                 \
  DEFINE_GEMM_TC_BETA(gemm_nn_##SUF, P, GEMM_TF32, true, false)                       \
  DEFINE_GEMM_TC_BETA(gemm_tn_##SUF, P, GEMM_TF32, false, false)                      \
  DEFINE_GEMM_TC_BIAS_ACT(gemm_nn_bias_act_##SUF, P, GEMM_TF32, false)                \
  DEFINE_GEMM_TC_BETA(gemm_nt_##SUF, P, GEMM_TF32, true, true)                        \
  DEFINE_GEMM_TC_BIAS_ACT(gemm_nt_bias_act_##SUF##_64, P, GEMM_TF32X64, true)         \
  DEFINE_GEMM_TC_BETA(gemm_nn_##SUF##_64, P, GEMM_TF32X64, true, false)               \
  DEFINE_GEMM_TC_BETA(gemm_tn_##SUF##_64, P, GEMM_TF32X64, false, false)              \
  DEFINE_GEMM_TC_BIAS_ACT(gemm_nn_bias_act_##SUF##_64, P, GEMM_TF32X64, false)        \
  DEFINE_GEMM_TC_BETA(gemm_nt_##SUF##_64, P, GEMM_TF32X64, true, true)

DEFINE_GEMM_TC_ALL(PrecTF32, tf32)
DEFINE_GEMM_TC_ALL(PrecBF16, bf16)
