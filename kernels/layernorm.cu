// Layer normalisation (engine.Backend.LayerNorm, LayerNormBackward): a
// block per row for the forward pass and the input gradient (block_sum
// reductions in double), a thread per column for the parameters'
// gradients (sums in row order, double).
#pragma once

#include "common.cuh"

// layernorm_fwd: Y = x̂·γ + β with x̂ = (float)((x − μ)·r), μ = Σx/d,
// r = 1/sqrt(Σ(x − μ)²/d + eps); mean[r] = μ, rstd[r] = r (as float).
extern "C" __global__ void __launch_bounds__(REDUCE_THREADS)
layernorm_fwd(const float* __restrict__ X, const float* __restrict__ G, const float* __restrict__ Bt,
              float* __restrict__ Y, float* __restrict__ mean, float* __restrict__ rstd, int rows, int cols,
              float eps) {
  for (int r = blockIdx.x; r < rows; r += gridDim.x) {
    const float* x = X + (long long)r * cols;
    float* y = Y + (long long)r * cols;
    double s = 0.0;
    for (int c = threadIdx.x; c < cols; c += blockDim.x) s += (double)x[c];
    const double mu = block_sum(s) / (double)cols;
    double v = 0.0;
    for (int c = threadIdx.x; c < cols; c += blockDim.x) {
      const double d = (double)x[c] - mu;
      v += d * d;
    }
    const double rs = 1.0 / sqrt(block_sum(v) / (double)cols + (double)eps);
    for (int c = threadIdx.x; c < cols; c += blockDim.x) {
      const float xh = (float)(((double)x[c] - mu) * rs);
      y[c] = FADD(FMUL(xh, G[c]), Bt[c]);
    }
    if (threadIdx.x == 0) {
      mean[r] = (float)mu;
      rstd[r] = (float)rs;
    }
  }
}

// layernorm_bwd_dx: DX = r·(g − mean(g) − x̂·mean(g·x̂)), g = dy·γ, x̂ from
// the saved μ and r, in double.
extern "C" __global__ void __launch_bounds__(REDUCE_THREADS)
layernorm_bwd_dx(const float* __restrict__ DY, const float* __restrict__ X, const float* __restrict__ G,
                 const float* __restrict__ mean, const float* __restrict__ rstd, float* __restrict__ DX, int rows,
                 int cols) {
  for (int r = blockIdx.x; r < rows; r += gridDim.x) {
    const float* x = X + (long long)r * cols;
    const float* dy = DY + (long long)r * cols;
    float* dx = DX + (long long)r * cols;
    const double mu = (double)mean[r], rs = (double)rstd[r];
    double s1 = 0.0, s2 = 0.0;
    for (int c = threadIdx.x; c < cols; c += blockDim.x) {
      const double g = (double)dy[c] * (double)G[c];
      s1 += g;
      s2 += g * ((double)x[c] - mu) * rs;
    }
    const double m1 = block_sum(s1) / (double)cols;
    const double m2 = block_sum(s2) / (double)cols;
    for (int c = threadIdx.x; c < cols; c += blockDim.x) {
      const double g = (double)dy[c] * (double)G[c];
      dx[c] = (float)(rs * (g - m1 - ((double)x[c] - mu) * rs * m2));
    }
  }
}

// layernorm_bwd_params: DG[c] = Σ_r dy·x̂ (x̂ rounded to float as the
// forward pass rounds it), DB[c] = Σ_r dy, in row order.
extern "C" __global__ void __launch_bounds__(COLMEAN_THREADS)
layernorm_bwd_params(const float* __restrict__ DY, const float* __restrict__ X, const float* __restrict__ mean,
                     const float* __restrict__ rstd, float* __restrict__ DG, float* __restrict__ DB, int rows,
                     int cols) {
  for (long long c = grid_first(); c < cols; c += grid_stride()) {
    double sg = 0.0, sb = 0.0;
    for (int r = 0; r < rows; ++r) {
      const double dy = (double)DY[(long long)r * cols + c];
      const float xh = (float)(((double)X[(long long)r * cols + c] - (double)mean[r]) * (double)rstd[r]);
      sg += dy * (double)xh;
      sb += dy;
    }
    DG[c] = (float)sg;
    DB[c] = (float)sb;
  }
}
