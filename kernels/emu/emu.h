// emu.h: the C interface of the CUDA emulator (emu.cpp), one launcher per
// kernel of kernels/ABI.md, for cgo. Pointers are host memory; each call
// runs the whole grid and returns 0, or 1 with emu_last_error() set.
#ifndef AEGPU_EMU_H
#define AEGPU_EMU_H

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
  unsigned int gx, gy, gz; /* grid */
  unsigned int bx, by, bz; /* block */
} emu_dims;

const char* emu_last_error(void);
void emu_set_mode(int mode);
void emu_set_watchdog_ms(int ms);
const char* emu_sources_sha256(void);
/* Bytes of emulated shared memory (every __shared__ variable), poisoned before each block. */
long long emu_shared_bytes(void);

int emu_launch_gemm_nt_bias_act(emu_dims d, const float* X, const float* W, const float* b, float* Z, float* Y,
                                int M, int N, int K, int act);
int emu_launch_gemm_nn(emu_dims d, const float* A, const float* B, float* C, int M, int N, int K, float beta);
int emu_launch_gemm_tn(emu_dims d, const float* A, const float* B, float* C, int M, int N, int K, float beta);
int emu_launch_gemm_nt_bias_act_64(emu_dims d, const float* X, const float* W, const float* b, float* Z, float* Y,
                                   int M, int N, int K, int act);
int emu_launch_gemm_nn_64(emu_dims d, const float* A, const float* B, float* C, int M, int N, int K, float beta);
int emu_launch_gemm_tn_64(emu_dims d, const float* A, const float* B, float* C, int M, int N, int K, float beta);
int emu_launch_gemm_nn_bias_act(emu_dims d, const float* X, const float* W, const float* b, float* Z, float* Y,
                                int M, int N, int K, int act);
int emu_launch_gemm_nn_bias_act_64(emu_dims d, const float* X, const float* W, const float* b, float* Z, float* Y,
                                   int M, int N, int K, int act);
int emu_launch_gemm_nt(emu_dims d, const float* A, const float* B, float* C, int M, int N, int K, float beta);
int emu_launch_gemm_nt_64(emu_dims d, const float* A, const float* B, float* C, int M, int N, int K, float beta);
/* The TF32 tensor-core GEMMs (gemm_tf32.cu): same parameters as the fp32 ones. */
int emu_launch_gemm_nt_bias_act_tf32(emu_dims d, const float* X, const float* W, const float* b, float* Z, float* Y,
                                     int M, int N, int K, int act);
int emu_launch_gemm_nn_tf32(emu_dims d, const float* A, const float* B, float* C, int M, int N, int K, float beta);
int emu_launch_gemm_tn_tf32(emu_dims d, const float* A, const float* B, float* C, int M, int N, int K, float beta);
int emu_launch_gemm_nn_bias_act_tf32(emu_dims d, const float* X, const float* W, const float* b, float* Z, float* Y,
                                     int M, int N, int K, int act);
int emu_launch_gemm_nt_tf32(emu_dims d, const float* A, const float* B, float* C, int M, int N, int K, float beta);
int emu_launch_gemm_nt_bias_act_tf32_64(emu_dims d, const float* X, const float* W, const float* b, float* Z, float* Y,
                                        int M, int N, int K, int act);
int emu_launch_gemm_nn_tf32_64(emu_dims d, const float* A, const float* B, float* C, int M, int N, int K, float beta);
int emu_launch_gemm_tn_tf32_64(emu_dims d, const float* A, const float* B, float* C, int M, int N, int K, float beta);
int emu_launch_gemm_nn_bias_act_tf32_64(emu_dims d, const float* X, const float* W, const float* b, float* Z, float* Y,
                                        int M, int N, int K, int act);
int emu_launch_gemm_nt_tf32_64(emu_dims d, const float* A, const float* B, float* C, int M, int N, int K, float beta);
/* The BF16 tensor-core GEMMs (gemm_bf16.cu, PrecBF16): same parameters. */
int emu_launch_gemm_nt_bias_act_bf16(emu_dims d, const float* X, const float* W, const float* b, float* Z, float* Y, int M, int N, int K, int act);
int emu_launch_gemm_nn_bf16(emu_dims d, const float* A, const float* B, float* C, int M, int N, int K, float beta);
int emu_launch_gemm_tn_bf16(emu_dims d, const float* A, const float* B, float* C, int M, int N, int K, float beta);
int emu_launch_gemm_nn_bias_act_bf16(emu_dims d, const float* X, const float* W, const float* b, float* Z, float* Y, int M, int N, int K, int act);
int emu_launch_gemm_nt_bf16(emu_dims d, const float* A, const float* B, float* C, int M, int N, int K, float beta);
int emu_launch_gemm_nt_bias_act_bf16_64(emu_dims d, const float* X, const float* W, const float* b, float* Z, float* Y, int M, int N, int K, int act);
int emu_launch_gemm_nn_bf16_64(emu_dims d, const float* A, const float* B, float* C, int M, int N, int K, float beta);
int emu_launch_gemm_tn_bf16_64(emu_dims d, const float* A, const float* B, float* C, int M, int N, int K, float beta);
int emu_launch_gemm_nn_bias_act_bf16_64(emu_dims d, const float* X, const float* W, const float* b, float* Z, float* Y, int M, int N, int K, int act);
int emu_launch_gemm_nt_bf16_64(emu_dims d, const float* A, const float* B, float* C, int M, int N, int K, float beta);
/* One mma.sync.m16n8k16 BF16 per warp (registers as emu_launch_mma_selftest,
 * mode 0), and cvt.rn.bf16x2.f32 of (hi[i], lo[i]) into out[i]. */
int emu_launch_mma_bf16_selftest(emu_dims d, const unsigned int* regs, const float* c, float* out);
int emu_launch_cvt_bf16_selftest(emu_dims d, const float* hi, const float* lo, unsigned int* out, int n);
/* Checks of the emulated tensor-core instructions: one mma.sync.m16n8k8
 * TF32 per warp, lane t's registers a0..a3, b0, b1 at regs[6t..6t+5], its C
 * fragment at c[4t..4t+3], its D fragment to out[4t..4t+3] (mode 0; mode
 * 1: lane 5 of each warp returns first; mode 2: thread 0 waits at
 * __syncthreads instead); and cvt.rna.tf32.f32 of x[i] into out[i]. */
int emu_launch_mma_selftest(emu_dims d, const unsigned int* regs, const float* c, float* out, int mode);
int emu_launch_cvt_selftest(emu_dims d, const float* x, unsigned int* out, int n);
int emu_launch_act_grad_bias(emu_dims d, float* dY, const float* Y, const float* Z, float* db, int M, int N, int act,
                             float beta);
int emu_launch_loss_grad_partial(emu_dims d, int kind, const float* P, const float* T, float* G, double* partial,
                                 long long n, float invN);
int emu_launch_loss_finish(emu_dims d, const double* partial, int nblocks, float* acc, float scale);
int emu_launch_row_loss(emu_dims d, int kind, const float* P, const float* T, float* out, int rows, int cols);
int emu_launch_col_mean(emu_dims d, const float* X, float* out, int rows, int cols);
int emu_launch_layernorm_fwd(emu_dims d, const float* X, const float* G, const float* Bt, float* Y, float* mean,
                             float* rstd, int rows, int cols, float eps);
int emu_launch_layernorm_bwd_dx(emu_dims d, const float* DY, const float* X, const float* G, const float* mean,
                                const float* rstd, float* DX, int rows, int cols);
int emu_launch_layernorm_bwd_params(emu_dims d, const float* DY, const float* X, const float* mean, const float* rstd,
                                    float* DG, float* DB, int rows, int cols);
int emu_launch_sumsq_partial(emu_dims d, const float* X, double* partial, long long n);
int emu_launch_sumsq_finish(emu_dims d, const double* partial, int nblocks, float* acc, int mode);
int emu_launch_clip_scale(emu_dims d, float* G, long long n, const float* norm, float maxNorm);
int emu_launch_adam_step(emu_dims d, float* p, const float* g, float* m, float* v, long long n, float lr, float beta1,
                         float beta2, float eps, float wd, float bc1, float bc2, int decoupled);
int emu_launch_sgd_step(emu_dims d, float* p, const float* g, float* buf, long long n, float lr, float momentum,
                        float wd, int first);
int emu_launch_fill_f32(emu_dims d, float* x, long long n, float v);
int emu_launch_copy_f32(emu_dims d, float* dst, const float* src, long long n);
int emu_launch_axpy_f32(emu_dims d, float alpha, const float* x, float* y, long long n);
int emu_launch_ema_f32(emu_dims d, float decay, const float* x, float* avg, long long n);
int emu_launch_scale_f32(emu_dims d, float* x, long long n, float alpha);
int emu_launch_rand_uniform(emu_dims d, float* x, long long n, unsigned long long seed, unsigned long long stream,
                            float lo, float hi);
int emu_launch_rand_normal(emu_dims d, float* x, long long n, unsigned long long seed, unsigned long long stream,
                           float mean, float std, unsigned long long start);
int emu_launch_corrupt_f32(emu_dims d, float* dst, const float* src, long long n, int kind, float level,
                           unsigned long long seed, unsigned long long stream, unsigned long long start);

/* The variant regularizers (penalty.cu). */
int emu_launch_sparsity_grad(emu_dims d, const float* H, float* dH, float* rho, double* partial, int B, int D, float l1,
                             float beta, float target);
int emu_launch_contractive_exact(emu_dims d, float* dY, const float* Y, const float* Z, const float* W, float* dW,
                                 float* db, double* partial, int B, int D, int K, int act, float lambda);
int emu_launch_act_jvp(emu_dims d, float* U, const float* S, const float* Y, const float* Z, long long n, int act);
int emu_launch_act_jvp_backward(emu_dims d, float* dS, float* dZE, const float* dU, const float* S, const float* Y,
                                const float* Z, long long n, int act);
int emu_launch_act_grad_add(emu_dims d, float* dY, const float* E, const float* Y, const float* Z, long long n,
                            int act);
int emu_launch_reparam_f32(emu_dims d, float* Zo, const float* MU, const float* LV, const float* EPS, long long n);
int emu_launch_reparam_grad_partial(emu_dims d, float* dMU, float* dLV, const float* beta, const float* dZ,
                                    const float* MU, const float* LV, const float* EPS, double* partial, long long n,
                                    float scale);

/* Deliberately broken kernels that check the emulator itself (which = 0:
 * early return before a barrier, 1: __trap, 2: a shared-memory race (no
 * barrier between a write and a neighbour's read), 3: the same with the
 * barrier, 4: block_sum twice, every thread using both sums). out has one
 * float per thread. */
int emu_launch_selftest(emu_dims d, int which, float* out);

#ifdef __cplusplus
}
#endif

#endif
