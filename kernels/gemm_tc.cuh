// The tensor-core GEMMs' tile code, shared by the precisions that run on
// it: TF32 (gemm_tf32.cu) and BF16 (gemm_bf16.cu). Each precision is a
// struct P (PrecTF32, PrecBF16) saying what the shared-memory tiles hold,
// how a fragment register is read from them and which mma.sync to issue;
// everything else — tiling, loads, shared memory, epilogues, the exported
// kernels' definitions — is here. The kernels compute the products of
// gemm.cu — Dense forward Z = X·op(W) + b, Y = act(Z), and C = op(A)·op(B)
// + beta·C — with operands rounded to P's precision, products accumulated
// in fp32, fp32 in and out (master weights stay fp32). Only sm_80 and later
// have the instructions: for older architectures every kernel is a
// __trap() (the Go side selects them only on compute capability ≥ 8.0).
// The CPU emulator (kernels/emu) runs them with an emulated mma.sync and
// cvt (emu/cuda_emu.h).
//
// Tiling. A block of WM×WN warps computes a BM×BN tile of C; warp (wm, wn)
// computes the (BM/WM)×(BN/WN) sub-tile at rows wm·BM/WM, columns wn·BN/WN
// as MI×NI mma tiles of 16×8 (MI = BM/WM/16, NI = BN/WN/8). K advances BK
// (GEMM_TF32_BK, GEMM_BF16_BK: 16) at a time, P::KSTEP per mma step.
// Shared memory is double-buffered with register prefetch: while the tensor
// cores work on tile kt, tile kt+1 is loaded into registers (gemm.cu's
// TileLoad: float4 loads on interior tiles of 16-byte aligned operands,
// bounds-checked scalar loads with zero fill elsewhere), then converted to
// P's precision (P::convert4) and stored into the other buffer. Each
// operand tile keeps the source's contiguous dimension contiguous in shared
// memory, so every global load and shared store is a float4:
//
//   K-contiguous source ([rows×K]):  S[r][k], row stride BK + 4
//   rows-contiguous source ([K×rows]): S[k][r], row stride ROWS + 8
//
// and the fragment reads, lane (g, t) = (laneid >> 2, laneid % 4) reading
// S(row0 + g (+8), k0 + t (+4)), hit 32 distinct banks in both layouts
// (g·20 mod 32 and t·136 mod 32 = t·8 are distinct multiples of 4 and 8).
//
// Epilogue: the accumulators go through shared memory, one 16-row mma
// slot of every warp row at a time (WM·16 rows × BN), and are swept by all
// threads in row-major order (coalesced stores), applying the same bias and
// activation (act_forward, common.cuh) as gemm.cu's Dense epilogue, or
// beta·C.
//
// Determinism: every C element is the same chain of mma steps over KSTEP
// chunks of k in order (the zero-filled tail adds exact zeros), whatever the
// tile configuration and load path, so the 128×128 and 64×64 kernels of a
// precision give bitwise the same results; run to run too (no atomics, no
// split-K).
#pragma once

#include "common.cuh"
#include "gemm.cu"

// The tensor-core code exists for sm_80+ (and for the emulator and the
// host pass, which compiles no device code).
#if defined(AEGPU_EMULATOR) || !defined(__CUDA_ARCH__) || __CUDA_ARCH__ >= 800
#define AEGPU_HAS_TC 1
#else
#define AEGPU_HAS_TC 0
#endif

// One operand tile in shared memory (see the header comment): KC, the
// source is [rows×K] and the tile S[r][k]; else [K×rows] and S[k][r].
template <int ROWS, int BK, bool KC>
struct TcTile {
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
template <int BM, int BN, int BK, int WM, int WN>
struct TcShape {
  static constexpr int THREADS = 32 * WM * WN;
  static constexpr int WTM = BM / WM, WTN = BN / WN;  // a warp's sub-tile
  static constexpr int MI = WTM / 16, NI = WTN / 8;   // its mma tiles
  static constexpr int STAGE_ROWS = 16 * WM;          // epilogue: rows per pass
  static constexpr int STAGE_LD = BN + 8;             // conflict-free float2 stores of c0,c1 / c2,c3
  static_assert(WTM % 16 == 0 && WTN % 8 == 0, "warp tile must be whole mma tiles");
  static constexpr int ASIZE = TcTile<BM, BK, true>::SIZE > TcTile<BM, BK, false>::SIZE
                                   ? TcTile<BM, BK, true>::SIZE
                                   : TcTile<BM, BK, false>::SIZE;
  static constexpr int BSIZE = TcTile<BN, BK, true>::SIZE > TcTile<BN, BK, false>::SIZE
                                   ? TcTile<BN, BK, true>::SIZE
                                   : TcTile<BN, BK, false>::SIZE;
  static_assert(STAGE_ROWS * STAGE_LD <= 2 * (ASIZE + BSIZE), "epilogue staging must fit in the tiles");
};

// The shared memory of one tensor-core GEMM block (declared in each kernel, see
// GemmSmem in gemm.cu): two buffers of each operand tile, sized for either
// layout; the epilogue reuses the whole of it as its staging area.
template <int BM, int BN, int BK, int WM, int WN>
struct TcSmem {
  float s[2 * (TcShape<BM, BN, BK, WM, WN>::ASIZE + TcShape<BM, BN, BK, WM, WN>::BSIZE)];
};

// tc_mainloop accumulates the block's tile at (m0, n0): acc[i][j][e] is
// element e (c_e of the fragment layout) of the warp's mma tile (i, j).
// A(i, k) = A[i·lda + k] when A_KC, else A[k·lda + i]; B(k, j) = B[j·ldb + k]
// when B_KC, else B[k·ldb + j]. Every thread executes every barrier; it ends
// with one, after which the shared memory is free.
template <class P, int BM, int BN, int BK, int WM, int WN, bool A_KC, bool B_KC>
__device__ __forceinline__ void tc_mainloop(const float* __restrict__ A, int lda, const float* __restrict__ B,
                                              int ldb, int M, int N, int K, int m0, int n0,
                                              float (&acc)[TcShape<BM, BN, BK, WM, WN>::MI]
                                                          [TcShape<BM, BN, BK, WM, WN>::NI][4],
                                              float* smem) {
  typedef TcShape<BM, BN, BK, WM, WN> S;
  typedef TcTile<BM, BK, A_KC> TA;
  typedef TcTile<BN, BK, B_KC> TB;
  static_assert(BK % P::KSTEP == 0, "a K tile must be whole mma steps");
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
template <int BM, int BN, int BK, int WM, int WN, class Op>
__device__ __forceinline__ void tc_epilogue(
    const float (&acc)[TcShape<BM, BN, BK, WM, WN>::MI][TcShape<BM, BN, BK, WM, WN>::NI][4], float* stage, int M,
    int N, int m0, int n0, const Op& op) {
  typedef TcShape<BM, BN, BK, WM, WN> S;
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
// [N×K] (gemm_nt_bias_act_<prec>), else W [K×N] (gemm_nn_bias_act_<prec>).
template <class P, int BM, int BN, int BK, int WM, int WN, bool W_KC>
__device__ __forceinline__ void gemm_tc_bias_act_body(const float* __restrict__ X, const float* __restrict__ W,
                                                        const float* __restrict__ bias, float* __restrict__ Z,
                                                        float* __restrict__ Y, int M, int N, int K, int act,
                                                        float* smem) {
  typedef TcShape<BM, BN, BK, WM, WN> S;
  gemm_check_block(S::THREADS);
  const int m0 = (int)blockIdx.y * BM, n0 = (int)blockIdx.x * BN;
  float acc[S::MI][S::NI][4];
  tc_mainloop<P, BM, BN, BK, WM, WN, true, W_KC>(X, K, W, W_KC ? K : N, M, N, K, m0, n0, acc, smem);
  switch (act) {  // outside the epilogue's loops
    case ACT_RELU:
      tc_epilogue<BM, BN, BK, WM, WN>(acc, smem, M, N, m0, n0, TcDenseOp<ACT_RELU>{bias, Z, Y, N});
      break;
    case ACT_LEAKY_RELU:
      tc_epilogue<BM, BN, BK, WM, WN>(acc, smem, M, N, m0, n0, TcDenseOp<ACT_LEAKY_RELU>{bias, Z, Y, N});
      break;
    case ACT_TANH:
      tc_epilogue<BM, BN, BK, WM, WN>(acc, smem, M, N, m0, n0, TcDenseOp<ACT_TANH>{bias, Z, Y, N});
      break;
    case ACT_SIGMOID:
      tc_epilogue<BM, BN, BK, WM, WN>(acc, smem, M, N, m0, n0, TcDenseOp<ACT_SIGMOID>{bias, Z, Y, N});
      break;
    case ACT_GELU:
      tc_epilogue<BM, BN, BK, WM, WN>(acc, smem, M, N, m0, n0, TcDenseOp<ACT_GELU>{bias, Z, Y, N});
      break;
    default:
      tc_epilogue<BM, BN, BK, WM, WN>(acc, smem, M, N, m0, n0, TcDenseOp<ACT_LINEAR>{bias, Z, Y, N});
      break;
  }
}

// C = op(A)·op(B) + beta·C on the tensor cores (layouts as gemm_beta_body).
template <class P, int BM, int BN, int BK, int WM, int WN, bool A_KC, bool B_KC>
__device__ __forceinline__ void gemm_tc_beta_body(const float* __restrict__ A, const float* __restrict__ B,
                                                    float* __restrict__ C, int M, int N, int K, float beta,
                                                    float* smem) {
  typedef TcShape<BM, BN, BK, WM, WN> S;
  gemm_check_block(S::THREADS);
  const int m0 = (int)blockIdx.y * BM, n0 = (int)blockIdx.x * BN;
  float acc[S::MI][S::NI][4];
  tc_mainloop<P, BM, BN, BK, WM, WN, A_KC, B_KC>(A, A_KC ? K : M, B, B_KC ? K : N, M, N, K, m0, n0, acc, smem);
  tc_epilogue<BM, BN, BK, WM, WN>(acc, smem, M, N, m0, n0, TcBetaOp{C, N, beta});
}

// ---------------------------------------------------------------------------
// The exported kernels (kernels/ABI.md), defined by each precision's file
// with DEFINE_GEMM_TC_ALL: CFG its 128×128 configuration (name), CFG64 its
// 64×64 one (name_64), both stepping K by CFG##_BK. On architectures before
// sm_80 the body is __trap(): the launch fails instead of computing
// anything.

#define GEMM_TC_CFG(CFG, BKCFG) CFG##_BM, CFG##_BN, BKCFG##_BK, CFG##_WARPS_M, CFG##_WARPS_N

#define DEFINE_GEMM_TC_BIAS_ACT(name, P, CFG, BKCFG, W_KC)                                                  \
  extern "C" __global__ void __launch_bounds__(CFG##_THREADS, 2)                                           \
  name(const float* __restrict__ X, const float* __restrict__ W, const float* __restrict__ b,               \
       float* __restrict__ Z, float* __restrict__ Y, int M, int N, int K, int act) {                        \
    if (AEGPU_HAS_TC) {                                                                                     \
      __shared__ __align__(16) TcSmem<GEMM_TC_CFG(CFG, BKCFG)> sm;                                         \
      gemm_tc_bias_act_body<P, GEMM_TC_CFG(CFG, BKCFG), W_KC>(X, W, b, Z, Y, M, N, K, act, sm.s);          \
    } else {                                                                                                \
      __trap();                                                                                             \
    }                                                                                                       \
  }

#define DEFINE_GEMM_TC_BETA(name, P, CFG, BKCFG, A_KC, B_KC)                                                \
  extern "C" __global__ void __launch_bounds__(CFG##_THREADS, 2)                                           \
  name(const float* __restrict__ A, const float* __restrict__ B, float* __restrict__ C, int M, int N, int K, \
       float beta) {                                                                                        \
    if (AEGPU_HAS_TC) {                                                                                     \
      __shared__ __align__(16) TcSmem<GEMM_TC_CFG(CFG, BKCFG)> sm;                                         \
      gemm_tc_beta_body<P, GEMM_TC_CFG(CFG, BKCFG), A_KC, B_KC>(A, B, C, M, N, K, beta, sm.s);             \
    } else {                                                                                                \
      __trap();                                                                                             \
    }                                                                                                       \
  }

// The five shapes at both tiles, in precision P: gemm_<shape>_SUF and
// gemm_<shape>_SUF_64.
#define DEFINE_GEMM_TC_ALL(P, SUF, CFG, CFG64)                                        \
  DEFINE_GEMM_TC_BIAS_ACT(gemm_nt_bias_act_##SUF, P, CFG, CFG, true)                  \
  DEFINE_GEMM_TC_BETA(gemm_nn_##SUF, P, CFG, CFG, true, false)                        \
  DEFINE_GEMM_TC_BETA(gemm_tn_##SUF, P, CFG, CFG, false, false)                       \
  DEFINE_GEMM_TC_BIAS_ACT(gemm_nn_bias_act_##SUF, P, CFG, CFG, false)                 \
  DEFINE_GEMM_TC_BETA(gemm_nt_##SUF, P, CFG, CFG, true, true)                         \
  DEFINE_GEMM_TC_BIAS_ACT(gemm_nt_bias_act_##SUF##_64, P, CFG64, CFG, true)           \
  DEFINE_GEMM_TC_BETA(gemm_nn_##SUF##_64, P, CFG64, CFG, true, false)                 \
  DEFINE_GEMM_TC_BETA(gemm_tn_##SUF##_64, P, CFG64, CFG, false, false)                \
  DEFINE_GEMM_TC_BIAS_ACT(gemm_nn_bias_act_##SUF##_64, P, CFG64, CFG, false)          \
  DEFINE_GEMM_TC_BETA(gemm_nt_##SUF##_64, P, CFG64, CFG, true, true)
