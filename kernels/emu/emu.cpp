// The CUDA emulator's translation unit: cuda_emu.h, then the very kernel
// sources nvcc compiles into the fatbin (../aegpu.cu), then one C launcher
// per kernel.
#include "cuda_emu.h"

#include "../aegpu.cu"

#include "emu.h"
#include "sources_sha256.h"

namespace {

dim3 grid_of(const emu_dims& d) { return dim3(d.gx, d.gy, d.gz); }
dim3 block_of(const emu_dims& d) { return dim3(d.bx, d.by, d.bz); }

}  // namespace

// A kernel that exists only to check the emulator.
extern "C" __global__ void selftest_kernel(int which, float* out) {
  __shared__ float s[1024];
  const int t = (int)threadIdx.x, n = (int)blockDim.x;
  switch (which) {
    case 0:  // early return before a barrier
      if (t >= n / 2) return;
      __syncthreads();
      out[t] = 1.0f;
      return;
    case 1:
      if (t == n - 1) __trap();
      __syncthreads();
      out[t] = 1.0f;
      return;
    case 2:  // race: reads a neighbour's slot with no barrier in between
      s[t] = (float)(t + 1);
      out[t] = s[(t + 1) % n];
      __syncthreads();
      return;
    case 4: {  // two back-to-back block_sum calls, the sums used by every thread
      const double a = block_sum((double)(t + 1));
      const double b = block_sum((double)(2 * t));
      out[t] = (float)(a + (double)t * b);
      return;
    }
    default:
      s[t] = (float)(t + 1);
      __syncthreads();
      out[t] = s[(t + 1) % n];
      __syncthreads();
      return;
  }
}

// A kernel that runs one warp-level TF32 mma per warp with registers given
// per lane, to check the emulated mma.sync against the PTX ISA's fragment
// layouts (emu_launch_mma_selftest in emu.h).
extern "C" __global__ void mma_selftest_kernel(const unsigned int* regs, const float* c, float* d, int mode) {
  const int t = (int)(threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z));
  if (mode == 1 && t % 32 == 5) return;  // a lane that never reaches the mma
  unsigned int a[1][4], b[1][2];
  float acc[1][1][4];
  for (int i = 0; i < 4; ++i) a[0][i] = regs[6 * t + i];
  for (int i = 0; i < 2; ++i) b[0][i] = regs[6 * t + 4 + i];
  for (int i = 0; i < 4; ++i) acc[0][0][i] = c[4 * t + i];
  if (mode == 2 && t == 0) __syncthreads();  // lane 0 waits at a block barrier, its warp at the mma
  mma_tf32_tile<1, 1>(acc, a, b);
  for (int i = 0; i < 4; ++i) d[4 * t + i] = acc[0][0][i];
}

// The kernels' cvt.rna.tf32.f32 (tf32_round) on n values, one thread each.
extern "C" __global__ void cvt_selftest_kernel(const float* x, unsigned int* out, int n) {
  const int i = (int)(blockIdx.x * blockDim.x + threadIdx.x);
  if (i < n) out[i] = tf32_round(x[i]);
}

// The same with one warp-level BF16 mma.sync.m16n8k16 (mode 0 only).
extern "C" __global__ void mma_bf16_selftest_kernel(const unsigned int* regs, const float* c, float* d) {
  const int t = (int)(threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z));
  unsigned int a[1][4], b[1][2];
  float acc[1][1][4];
  for (int i = 0; i < 4; ++i) a[0][i] = regs[6 * t + i];
  for (int i = 0; i < 2; ++i) b[0][i] = regs[6 * t + 4 + i];
  for (int i = 0; i < 4; ++i) acc[0][0][i] = c[4 * t + i];
  mma_bf16_tile<1, 1>(acc, a, b);
  for (int i = 0; i < 4; ++i) d[4 * t + i] = acc[0][0][i];
}

// The kernels' cvt.rn.bf16x2.f32 (bf16_round2) of (hi[i], lo[i]) into out[i].
extern "C" __global__ void cvt_bf16_selftest_kernel(const float* hi, const float* lo, unsigned int* out, int n) {
  const int i = (int)(blockIdx.x * blockDim.x + threadIdx.x);
  if (i < n) out[i] = bf16_round2(hi[i], lo[i]);
}

#define EMU_LAUNCH(name, d, ...) \
  emu::launch(#name, grid_of(d), block_of(d), [=] { name(__VA_ARGS__); })

extern "C" {

const char* emu_last_error(void) { return emu::g_last_error.c_str(); }
void emu_set_mode(int mode) { emu::g_mode = mode; }
void emu_set_watchdog_ms(int ms) { emu::g_watchdog_ms = ms; }
const char* emu_sources_sha256(void) { return AEGPU_SOURCES_SHA256; }
long long emu_shared_bytes(void) {
  if (+emu::__start_emu_shared == nullptr) return 0;
  return (long long)(emu::__stop_emu_shared - emu::__start_emu_shared);
}

int emu_launch_gemm_nt_bias_act(emu_dims d, const float* X, const float* W, const float* b, float* Z, float* Y,
                                int M, int N, int K, int act) {
  return EMU_LAUNCH(gemm_nt_bias_act, d, X, W, b, Z, Y, M, N, K, act);
}
int emu_launch_gemm_nn(emu_dims d, const float* A, const float* B, float* C, int M, int N, int K, float beta) {
  return EMU_LAUNCH(gemm_nn, d, A, B, C, M, N, K, beta);
}
int emu_launch_gemm_tn(emu_dims d, const float* A, const float* B, float* C, int M, int N, int K, float beta) {
  return EMU_LAUNCH(gemm_tn, d, A, B, C, M, N, K, beta);
}
int emu_launch_gemm_nt_bias_act_64(emu_dims d, const float* X, const float* W, const float* b, float* Z, float* Y,
                                   int M, int N, int K, int act) {
  return EMU_LAUNCH(gemm_nt_bias_act_64, d, X, W, b, Z, Y, M, N, K, act);
}
int emu_launch_gemm_nn_64(emu_dims d, const float* A, const float* B, float* C, int M, int N, int K, float beta) {
  return EMU_LAUNCH(gemm_nn_64, d, A, B, C, M, N, K, beta);
}
int emu_launch_gemm_tn_64(emu_dims d, const float* A, const float* B, float* C, int M, int N, int K, float beta) {
  return EMU_LAUNCH(gemm_tn_64, d, A, B, C, M, N, K, beta);
}
int emu_launch_gemm_nn_bias_act(emu_dims d, const float* X, const float* W, const float* b, float* Z, float* Y,
                                int M, int N, int K, int act) {
  return EMU_LAUNCH(gemm_nn_bias_act, d, X, W, b, Z, Y, M, N, K, act);
}
int emu_launch_gemm_nn_bias_act_64(emu_dims d, const float* X, const float* W, const float* b, float* Z, float* Y,
                                   int M, int N, int K, int act) {
  return EMU_LAUNCH(gemm_nn_bias_act_64, d, X, W, b, Z, Y, M, N, K, act);
}
int emu_launch_gemm_nt(emu_dims d, const float* A, const float* B, float* C, int M, int N, int K, float beta) {
  return EMU_LAUNCH(gemm_nt, d, A, B, C, M, N, K, beta);
}
int emu_launch_gemm_nt_64(emu_dims d, const float* A, const float* B, float* C, int M, int N, int K, float beta) {
  return EMU_LAUNCH(gemm_nt_64, d, A, B, C, M, N, K, beta);
}
#define EMU_TF32_BIAS_ACT(name)                                                                       \
  int emu_launch_##name(emu_dims d, const float* X, const float* W, const float* b, float* Z, float* Y, int M, \
                        int N, int K, int act) {                                                            \
    return EMU_LAUNCH(name, d, X, W, b, Z, Y, M, N, K, act);                                                \
  }
#define EMU_TF32_BETA(name)                                                                                 \
  int emu_launch_##name(emu_dims d, const float* A, const float* B, float* C, int M, int N, int K, float beta) { \
    return EMU_LAUNCH(name, d, A, B, C, M, N, K, beta);                                                    \
  }
EMU_TF32_BIAS_ACT(gemm_nt_bias_act_tf32)
EMU_TF32_BETA(gemm_nn_tf32)
EMU_TF32_BETA(gemm_tn_tf32)
EMU_TF32_BIAS_ACT(gemm_nn_bias_act_tf32)
EMU_TF32_BETA(gemm_nt_tf32)
EMU_TF32_BIAS_ACT(gemm_nt_bias_act_tf32_64)
EMU_TF32_BETA(gemm_nn_tf32_64)
EMU_TF32_BETA(gemm_tn_tf32_64)
EMU_TF32_BIAS_ACT(gemm_nn_bias_act_tf32_64)
EMU_TF32_BETA(gemm_nt_tf32_64)
EMU_TF32_BIAS_ACT(gemm_nt_bias_act_bf16)
EMU_TF32_BETA(gemm_nn_bf16)
EMU_TF32_BETA(gemm_tn_bf16)
EMU_TF32_BIAS_ACT(gemm_nn_bias_act_bf16)
EMU_TF32_BETA(gemm_nt_bf16)
EMU_TF32_BIAS_ACT(gemm_nt_bias_act_bf16_64)
EMU_TF32_BETA(gemm_nn_bf16_64)
EMU_TF32_BETA(gemm_tn_bf16_64)
EMU_TF32_BIAS_ACT(gemm_nn_bias_act_bf16_64)
EMU_TF32_BETA(gemm_nt_bf16_64)
int emu_launch_mma_bf16_selftest(emu_dims d, const unsigned int* regs, const float* c, float* out) {
  return EMU_LAUNCH(mma_bf16_selftest_kernel, d, regs, c, out);
}
int emu_launch_cvt_bf16_selftest(emu_dims d, const float* hi, const float* lo, unsigned int* out, int n) {
  return EMU_LAUNCH(cvt_bf16_selftest_kernel, d, hi, lo, out, n);
}
int emu_launch_mma_selftest(emu_dims d, const unsigned int* regs, const float* c, float* out, int mode) {
  return EMU_LAUNCH(mma_selftest_kernel, d, regs, c, out, mode);
}
int emu_launch_cvt_selftest(emu_dims d, const float* x, unsigned int* out, int n) {
  return EMU_LAUNCH(cvt_selftest_kernel, d, x, out, n);
}
int emu_launch_act_grad_bias(emu_dims d, float* dY, const float* Y, const float* Z, float* db, int M, int N, int act,
                             float beta) {
  return EMU_LAUNCH(act_grad_bias, d, dY, Y, Z, db, M, N, act, beta);
}
int emu_launch_loss_grad_partial(emu_dims d, int kind, const float* P, const float* T, float* G, double* partial,
                                 long long n, float invN) {
  return EMU_LAUNCH(loss_grad_partial, d, kind, P, T, G, partial, n, invN);
}
int emu_launch_loss_finish(emu_dims d, const double* partial, int nblocks, float* acc, float scale) {
  return EMU_LAUNCH(loss_finish, d, partial, nblocks, acc, scale);
}
int emu_launch_row_loss(emu_dims d, int kind, const float* P, const float* T, float* out, int rows, int cols) {
  return EMU_LAUNCH(row_loss, d, kind, P, T, out, rows, cols);
}
int emu_launch_layernorm_fwd(emu_dims d, const float* X, const float* G, const float* Bt, float* Y, float* mean,
                             float* rstd, int rows, int cols, float eps) {
  return EMU_LAUNCH(layernorm_fwd, d, X, G, Bt, Y, mean, rstd, rows, cols, eps);
}
int emu_launch_layernorm_bwd_dx(emu_dims d, const float* DY, const float* X, const float* G, const float* mean,
                                const float* rstd, float* DX, int rows, int cols) {
  return EMU_LAUNCH(layernorm_bwd_dx, d, DY, X, G, mean, rstd, DX, rows, cols);
}
int emu_launch_layernorm_bwd_params(emu_dims d, const float* DY, const float* X, const float* mean, const float* rstd,
                                    float* DG, float* DB, int rows, int cols) {
  return EMU_LAUNCH(layernorm_bwd_params, d, DY, X, mean, rstd, DG, DB, rows, cols);
}
int emu_launch_col_mean(emu_dims d, const float* X, float* out, int rows, int cols) {
  return EMU_LAUNCH(col_mean, d, X, out, rows, cols);
}
int emu_launch_sumsq_partial(emu_dims d, const float* X, double* partial, long long n) {
  return EMU_LAUNCH(sumsq_partial, d, X, partial, n);
}
int emu_launch_sumsq_finish(emu_dims d, const double* partial, int nblocks, float* acc, int mode) {
  return EMU_LAUNCH(sumsq_finish, d, partial, nblocks, acc, mode);
}
int emu_launch_clip_scale(emu_dims d, float* G, long long n, const float* norm, float maxNorm) {
  return EMU_LAUNCH(clip_scale, d, G, n, norm, maxNorm);
}
int emu_launch_adam_step(emu_dims d, float* p, const float* g, float* m, float* v, long long n, float lr, float beta1,
                         float beta2, float eps, float wd, float bc1, float bc2, int decoupled) {
  return EMU_LAUNCH(adam_step, d, p, g, m, v, n, lr, beta1, beta2, eps, wd, bc1, bc2, decoupled);
}
int emu_launch_sgd_step(emu_dims d, float* p, const float* g, float* buf, long long n, float lr, float momentum,
                        float wd, int first) {
  return EMU_LAUNCH(sgd_step, d, p, g, buf, n, lr, momentum, wd, first);
}
int emu_launch_fill_f32(emu_dims d, float* x, long long n, float v) { return EMU_LAUNCH(fill_f32, d, x, n, v); }
int emu_launch_copy_f32(emu_dims d, float* dst, const float* src, long long n) {
  return EMU_LAUNCH(copy_f32, d, dst, src, n);
}
int emu_launch_axpy_f32(emu_dims d, float alpha, const float* x, float* y, long long n) {
  return EMU_LAUNCH(axpy_f32, d, alpha, x, y, n);
}
int emu_launch_ema_f32(emu_dims d, float decay, const float* x, float* avg, long long n) {
  return EMU_LAUNCH(ema_f32, d, decay, x, avg, n);
}
int emu_launch_scale_f32(emu_dims d, float* x, long long n, float alpha) {
  return EMU_LAUNCH(scale_f32, d, x, n, alpha);
}
int emu_launch_rand_uniform(emu_dims d, float* x, long long n, unsigned long long seed, unsigned long long stream,
                            float lo, float hi) {
  return EMU_LAUNCH(rand_uniform, d, x, n, seed, stream, lo, hi);
}
int emu_launch_rand_normal(emu_dims d, float* x, long long n, unsigned long long seed, unsigned long long stream,
                           float mean, float std, unsigned long long start) {
  return EMU_LAUNCH(rand_normal, d, x, n, seed, stream, mean, std, start);
}
int emu_launch_corrupt_f32(emu_dims d, float* dst, const float* src, long long n, int kind, float level,
                           unsigned long long seed, unsigned long long stream, unsigned long long start) {
  return EMU_LAUNCH(corrupt_f32, d, dst, src, n, kind, level, seed, stream, start);
}
int emu_launch_sparsity_grad(emu_dims d, const float* H, float* dH, float* rho, double* partial, int B, int D, float l1,
                             float beta, float target) {
  return EMU_LAUNCH(sparsity_grad, d, H, dH, rho, partial, B, D, l1, beta, target);
}
int emu_launch_contractive_exact(emu_dims d, float* dY, const float* Y, const float* Z, const float* W, float* dW,
                                 float* db, double* partial, int B, int D, int K, int act, float lambda) {
  return EMU_LAUNCH(contractive_exact, d, dY, Y, Z, W, dW, db, partial, B, D, K, act, lambda);
}
int emu_launch_act_jvp(emu_dims d, float* U, const float* S, const float* Y, const float* Z, long long n, int act) {
  return EMU_LAUNCH(act_jvp, d, U, S, Y, Z, n, act);
}
int emu_launch_act_jvp_backward(emu_dims d, float* dS, float* dZE, const float* dU, const float* S, const float* Y,
                                const float* Z, long long n, int act) {
  return EMU_LAUNCH(act_jvp_backward, d, dS, dZE, dU, S, Y, Z, n, act);
}
int emu_launch_act_grad_add(emu_dims d, float* dY, const float* E, const float* Y, const float* Z, long long n,
                            int act) {
  return EMU_LAUNCH(act_grad_add, d, dY, E, Y, Z, n, act);
}
int emu_launch_reparam_f32(emu_dims d, float* Zo, const float* MU, const float* LV, const float* EPS, long long n) {
  return EMU_LAUNCH(reparam_f32, d, Zo, MU, LV, EPS, n);
}
int emu_launch_reparam_grad_partial(emu_dims d, float* dMU, float* dLV, const float* beta, const float* dZ,
                                    const float* MU, const float* LV, const float* EPS, double* partial, long long n,
                                    float scale) {
  return EMU_LAUNCH(reparam_grad_partial, d, dMU, dLV, beta, dZ, MU, LV, EPS, partial, n, scale);
}
int emu_launch_selftest(emu_dims d, int which, float* out) { return EMU_LAUNCH(selftest_kernel, d, which, out); }

}  // extern "C"
