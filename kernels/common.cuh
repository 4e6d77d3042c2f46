// Shared maths of aegpu's kernels: the Philox stream, activations and their
// derivatives, elementwise losses and their gradients. Everything is
// __host__ __device__ so that the CPU emulator (kernels/emu) runs exactly this
// code. The formulas follow cpu_fallback (the reference backend) and
// engine/philox.go.
#pragma once

#include "geometry.cuh"

// Activation codes (engine.Act), loss codes (engine.Loss) and noise codes
// (engine.Noise).
#define ACT_LINEAR 0
#define ACT_RELU 1
#define ACT_LEAKY_RELU 2
#define ACT_TANH 3
#define ACT_SIGMOID 4
#define ACT_GELU 5

#define LOSS_MSE 0
#define LOSS_BCE 1
#define LOSS_BCE_LOGITS 2
#define LOSS_MAE 3

// Noise codes (engine.Noise), for corrupt_f32.
#define NOISE_NONE 0
#define NOISE_GAUSSIAN 1
#define NOISE_MASKING 2
#define NOISE_SALT_PEPPER 3

#define AEGPU_LEAKY_SLOPE 0.01f

// Rounded multiply/add that the compiler may not fuse into an FMA: where the
// CPU backend rounds a product before adding (Go on amd64 does not fuse) and
// the result must agree bit for bit (the uniform stream) or is cheap to make
// agree (optimizers, axpy), the kernels say so explicitly.
#define FMUL(a, b) __fmul_rn((a), (b))
#define FADD(a, b) __fadd_rn((a), (b))
#define FSUB(a, b) __fsub_rn((a), (b))

// ---------------------------------------------------------------------------
// Philox4x32-10 (engine/philox.go).

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

struct philox4 {
  unsigned int x, y, z, w;
};

// philox_block returns words 4·blk … 4·blk+3 of the (seed, stream) stream:
// ctr = (lo32(blk), hi32(blk), lo32(stream), hi32(stream)),
// key = (lo32(seed), hi32(seed)).
__host__ __device__ __forceinline__ philox4 philox_block(unsigned long long seed,
                                                         unsigned long long stream,
                                                         unsigned long long blk) {
  unsigned int c0 = (unsigned int)blk, c1 = (unsigned int)(blk >> 32);
  unsigned int c2 = (unsigned int)stream, c3 = (unsigned int)(stream >> 32);
  unsigned int k0 = (unsigned int)seed, k1 = (unsigned int)(seed >> 32);
#pragma unroll
  for (int r = 0; r < 10; ++r) {
    unsigned long long p0 = (unsigned long long)PHILOX_M0 * c0;
    unsigned long long p1 = (unsigned long long)PHILOX_M1 * c2;
    unsigned int hi0 = (unsigned int)(p0 >> 32), lo0 = (unsigned int)p0;
    unsigned int hi1 = (unsigned int)(p1 >> 32), lo1 = (unsigned int)p1;
    unsigned int n0 = hi1 ^ c1 ^ k0, n2 = hi0 ^ c3 ^ k1;
    c0 = n0;
    c1 = lo1;
    c2 = n2;
    c3 = lo0;
    k0 += PHILOX_W0;
    k1 += PHILOX_W1;
  }
  philox4 out = {c0, c1, c2, c3};
  return out;
}

// Uniform(i) = (word >> 8)·2⁻²⁴ in [0, 1): exact in float32.
__host__ __device__ __forceinline__ float uniform_from_word(unsigned int w) {
  return (float)(w >> 8) * (1.0f / 16777216.0f);
}

// Box–Muller on one pair of words: u1 in (0, 1], u2 in [0, 1) (both exact),
// r = sqrt(−2 ln u1), (r·cos 2πu2, r·sin 2πu2). float32 intrinsics:
// sincospif(2·u2) avoids rounding 2π·u2 (2·u2 is exact).
__host__ __device__ __forceinline__ void normal_pair(unsigned int w0, unsigned int w1,
                                                     float* n0, float* n1) {
  float u1 = (float)((w0 >> 8) + 1u) * (1.0f / 16777216.0f);
  float u2 = (float)(w1 >> 8) * (1.0f / 16777216.0f);
  float r = sqrtf(-2.0f * logf(u1));
  float s, c;
  sincospif(2.0f * u2, &s, &c);
  *n0 = r * c;
  *n1 = r * s;
}

// ---------------------------------------------------------------------------
// Activations (cpu_fallback/mathf.go).

// sigmoid on the side where e^… cannot overflow.
__host__ __device__ __forceinline__ float sigmoidf_stable(float v) {
  if (v >= 0.0f) return 1.0f / (1.0f + expf(-v));
  float e = expf(v);
  return e / (1.0f + e);
}

// gelu(z) = z·Φ(z) = ½·z·erfc(−z/√2): erfc keeps the relative accuracy on
// the negative side, where 1 + erf(z/√2) would cancel.
__host__ __device__ __forceinline__ float geluf(float z) {
  return 0.5f * z * erfcf(-z * 0.70710678118654752f);
}

// gelu′(z) = Φ(z) + z·φ(z).
__host__ __device__ __forceinline__ float gelu_gradf(float z) {
  return 0.5f * erfcf(-z * 0.70710678118654752f) +
         z * 0.39894228040143268f * expf(-0.5f * z * z);
}

// act_forward is y = act(v). ReLU and leaky ReLU test v <= 0 so that NaN
// propagates, as the CPU backend does.
__host__ __device__ __forceinline__ float act_forward(int act, float v) {
  switch (act) {
    case ACT_RELU:
      return v <= 0.0f ? 0.0f : v;
    case ACT_LEAKY_RELU:
      return v <= 0.0f ? v * AEGPU_LEAKY_SLOPE : v;
    case ACT_TANH:
      return tanhf(v);
    case ACT_SIGMOID:
      return sigmoidf_stable(v);
    case ACT_GELU:
      return geluf(v);
    default:
      return v;
  }
}

// act_prime is act′ from the output y (or from the pre-activation z for
// GELU), as act_backward applies it (cpu_fallback's actPrime):
//   relu: y > 0 ? 1 : 0;  leaky: y > 0 ? 1 : slope;  tanh: 1 − y²;
//   sigmoid: y(1 − y);  gelu: gelu′(z);  linear: 1.
__host__ __device__ __forceinline__ float act_prime(int act, float y, float z) {
  switch (act) {
    case ACT_RELU:
      return y > 0.0f ? 1.0f : 0.0f;
    case ACT_LEAKY_RELU:
      return y > 0.0f ? 1.0f : AEGPU_LEAKY_SLOPE;
    case ACT_TANH:
      return 1.0f - y * y;
    case ACT_SIGMOID:
      return y * (1.0f - y);
    case ACT_GELU:
      return gelu_gradf(z);
    default:
      return 1.0f;
  }
}

// act_has_second: act″ is not identically 0 (tanh, sigmoid, gelu).
__host__ __device__ __forceinline__ bool act_has_second(int act) {
  return act == ACT_TANH || act == ACT_SIGMOID || act == ACT_GELU;
}

// act_second is act″ from y (or z for GELU), cpu_fallback's actSecond:
//   tanh: −2y·(1 − y²);  sigmoid: y(1 − y)·(1 − 2y);  gelu: φ(z)·(2 − z²);
//   0 for linear, relu and leaky_relu (piecewise linear).
__host__ __device__ __forceinline__ float act_second(int act, float y, float z) {
  switch (act) {
    case ACT_TANH:
      return -2.0f * y * act_prime(act, y, z);
    case ACT_SIGMOID:
      return act_prime(act, y, z) * (1.0f - 2.0f * y);
    case ACT_GELU:
      return 0.39894228040143268f * expf(-0.5f * z * z) * (2.0f - z * z);
    default:
      return 0.0f;
  }
}

// act_backward is dy ⊙ act′, act′ from the output y (or from the
// pre-activation z for GELU):
//   relu: y > 0 ? dy : 0;  leaky: y > 0 ? dy : slope·dy;
//   tanh: dy·(1 − y²);  sigmoid: dy·y(1 − y);  gelu: dy·gelu′(z).
// ReLU and leaky ReLU select (a NaN dy where y ≤ 0 gives 0 for relu), as
// the CPU backend's actGrad does; the others multiply by act_prime.
__host__ __device__ __forceinline__ float act_backward(int act, float dy, float y, float z) {
  switch (act) {
    case ACT_RELU:
      return y > 0.0f ? dy : 0.0f;
    case ACT_LEAKY_RELU:
      return y > 0.0f ? dy : dy * AEGPU_LEAKY_SLOPE;
    case ACT_TANH:
    case ACT_SIGMOID:
    case ACT_GELU:
      return dy * act_prime(act, y, z);
    default:
      return dy;
  }
}

// ---------------------------------------------------------------------------
// Elementwise losses l(p, t) and ∂l/∂p, in double (cpu_fallback/loss.go):
//
//   mse:        (p − t)²                                  2(p − t)
//   bce:        −[t·max(log p, −100) + (1−t)·max(log(1−p), −100)]
//                                                         (p − t)/max(p(1−p), 1e-12)
//   bce_logits: max(z, 0) − z·t + log1p(e^−|z|)           σ(z) − t
//   mae:        |p − t|                                   sign(p − t), 0 at 0
//
// The clamps are written as comparisons that let NaN through, as Go's
// max does (fmax would swallow it).

__host__ __device__ __forceinline__ double clamp_below(double v, double lo) {
  return v < lo ? lo : v;
}

__host__ __device__ __forceinline__ double sigmoid_d(double z) {
  if (z >= 0.0) return 1.0 / (1.0 + exp(-z));
  double e = exp(z);
  return e / (1.0 + e);
}

// loss_elem returns l(p, t) and stores ∂l/∂p in *grad.
__host__ __device__ __forceinline__ double loss_elem(int kind, double p, double t, double* grad) {
  switch (kind) {
    case LOSS_MSE: {
      double d = p - t;
      *grad = 2.0 * d;
      return d * d;
    }
    case LOSS_BCE: {
      double lp = clamp_below(log(p), -100.0);
      double l1p = clamp_below(log(1.0 - p), -100.0);
      *grad = (p - t) / clamp_below(p * (1.0 - p), 1e-12);
      return -(t * lp + (1.0 - t) * l1p);
    }
    case LOSS_BCE_LOGITS: {
      *grad = sigmoid_d(p) - t;
      return (p > 0.0 ? p : 0.0) - p * t + log1p(exp(-fabs(p)));
    }
    case LOSS_MAE: {
      double d = p - t;
      *grad = d > 0.0 ? 1.0 : (d < 0.0 ? -1.0 : d);  // d: 0, or NaN
      return fabs(d);
    }
    default:
      *grad = 0.0;
      return 0.0;
  }
}

// ---------------------------------------------------------------------------
// Block reduction: the sum of every thread's v, in a fixed order, with
// three barriers and no warp-synchronous code: every thread stores v (slots
// of absent threads hold 0); thread l < 32 adds slots l, l + 32, l + 64, … in order; thread 0 adds those 32
// partial sums in order. Every thread of the block must call it (it contains
// barriers); every thread gets the sum. Any blockDim.x ≤ REDUCE_THREADS. Back-to-back calls are safe: each array is rewritten only
// after a barrier that every reader of its previous contents has passed.
__device__ __forceinline__ double block_sum(double v) {
  __shared__ double red[REDUCE_THREADS];
  __shared__ double red32[32];
  __shared__ double total;
  const int tid = (int)threadIdx.x;
  const int nt = (int)blockDim.x;
  for (int i = tid; i < REDUCE_THREADS; i += nt) red[i] = (i == tid) ? v : 0.0;
  __syncthreads();
  for (int l = tid; l < 32; l += nt) {  // l = tid, unless the block has < 32 threads
    double s = 0.0;
#pragma unroll
    for (int i = 0; i < REDUCE_THREADS / 32; ++i) s += red[l + 32 * i];
    red32[l] = s;
  }
  __syncthreads();
  if (tid == 0) {
    double s = 0.0;
#pragma unroll
    for (int i = 0; i < 32; ++i) s += red32[i];
    total = s;
  }
  __syncthreads();
  return total;
}

// Grid-stride helpers (int64 element counts).
__device__ __forceinline__ long long grid_first() {
  return (long long)blockIdx.x * blockDim.x + threadIdx.x;
}
__device__ __forceinline__ long long grid_stride() {
  return (long long)gridDim.x * blockDim.x;
}

__device__ __forceinline__ bool aligned16(const void* p) {
  return ((unsigned long long)p & 15ull) == 0;
}
