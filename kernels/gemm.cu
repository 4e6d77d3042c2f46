// SGEMM kernels: shared-memory tiles, register blocking, double-buffered
// shared memory with register prefetch, float4 loads on interior tiles of
// suitably aligned operands, fused epilogues. fp32 throughout; each C element
// is one FMA chain over k = 0 … K−1 in order, so results are deterministic and
// identical for both tile configurations and both load paths.
#pragma once

#include "common.cuh"

#define GEMM_SMEM_PAD 4  // keeps float4 rows aligned, staggers banks of the transposed stores

// TileLoad moves one ROWS×BK tile of an operand (ROWS along M or N) from
// global memory into registers, then into shared memory laid out k-major:
// S[k][r]. Two source layouts:
//
//   KC (K contiguous):      element (r, k) at src[(r0 + r)·ld + k0 + k]
//   !KC (rows contiguous):  element (r, k) at src[(k0 + k)·ld + r0 + r]
//
// Thread tid owns float4 groups f = tid + l·THREADS: in KC, row f/(BK/4),
// k quad (f mod BK/4)·4; in !KC, k f/(ROWS/4), row quad (f mod ROWS/4)·4.
// vec (uniform over the block) selects one float4 load per group; it is
// only set on interior tiles of a 16-byte aligned operand whose ld is a
// multiple of 4. Otherwise four scalar loads, each bounds-checked, with
// zeros outside the matrix.
template <int ROWS, int BK, int THREADS, bool KC>
struct TileLoad {
  static constexpr int GROUPS = ROWS * BK / 4;
  static constexpr int PER = GROUPS / THREADS;
  static_assert(GROUPS % THREADS == 0, "tile must split evenly into float4 groups");
  static_assert(ROWS % 4 == 0 && BK % 4 == 0, "tile sides must be multiples of 4");

  float v[4 * PER];

  __device__ __forceinline__ void load(const float* __restrict__ src, int ld, int r0, int k0,
                                       int rows, int K, bool vec, int tid) {
#pragma unroll
    for (int l = 0; l < PER; ++l) {
      const int f = tid + l * THREADS;
      if (KC) {
        const int r = f / (BK / 4), kq = (f % (BK / 4)) * 4;
        const long long base = (long long)(r0 + r) * ld + (k0 + kq);
        if (vec) {
          const float4 x = *reinterpret_cast<const float4*>(src + base);
          v[4 * l + 0] = x.x;
          v[4 * l + 1] = x.y;
          v[4 * l + 2] = x.z;
          v[4 * l + 3] = x.w;
        } else {
          const bool rok = r0 + r < rows;
#pragma unroll
          for (int j = 0; j < 4; ++j)
            v[4 * l + j] = (rok && k0 + kq + j < K) ? src[base + j] : 0.0f;
        }
      } else {
        const int k = f / (ROWS / 4), rq = (f % (ROWS / 4)) * 4;
        const long long base = (long long)(k0 + k) * ld + (r0 + rq);
        if (vec) {
          const float4 x = *reinterpret_cast<const float4*>(src + base);
          v[4 * l + 0] = x.x;
          v[4 * l + 1] = x.y;
          v[4 * l + 2] = x.z;
          v[4 * l + 3] = x.w;
        } else {
          const bool kok = k0 + k < K;
#pragma unroll
          for (int j = 0; j < 4; ++j)
            v[4 * l + j] = (kok && r0 + rq + j < rows) ? src[base + j] : 0.0f;
        }
      }
    }
  }

  __device__ __forceinline__ void store(float (*S)[ROWS + GEMM_SMEM_PAD], int tid) const {
#pragma unroll
    for (int l = 0; l < PER; ++l) {
      const int f = tid + l * THREADS;
      if (KC) {
        const int r = f / (BK / 4), kq = (f % (BK / 4)) * 4;
#pragma unroll
        for (int j = 0; j < 4; ++j) S[kq + j][r] = v[4 * l + j];
      } else {
        const int k = f / (ROWS / 4), rq = (f % (ROWS / 4)) * 4;
        *reinterpret_cast<float4*>(&S[k][rq]) =
            make_float4(v[4 * l + 0], v[4 * l + 1], v[4 * l + 2], v[4 * l + 3]);
      }
    }
  }
};

// The register tiling assumes exactly `threads` threads in x: any other block
// shape would silently compute a wrong tile, so it traps (the launch fails
// with an error instead). Uniform over the grid.
__device__ __forceinline__ void gemm_check_block(int threads) {
  if (blockDim.x != (unsigned)threads || blockDim.y != 1u || blockDim.z != 1u) __trap();
}

// Thread (tx, ty) of the TX×TY grid owns rows  c·(BM/(TM/4)) + 4·ty + i  and
// columns  c·(BN/(TN/4)) + 4·tx + j  of the tile (c over the 4-wide chunks,
// i, j < 4): the a and b fragments are float4 reads of shared memory that
// are broadcast (a) or consecutive (b) across a warp.
template <int BM, int BN, int BK, int TM, int TN>
struct GemmShape {
  static constexpr int TX = BN / TN;
  static constexpr int TY = BM / TM;
  static constexpr int THREADS = TX * TY;
  static constexpr int CM = TM / 4, CN = TN / 4;     // 4-wide chunks per thread
  static constexpr int SM = BM / CM, SN = BN / CN;   // stride between a thread's chunks
  static_assert(TM % 4 == 0 && TN % 4 == 0, "register block sides must be multiples of 4");
  static_assert(SM == 4 * TY && SN == 4 * TX, "thread grid must cover the tile");
  __device__ __forceinline__ static int row(int ty, int i) { return (i / 4) * SM + 4 * ty + (i % 4); }
  __device__ __forceinline__ static int col(int tx, int j) { return (j / 4) * SN + 4 * tx + (j % 4); }
};

// The shared memory of one GEMM block: the double-buffered A and B tiles;
// the Dense epilogue reuses As as its staging area once the main loop is done.
// Each kernel declares its own (in the kernel itself rather than in the
// template bodies: the CPU emulator can only poison shared memory declared
// outside templates, see emu/cuda_emu.h).
template <int BM, int BN, int BK>
struct GemmSmem {
  float As[2][BK][BM + GEMM_SMEM_PAD];
  float Bs[2][BK][BN + GEMM_SMEM_PAD];
};

// gemm_mainloop accumulates acc[i][j] = Σ_k A(row i, k)·B(k, col j) for the
// block's tile at (m0, n0). A(i, k) and B(k, j) are read through TileLoad:
// A_KC: A(i, k) = A[i·lda + k], else A[k·lda + i];
// B_KC: B(k, j) = B[j·ldb + k], else B[k·ldb + j].
// Every thread of the block executes every __syncthreads (the loop trip
// count and all branches around barriers are uniform). It ends with a
// barrier, after which the shared tiles are free.
template <int BM, int BN, int BK, int TM, int TN, bool A_KC, bool B_KC>
__device__ __forceinline__ void gemm_mainloop(const float* __restrict__ A, int lda,
                                              const float* __restrict__ B, int ldb,
                                              int M, int N, int K, int m0, int n0,
                                              float (&acc)[TM][TN],
                                              float (*As)[BK][BM + GEMM_SMEM_PAD],
                                              float (*Bs)[BK][BN + GEMM_SMEM_PAD]) {
  typedef GemmShape<BM, BN, BK, TM, TN> S;

  const int tid = (int)threadIdx.x;
  const int tx = tid % S::TX, ty = tid / S::TX;

#pragma unroll
  for (int i = 0; i < TM; ++i)
#pragma unroll
    for (int j = 0; j < TN; ++j) acc[i][j] = 0.0f;

  // The float4 path needs every float4 address 16-byte aligned: the base
  // pointer aligned and ld a multiple of 4 (tile origins are multiples of 4).
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
    la.store(As[0], tid);
    lb.store(Bs[0], tid);
  }
  __syncthreads();

  for (int kt = 0; kt < nk; ++kt) {
    const int cur = kt & 1;
    const bool more = kt + 1 < nk;
    if (more) {  // prefetch the next tile into registers while computing this one
      const int k0 = (kt + 1) * BK;
      const bool fullK = k0 + BK <= K;
      la.load(A, lda, m0, k0, M, K, alignA && fullM && fullK, tid);
      lb.load(B, ldb, n0, k0, N, K, alignB && fullN && fullK, tid);
    }
#pragma unroll
    for (int kk = 0; kk < BK; ++kk) {
      float a[TM], b[TN];
#pragma unroll
      for (int c = 0; c < S::CM; ++c) {
        const float4 t = *reinterpret_cast<const float4*>(&As[cur][kk][c * S::SM + 4 * ty]);
        a[4 * c + 0] = t.x;
        a[4 * c + 1] = t.y;
        a[4 * c + 2] = t.z;
        a[4 * c + 3] = t.w;
      }
#pragma unroll
      for (int c = 0; c < S::CN; ++c) {
        const float4 t = *reinterpret_cast<const float4*>(&Bs[cur][kk][c * S::SN + 4 * tx]);
        b[4 * c + 0] = t.x;
        b[4 * c + 1] = t.y;
        b[4 * c + 2] = t.z;
        b[4 * c + 3] = t.w;
      }
#pragma unroll
      for (int i = 0; i < TM; ++i)
#pragma unroll
        for (int j = 0; j < TN; ++j) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
    }
    if (more) {
      // The other buffer was last read in iteration kt−1, which every thread
      // finished before the barrier that ended it.
      la.store(As[cur ^ 1], tid);
      lb.store(Bs[cur ^ 1], tid);
    }
    __syncthreads();
  }
}

// store_row writes row i of the thread's register block (values v[0…TN)) to
// D [M×N] (rows and columns as GemmShape): float4 stores where D is 16-byte
// aligned, N is a multiple of 4 and the 4 columns are inside the matrix.
template <int BM, int BN, int BK, int TM, int TN>
__device__ __forceinline__ void store_row(float* __restrict__ D, const float (&v)[TN], int i,
                                          int M, int N, int m0, int n0, int tx, int ty, bool vec) {
  typedef GemmShape<BM, BN, BK, TM, TN> S;
  const int r = m0 + S::row(ty, i);
  if (r >= M) return;
  float* drow = D + (long long)r * N;
#pragma unroll
  for (int c = 0; c < S::CN; ++c) {
    const int c0 = n0 + c * S::SN + 4 * tx;
    if (vec && c0 + 3 < N) {
      *reinterpret_cast<float4*>(drow + c0) = make_float4(v[4 * c + 0], v[4 * c + 1], v[4 * c + 2], v[4 * c + 3]);
    } else {
#pragma unroll
      for (int j = 0; j < 4; ++j)
        if (c0 + j < N) drow[c0 + j] = v[4 * c + j];
    }
  }
}

template <int BM, int BN, int BK, int TM, int TN>
__device__ __forceinline__ void store_tile(float* __restrict__ D, const float (&v)[TM][TN],
                                           int M, int N, int m0, int n0, int tx, int ty) {
  const bool vec = aligned16(D) && (N & 3) == 0;
#pragma unroll
  for (int i = 0; i < TM; ++i) store_row<BM, BN, BK, TM, TN>(D, v[i], i, M, N, m0, n0, tx, ty, vec);
}

// The Dense epilogue for one activation, staged through shared memory: for
// each of the thread's TM row slots i (uniform loop), the block's TY rows of
// slot i go to stage [TY][BN + pad] (float4 writes; stage is the A tiles'
// storage, free after the main loop), then all threads sweep it in
// row-major order (consecutive threads → consecutive columns: coalesced
// stores), adding the bias and writing z to Z (when non-null) and act(z) to
// Y. The activation code appears once, in a rolled loop.
template <int ACT, int BM, int BN, int BK, int TM, int TN>
__device__ __forceinline__ void dense_epilogue(const float* __restrict__ bias, float* __restrict__ Z,
                                               float* __restrict__ Y, const float (&acc)[TM][TN],
                                               float* __restrict__ stage, int M, int N, int m0,
                                               int n0, int tx, int ty, int tid) {
  typedef GemmShape<BM, BN, BK, TM, TN> S;
  constexpr int LD = BN + GEMM_SMEM_PAD;
  static_assert(S::TY * LD <= 2 * BK * (BM + GEMM_SMEM_PAD), "staging must fit in As");
#pragma unroll
  for (int i = 0; i < TM; ++i) {
#pragma unroll
    for (int c = 0; c < S::CN; ++c)
      *reinterpret_cast<float4*>(&stage[ty * LD + c * S::SN + 4 * tx]) =
          make_float4(acc[i][4 * c + 0], acc[i][4 * c + 1], acc[i][4 * c + 2], acc[i][4 * c + 3]);
    __syncthreads();
    const int rbase = m0 + (i / 4) * S::SM + (i % 4);  // row of stage row lr: rbase + 4·lr
#pragma unroll 1
    for (int e = tid; e < S::TY * BN; e += S::THREADS) {
      const int lr = e / BN, lc = e % BN;
      const int r = rbase + 4 * lr, c = n0 + lc;
      if (r < M && c < N) {
        const float z = stage[lr * LD + lc] + bias[c];
        const long long o = (long long)r * N + c;
        if (Z != nullptr) Z[o] = z;
        Y[o] = act_forward(ACT, z);
      }
    }
    __syncthreads();  // stage is rewritten for the next slot
  }
}

// Dense forward: Z = X·op(W) + b, Y = act(Z); Z written only when non-null.
// W_KC: W is [N×K] and op(W) = Wᵀ (gemm_nt_bias_act, an untied layer);
// else W is [K×N] and op(W) = W (gemm_nn_bias_act, a tied layer using its
// encoder's weight as stored). X [M×K] is K-contiguous in both.
template <int BM, int BN, int BK, int TM, int TN, bool W_KC>
__device__ __forceinline__ void gemm_bias_act_body(const float* __restrict__ X,
                                                   const float* __restrict__ W,
                                                   const float* __restrict__ bias,
                                                   float* __restrict__ Z, float* __restrict__ Y,
                                                   int M, int N, int K, int act,
                                                   GemmSmem<BM, BN, BK>& sm) {
  typedef GemmShape<BM, BN, BK, TM, TN> S;
  gemm_check_block(S::THREADS);
  const int m0 = (int)blockIdx.y * BM, n0 = (int)blockIdx.x * BN;
  float acc[TM][TN];
  gemm_mainloop<BM, BN, BK, TM, TN, true, W_KC>(X, K, W, W_KC ? K : N, M, N, K, m0, n0, acc, sm.As, sm.Bs);

  const int tid = (int)threadIdx.x;
  const int tx = tid % S::TX, ty = tid / S::TX;
  float* stage = &sm.As[0][0][0];
  // The switch on act stays outside the epilogue's loops.
  switch (act) {
    case ACT_RELU:
      dense_epilogue<ACT_RELU, BM, BN, BK, TM, TN>(bias, Z, Y, acc, stage, M, N, m0, n0, tx, ty, tid);
      break;
    case ACT_LEAKY_RELU:
      dense_epilogue<ACT_LEAKY_RELU, BM, BN, BK, TM, TN>(bias, Z, Y, acc, stage, M, N, m0, n0, tx, ty, tid);
      break;
    case ACT_TANH:
      dense_epilogue<ACT_TANH, BM, BN, BK, TM, TN>(bias, Z, Y, acc, stage, M, N, m0, n0, tx, ty, tid);
      break;
    case ACT_SIGMOID:
      dense_epilogue<ACT_SIGMOID, BM, BN, BK, TM, TN>(bias, Z, Y, acc, stage, M, N, m0, n0, tx, ty, tid);
      break;
    case ACT_GELU:
      dense_epilogue<ACT_GELU, BM, BN, BK, TM, TN>(bias, Z, Y, acc, stage, M, N, m0, n0, tx, ty, tid);
      break;
    default:
      dense_epilogue<ACT_LINEAR, BM, BN, BK, TM, TN>(bias, Z, Y, acc, stage, M, N, m0, n0, tx, ty, tid);
      break;
  }
}

// C = op(A)·op(B) + beta·C. A_KC: A is [M×K] (op(A) = A), else [K×M]
// (op(A) = Aᵀ); B_KC: B is [N×K] (op(B) = Bᵀ), else [K×N] (op(B) = B).
// gemm_nn: A_KC, !B_KC; gemm_tn: !A_KC, !B_KC; gemm_nt: A_KC, B_KC.
// beta 0: C is not read.
template <int BM, int BN, int BK, int TM, int TN, bool A_KC, bool B_KC>
__device__ __forceinline__ void gemm_beta_body(const float* __restrict__ A, const float* __restrict__ B,
                                               float* __restrict__ C, int M, int N, int K, float beta,
                                               GemmSmem<BM, BN, BK>& sm) {
  typedef GemmShape<BM, BN, BK, TM, TN> S;
  gemm_check_block(S::THREADS);
  const int m0 = (int)blockIdx.y * BM, n0 = (int)blockIdx.x * BN;
  float acc[TM][TN];
  gemm_mainloop<BM, BN, BK, TM, TN, A_KC, B_KC>(A, A_KC ? K : M, B, B_KC ? K : N, M, N, K, m0, n0, acc, sm.As,
                                                sm.Bs);

  const int tid = (int)threadIdx.x;
  const int tx = tid % S::TX, ty = tid / S::TX;
  if (beta != 0.0f) {
#pragma unroll
    for (int i = 0; i < TM; ++i) {
      const int r = m0 + S::row(ty, i);
      if (r >= M) continue;
      const float* crow = C + (long long)r * N;
#pragma unroll
      for (int j = 0; j < TN; ++j) {
        const int c = n0 + S::col(tx, j);
        if (c < N) acc[i][j] += beta * crow[c];
      }
    }
  }
  store_tile<BM, BN, BK, TM, TN>(C, acc, M, N, m0, n0, tx, ty);
}

// ---------------------------------------------------------------------------
// The exported kernels (kernels/ABI.md). Each GEMM comes in two tile
// configurations, TILE = GEMM (128×128, name) and GEMM64 (64×64, name_64),
// sharing one body; the shared memory is declared in the kernel itself
// (see GemmSmem).

#define GEMM_TILE_ARGS(TILE) TILE##_BM, TILE##_BN, TILE##_BK, TILE##_TM, TILE##_TN

// Dense forward kernels: Z = X·op(W) + b, Y = act(Z) (gemm_bias_act_body).
#define DEFINE_GEMM_BIAS_ACT(name, TILE, W_KC)                                                       \
  extern "C" __global__ void __launch_bounds__(TILE##_THREADS, 2)                                   \
  name(const float* __restrict__ X, const float* __restrict__ W, const float* __restrict__ b,        \
       float* __restrict__ Z, float* __restrict__ Y, int M, int N, int K, int act) {                 \
    __shared__ __align__(16) GemmSmem<TILE##_BM, TILE##_BN, TILE##_BK> sm;                          \
    gemm_bias_act_body<GEMM_TILE_ARGS(TILE), W_KC>(X, W, b, Z, Y, M, N, K, act, sm);                \
  }

// C = op(A)·op(B) + beta·C (gemm_beta_body).
#define DEFINE_GEMM_BETA(name, TILE, A_KC, B_KC)                                                     \
  extern "C" __global__ void __launch_bounds__(TILE##_THREADS, 2)                                   \
  name(const float* __restrict__ A, const float* __restrict__ B, float* __restrict__ C, int M, int N, \
       int K, float beta) {                                                                          \
    __shared__ __align__(16) GemmSmem<TILE##_BM, TILE##_BN, TILE##_BK> sm;                          \
    gemm_beta_body<GEMM_TILE_ARGS(TILE), A_KC, B_KC>(A, B, C, M, N, K, beta, sm);                   \
  }

DEFINE_GEMM_BIAS_ACT(gemm_nt_bias_act, GEMM, true)
DEFINE_GEMM_BETA(gemm_nn, GEMM, true, false)
DEFINE_GEMM_BETA(gemm_tn, GEMM, false, false)
DEFINE_GEMM_BIAS_ACT(gemm_nt_bias_act_64, GEMM64, true)
DEFINE_GEMM_BETA(gemm_nn_64, GEMM64, true, false)
DEFINE_GEMM_BETA(gemm_tn_64, GEMM64, false, false)

// Tied layers (engine.TransW): the forward pass with W [K×N] as stored,
// and dX = dZ·Wᵀ with W [N×K] for the backward pass.
DEFINE_GEMM_BIAS_ACT(gemm_nn_bias_act, GEMM, false)
DEFINE_GEMM_BIAS_ACT(gemm_nn_bias_act_64, GEMM64, false)
DEFINE_GEMM_BETA(gemm_nt, GEMM, true, true)
DEFINE_GEMM_BETA(gemm_nt_64, GEMM64, true, true)
