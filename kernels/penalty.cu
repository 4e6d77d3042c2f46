// The variant regularizers' kernels (engine.Backend's Sparsity,
// ContractiveExact, ActJVP, ActJVPBackward, ActBackward, Reparameterize and
// ReparamBackward). Deterministic: per-column sums in double over a fixed
// row order (a block of ACTGRAD_COLS × ACTGRAD_ROWS threads per group of 32
// columns, as act_grad_bias), scalar penalties as per-block partials in
// double finished by loss_finish, no atomics. Every loop is grid-stride.
#pragma once

#include "common.cuh"

#define PEN_COLS ACTGRAD_COLS
#define PEN_ROWS ACTGRAD_ROWS

// sparsity_grad: for each column c of H [B×D] (column groups grid-stride):
//   ρ̂_c = (1/B)·Σ_r H[r,c] → rho[c];  r_c = clamp(ρ̂_c, 1e-6, 1 − 1e-6)
//   dH[r,c] = dH + beta/B·(−t/r_c + (1−t)/(1−r_c)) + l1/B·sign(H[r,c])
// (terms with l1 = 0 or beta = 0 left out), and partial[blockIdx.x] = Σ over
// the block's columns, in order, of l1/B·Σ_r |H[r,c]| + beta·KL(t‖r_c).
// Block (PEN_COLS, PEN_ROWS) (else trap); grid ≤ REDUCE_BLOCKS.
extern "C" __global__ void __launch_bounds__(PEN_COLS * PEN_ROWS)
sparsity_grad(const float* __restrict__ H, float* __restrict__ dH, float* __restrict__ rho,
              double* __restrict__ partial, int B, int D, float l1, float beta, float target) {
  __shared__ double ps[PEN_ROWS][PEN_COLS + 1];
  __shared__ double pa[PEN_ROWS][PEN_COLS + 1];
  __shared__ double coef[PEN_COLS];
  __shared__ double pen[PEN_COLS];
  if (blockDim.x != PEN_COLS || blockDim.y != PEN_ROWS || blockDim.z != 1u) __trap();
  const int tx = (int)threadIdx.x, ty = (int)threadIdx.y;
  const double invB = 1.0 / (double)B;
  const double l1B = (double)l1 * invB, bt = (double)beta, t = (double)target;
  const bool grad = l1 != 0.0f || beta > 0.0f;
  double total = 0.0;  // thread (0, 0): the block's penalty, in column order
  for (int cb = (int)blockIdx.x * PEN_COLS; cb < D; cb += (int)gridDim.x * PEN_COLS) {
    const int c = cb + tx;
    double s = 0.0, a = 0.0;
    if (c < D) {
      for (int r = ty; r < B; r += PEN_ROWS) {
        const double h = (double)H[(long long)r * D + c];
        s += h;
        a += fabs(h);
      }
    }
    ps[ty][tx] = s;
    pa[ty][tx] = a;
    __syncthreads();
    if (ty == 0) {
      double cf = 0.0, p = 0.0;
      if (c < D) {
        double st = 0.0, at = 0.0;
#pragma unroll
        for (int k = 0; k < PEN_ROWS; ++k) {
          st += ps[k][tx];
          at += pa[k][tx];
        }
        const double m = st * invB;
        rho[c] = (float)m;
        if (l1 != 0.0f) p = l1B * at;
        if (beta > 0.0f) {
          const double r = m < 1e-6 ? 1e-6 : (m > 1.0 - 1e-6 ? 1.0 - 1e-6 : m);  // NaN stays NaN
          p += bt * (t * log(t / r) + (1.0 - t) * log((1.0 - t) / (1.0 - r)));
          cf = bt * invB * (-t / r + (1.0 - t) / (1.0 - r));
        }
      }
      coef[tx] = cf;
      pen[tx] = p;
    }
    __syncthreads();
    if (tx == 0 && ty == 0) {
      for (int k = 0; k < PEN_COLS; ++k) total += pen[k];
    }
    if (c < D && grad) {
      const double cf = coef[tx];
      for (int r = ty; r < B; r += PEN_ROWS) {
        const long long i = (long long)r * D + c;
        double v = (double)dH[i] + cf;
        if (l1 != 0.0f) {
          const double h = (double)H[i];
          v += l1B * (h > 0.0 ? 1.0 : (h < 0.0 ? -1.0 : h));  // sign, 0 at 0, NaN stays
        }
        dH[i] = (float)v;
      }
    }
    __syncthreads();  // ps, pa, coef and pen are rewritten by the next group
  }
  if (tx == 0 && ty == 0) partial[blockIdx.x] = total;
}

// contractive_exact: for each column c of dY [B×D] (the units; W [D×K]),
// with a′, a″ from Y (or Z for gelu), n_c = ‖W_c‖², S_c = Σ_r a′²:
//   dY[r,c] = dY·a′ + 2λ/B·n_c·a′·a″          (a″ term only for tanh, sigmoid, gelu)
//   dW[c,k] = 2λ/B·S_c·W[c,k];  db[c] = 0  (db may be 0: not written)
//   partial[blockIdx.x] = λ/B·Σ over the block's columns, in order, of n_c·S_c.
// n_c is summed coalesced: warp row ty takes W rows cb + ty + PEN_ROWS·q,
// lane tx the elements k ≡ tx (mod PEN_COLS), the lanes then added in order.
// Block (PEN_COLS, PEN_ROWS) (else trap); grid ≤ REDUCE_BLOCKS. Y and Z may
// be 0 when act does not read them.
static_assert(PEN_COLS % PEN_ROWS == 0, "contractive_exact: PEN_ROWS must divide PEN_COLS");

extern "C" __global__ void __launch_bounds__(PEN_COLS * PEN_ROWS)
contractive_exact(float* __restrict__ dY, const float* __restrict__ Y, const float* __restrict__ Z,
                  const float* __restrict__ W, float* __restrict__ dW, float* __restrict__ db,
                  double* __restrict__ partial, int B, int D, int K, int act, float lambda) {
  __shared__ double part[PEN_ROWS][PEN_COLS + 1];
  __shared__ double nrm[PEN_COLS];
  __shared__ double sq[PEN_COLS];
  if (blockDim.x != PEN_COLS || blockDim.y != PEN_ROWS || blockDim.z != 1u) __trap();
  const int tx = (int)threadIdx.x, ty = (int)threadIdx.y;
  const double lb = (double)lambda / (double)B, c2 = 2.0 * lb;
  const bool second = act_has_second(act);
  double total = 0.0;  // thread (0, 0)
  for (int cb = (int)blockIdx.x * PEN_COLS; cb < D; cb += (int)gridDim.x * PEN_COLS) {
    // n_j for the group's rows j of W.
    for (int q = 0; q < PEN_COLS / PEN_ROWS; ++q) {
      const int j = cb + ty + PEN_ROWS * q;
      double s = 0.0;
      if (j < D) {
        for (int k = tx; k < K; k += PEN_COLS) {
          const double w = (double)W[(long long)j * K + k];
          s += w * w;
        }
      }
      part[ty][tx] = s;
      __syncthreads();
      if (tx == 0) {
        double n = 0.0;
        for (int l = 0; l < PEN_COLS; ++l) n += part[ty][l];
        nrm[ty + PEN_ROWS * q] = n;
      }
      __syncthreads();
    }
    // S_c.
    const int c = cb + tx;
    double s = 0.0;
    if (c < D) {
      for (int r = ty; r < B; r += PEN_ROWS) {
        const long long i = (long long)r * D + c;
        const double a = (double)act_prime(act, Y != nullptr ? Y[i] : 0.0f, Z != nullptr ? Z[i] : 0.0f);
        s += a * a;
      }
    }
    part[ty][tx] = s;
    __syncthreads();
    if (ty == 0) {
      double st = 0.0;
#pragma unroll
      for (int k = 0; k < PEN_ROWS; ++k) st += part[k][tx];
      sq[tx] = st;
    }
    __syncthreads();
    if (tx == 0 && ty == 0) {
      for (int k = 0; k < PEN_COLS && cb + k < D; ++k) total += nrm[k] * sq[k];
    }
    // dY.
    if (c < D) {
      const double pn = c2 * nrm[tx];
      for (int r = ty; r < B; r += PEN_ROWS) {
        const long long i = (long long)r * D + c;
        const float y = Y != nullptr ? Y[i] : 0.0f, z = Z != nullptr ? Z[i] : 0.0f;
        const double a1 = (double)act_prime(act, y, z);
        double v = (double)dY[i] * a1;
        if (second) v += pn * a1 * (double)act_second(act, y, z);
        dY[i] = (float)v;
      }
      if (ty == 0 && db != nullptr) db[c] = 0.0f;
    }
    // dW, coalesced as n_j.
    for (int q = 0; q < PEN_COLS / PEN_ROWS; ++q) {
      const int j = cb + ty + PEN_ROWS * q;
      if (j < D) {
        const double cf = c2 * sq[ty + PEN_ROWS * q];
        for (int k = tx; k < K; k += PEN_COLS) {
          const long long i = (long long)j * K + k;
          dW[i] = (float)(cf * (double)W[i]);
        }
      }
    }
    __syncthreads();  // part, nrm and sq are rewritten by the next group
  }
  if (tx == 0 && ty == 0) partial[blockIdx.x] = lb * total;
}

// act_jvp: U = act_backward(act, S, Y, Z) = S ⊙ act′. U may equal S (in
// place: not __restrict__; each element is read, then written, by one
// thread). Y and Z may be 0 when act does not read them.
extern "C" __global__ void __launch_bounds__(ELEM_THREADS)
act_jvp(float* U, const float* S, const float* __restrict__ Y, const float* __restrict__ Z, long long n,
        int act) {
  for (long long i = grid_first(); i < n; i += grid_stride())
    U[i] = act_backward(act, S[i], Y != nullptr ? Y[i] : 0.0f, Z != nullptr ? Z[i] : 0.0f);
}

// act_jvp_backward: dZE += (dU·S)·act″ (tanh, sigmoid, gelu only; products
// rounded before the sum, as the CPU backend), then dS = dU ⊙ act′. dS may
// equal dU (in place).
extern "C" __global__ void __launch_bounds__(ELEM_THREADS)
act_jvp_backward(float* dS, float* __restrict__ dZE, const float* dU, const float* __restrict__ S,
                 const float* __restrict__ Y, const float* __restrict__ Z, long long n, int act) {
  const bool second = act_has_second(act);
  for (long long i = grid_first(); i < n; i += grid_stride()) {
    const float du = dU[i];
    const float y = Y != nullptr ? Y[i] : 0.0f, z = Z != nullptr ? Z[i] : 0.0f;
    if (second) dZE[i] = FADD(dZE[i], FMUL(FMUL(du, S[i]), act_second(act, y, z)));
    dS[i] = act_backward(act, du, y, z);
  }
}

// act_grad_add: dY = dY ⊙ act′ + E (E may be 0: nothing added; the sum is
// not fused, as the CPU backend's actGrad followed by the add).
extern "C" __global__ void __launch_bounds__(ELEM_THREADS)
act_grad_add(float* __restrict__ dY, const float* __restrict__ E, const float* __restrict__ Y,
             const float* __restrict__ Z, long long n, int act) {
  for (long long i = grid_first(); i < n; i += grid_stride()) {
    const float d = act_backward(act, dY[i], Y != nullptr ? Y[i] : 0.0f, Z != nullptr ? Z[i] : 0.0f);
    dY[i] = E != nullptr ? FADD(d, E[i]) : d;
  }
}

// clamp_logvar clamps to [LOGVAR_MIN, LOGVAR_MAX] (engine.LogVarMin/Max);
// NaN stays NaN.
#define LOGVAR_MIN (-30.0)
#define LOGVAR_MAX 20.0

__device__ __forceinline__ double clamp_logvar(double v) {
  return v < LOGVAR_MIN ? LOGVAR_MIN : (v > LOGVAR_MAX ? LOGVAR_MAX : v);
}

// reparam_f32: Zo = MU + exp(½·lv)·EPS, lv = clamp(LV), in double, rounded once.
extern "C" __global__ void __launch_bounds__(ELEM_THREADS)
reparam_f32(float* __restrict__ Zo, const float* __restrict__ MU, const float* __restrict__ LV,
            const float* __restrict__ EPS, long long n) {
  for (long long i = grid_first(); i < n; i += grid_stride()) {
    const double l = clamp_logvar((double)LV[i]);
    Zo[i] = (float)((double)MU[i] + exp(0.5 * l) * (double)EPS[i]);
  }
}

// reparam_grad_partial: with c = beta[0]·scale (double), each element in
// double, rounded once:
//   dMU = dZ + c·MU
//   dLV = ½·dZ·EPS·exp(½·lv) + c·½·(exp(lv) − 1)  where LOGVAR_MIN ≤ LV ≤ LOGVAR_MAX, else 0
//   partial[blockIdx.x] = Σ −½·(1 + lv − MU² − exp(lv)) over the block's grid-stride elements.
// Grid ≤ REDUCE_BLOCKS blocks of ≤ REDUCE_THREADS; then loss_finish adds weight·Σ to acc.
extern "C" __global__ void __launch_bounds__(REDUCE_THREADS)
reparam_grad_partial(float* __restrict__ dMU, float* __restrict__ dLV, const float* __restrict__ beta,
                     const float* __restrict__ dZ, const float* __restrict__ MU, const float* __restrict__ LV,
                     const float* __restrict__ EPS, double* __restrict__ partial, long long n, float scale) {
  const double c = (double)beta[0] * (double)scale;
  double kl = 0.0;
  for (long long i = grid_first(); i < n; i += grid_stride()) {
    const double m = (double)MU[i], raw = (double)LV[i], g = (double)dZ[i];
    const double l = clamp_logvar(raw);
    const double e = exp(l);
    kl += -0.5 * (1.0 + l - m * m - e);
    dMU[i] = (float)(g + c * m);
    dLV[i] = (raw >= LOGVAR_MIN && raw <= LOGVAR_MAX)
                 ? (float)(0.5 * g * (double)EPS[i] * exp(0.5 * l) + c * 0.5 * (e - 1.0))
                 : 0.0f;
  }
  const double t = block_sum(kl);
  if (threadIdx.x == 0) partial[blockIdx.x] = t;
}
