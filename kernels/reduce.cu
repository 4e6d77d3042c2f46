// Losses, reductions and gradient clipping. Every sum is deterministic: a
// fixed per-thread order (grid-stride), a fixed shared-memory tree per block
// (block_sum), per-block partials in double, and one finishing block. No
// atomics.
#pragma once

#include "common.cuh"

// act_grad_bias: dY ← dY ⊙ act′ in place (act ≠ linear), db[c] = Σ_rows dY[·, c]
// + beta·db[c] (beta 0: db not read; db null: no sum, only dY). Block
// (ACTGRAD_COLS, ACTGRAD_ROWS): thread (x, y) takes column c0 + x and rows
// y, y + ACTGRAD_ROWS, …, summing in double in row order; the ACTGRAD_ROWS
// partials are then added in y order. Grid-stride over column groups, so
// any grid is correct.
extern "C" __global__ void __launch_bounds__(ACTGRAD_COLS * ACTGRAD_ROWS)
act_grad_bias(float* __restrict__ dY, const float* __restrict__ Y, const float* __restrict__ Z,
              float* __restrict__ db, int M, int N, int act, float beta) {
  __shared__ double part[ACTGRAD_ROWS][ACTGRAD_COLS + 1];
  if (blockDim.x != ACTGRAD_COLS || blockDim.y != ACTGRAD_ROWS || blockDim.z != 1u) __trap();
  const int tx = (int)threadIdx.x, ty = (int)threadIdx.y;
  const bool sum = db != nullptr;  // uniform over the grid
  for (int cb = (int)blockIdx.x * ACTGRAD_COLS; cb < N; cb += (int)gridDim.x * ACTGRAD_COLS) {
    const int c = cb + tx;
    double s = 0.0;
    if (c < N) {
      for (int r = ty; r < M; r += ACTGRAD_ROWS) {
        const long long i = (long long)r * N + c;
        float d = dY[i];
        if (act != ACT_LINEAR) {
          d = act_backward(act, d, Y != nullptr ? Y[i] : 0.0f, Z != nullptr ? Z[i] : 0.0f);
          dY[i] = d;
        }
        if (sum) s += (double)d;
      }
    }
    if (!sum) continue;  // the whole block: no barrier is skipped by some threads only
    part[ty][tx] = s;
    __syncthreads();
    if (ty == 0 && c < N) {
      double t = 0.0;
#pragma unroll
      for (int k = 0; k < ACTGRAD_ROWS; ++k) t += part[k][tx];
      if (beta != 0.0f) t += (double)beta * (double)db[c];
      db[c] = (float)t;
    }
    __syncthreads();  // part is rewritten by the next column group
  }
}

// loss_grad_partial: G[i] = invN·∂l/∂p(P[i], T[i]); partial[blockIdx.x] =
// Σ l over the block's grid-stride elements (double).
extern "C" __global__ void __launch_bounds__(REDUCE_THREADS)
loss_grad_partial(int kind, const float* __restrict__ P, const float* __restrict__ T,
                  float* __restrict__ G, double* __restrict__ partial, long long n, float invN) {
  const double inv = (double)invN;
  double s = 0.0;
  for (long long i = grid_first(); i < n; i += grid_stride()) {
    double g;
    s += loss_elem(kind, (double)P[i], (double)T[i], &g);
    G[i] = (float)(g * inv);
  }
  const double t = block_sum(s);
  if (threadIdx.x == 0) partial[blockIdx.x] = t;
}

// finish_sum is Σ partial[0 … nblocks) in a fixed order (thread t adds
// t, t + blockDim.x, … in order, then block_sum).
__device__ __forceinline__ double finish_sum(const double* __restrict__ partial, int nblocks) {
  double s = 0.0;
  for (int i = (int)threadIdx.x; i < nblocks; i += (int)blockDim.x) s += partial[i];
  return block_sum(s);
}

// loss_finish: acc[0] += scale·Σ partial. One block (others do nothing).
extern "C" __global__ void __launch_bounds__(REDUCE_THREADS)
loss_finish(const double* __restrict__ partial, int nblocks, float* __restrict__ acc, float scale) {
  if (blockIdx.x != 0) return;  // the whole block leaves: no barrier is skipped
  const double t = finish_sum(partial, nblocks);
  if (threadIdx.x == 0) acc[0] = (float)((double)acc[0] + (double)scale * t);
}

// row_loss: out[r] = (Σ_c l(P[r,c], T[r,c])) / cols; one block per row
// (grid-stride over rows, so any grid is correct).
extern "C" __global__ void __launch_bounds__(REDUCE_THREADS)
row_loss(int kind, const float* __restrict__ P, const float* __restrict__ T, float* __restrict__ out,
         int rows, int cols) {
  for (int r = (int)blockIdx.x; r < rows; r += (int)gridDim.x) {  // uniform per block
    const long long base = (long long)r * cols;
    double s = 0.0;
    for (int c = (int)threadIdx.x; c < cols; c += (int)blockDim.x) {
      double g;
      s += loss_elem(kind, (double)P[base + c], (double)T[base + c], &g);
    }
    const double t = block_sum(s);
    if (threadIdx.x == 0) out[r] = (float)(t / (double)cols);
  }
}

// col_mean: out[c] = (Σ_r X[r, c] in row order, double)·(1/rows).
extern "C" __global__ void __launch_bounds__(COLMEAN_THREADS)
col_mean(const float* __restrict__ X, float* __restrict__ out, int rows, int cols) {
  const double inv = 1.0 / (double)rows;
  for (long long c = grid_first(); c < cols; c += grid_stride()) {
    double s = 0.0;
    for (int r = 0; r < rows; ++r) s += (double)X[(long long)r * cols + c];
    out[c] = (float)(s * inv);
  }
}

// sumsq_partial: partial[blockIdx.x] = Σ x² over the block's grid-stride elements.
extern "C" __global__ void __launch_bounds__(REDUCE_THREADS)
sumsq_partial(const float* __restrict__ X, double* __restrict__ partial, long long n) {
  double s = 0.0;
  for (long long i = grid_first(); i < n; i += grid_stride()) {
    const double v = (double)X[i];
    s += v * v;
  }
  const double t = block_sum(s);
  if (threadIdx.x == 0) partial[blockIdx.x] = t;
}

// sumsq_finish: mode 0: acc[0] += Σ partial; mode 1: acc[0] = sqrt(Σ partial).
extern "C" __global__ void __launch_bounds__(REDUCE_THREADS)
sumsq_finish(const double* __restrict__ partial, int nblocks, float* __restrict__ acc, int mode) {
  if (blockIdx.x != 0) return;
  const double t = finish_sum(partial, nblocks);
  if (threadIdx.x == 0) acc[0] = mode == 1 ? (float)sqrt(t) : (float)((double)acc[0] + t);
}

// clip_scale: c = maxNorm/(norm[0] + 1e-6) (double); unless c ≥ 1, G *= c.
// A NaN norm gives a NaN c, which scales (PyTorch's and the CPU backend's
// behaviour), hence !(c >= 1) rather than c < 1.
extern "C" __global__ void __launch_bounds__(ELEM_THREADS)
clip_scale(float* __restrict__ G, long long n, const float* __restrict__ norm, float maxNorm) {
  const double c = (double)maxNorm / ((double)norm[0] + 1e-6);
  if (c >= 1.0) return;
  const float cf = (float)c;
  for (long long i = grid_first(); i < n; i += grid_stride()) G[i] *= cf;
}
