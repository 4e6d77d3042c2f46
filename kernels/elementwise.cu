// Elementwise kernels, the random streams and the optimizer steps. All are
// grid-stride loops over int64 element counts: any grid is correct.
#pragma once

#include "common.cuh"

extern "C" __global__ void __launch_bounds__(ELEM_THREADS)
fill_f32(float* __restrict__ x, long long n, float v) {
  for (long long i = grid_first(); i < n; i += grid_stride()) x[i] = v;
}

extern "C" __global__ void __launch_bounds__(ELEM_THREADS)
copy_f32(float* __restrict__ dst, const float* __restrict__ src, long long n) {
  for (long long i = grid_first(); i < n; i += grid_stride()) dst[i] = src[i];
}

// y += alpha·x, the product rounded before the sum (as the CPU backend).
extern "C" __global__ void __launch_bounds__(ELEM_THREADS)
axpy_f32(float alpha, const float* __restrict__ x, float* __restrict__ y, long long n) {
  for (long long i = grid_first(); i < n; i += grid_stride()) y[i] = FADD(y[i], FMUL(alpha, x[i]));
}

// avg += (1 − decay)·(x − avg): an exponential moving average step, each
// operation rounded on its own (as the CPU backend).
extern "C" __global__ void __launch_bounds__(ELEM_THREADS)
ema_f32(float decay, const float* __restrict__ x, float* __restrict__ avg, long long n) {
  const float w = FSUB(1.0f, decay);
  for (long long i = grid_first(); i < n; i += grid_stride()) avg[i] = FADD(avg[i], FMUL(w, FSUB(x[i], avg[i])));
}

extern "C" __global__ void __launch_bounds__(ELEM_THREADS)
scale_f32(float* __restrict__ x, long long n, float alpha) {
  for (long long i = grid_first(); i < n; i += grid_stride()) x[i] = x[i] * alpha;
}

// rand_uniform: x[i] = lo + (hi − lo)·Uniform(i), rounded as
// engine.FillUniform does (span = hi − lo, then lo + span·u, no FMA): bitwise
// the CPU stream. Each thread makes one Philox block (4 elements) per step.
extern "C" __global__ void __launch_bounds__(ELEM_THREADS)
rand_uniform(float* __restrict__ x, long long n, unsigned long long seed, unsigned long long stream,
             float lo, float hi) {
  const float span = FSUB(hi, lo);
  const long long nblk = (n + 3) / 4;
  for (long long q = grid_first(); q < nblk; q += grid_stride()) {
    const philox4 w = philox_block(seed, stream, (unsigned long long)q);
    const unsigned int ws[4] = {w.x, w.y, w.z, w.w};
    const long long i0 = 4 * q;
#pragma unroll
    for (int j = 0; j < 4; ++j)
      if (i0 + j < n) x[i0 + j] = FADD(lo, FMUL(span, uniform_from_word(ws[j])));
  }
}

// rand_normal: x[i] = mean + std·Normal(start + i), Box–Muller on the word
// pairs (0, 1) and (2, 3) of each Philox block. start (any value; 0 for
// engine.Backend.RandNormal) lets a data-parallel rank draw its rows where
// they are in the global batch (engine.DrawsAt): each thread makes one
// Philox block of the stream per step, of the blocks that [start, start+n)
// touches, and writes the elements of it that fall in x.
extern "C" __global__ void __launch_bounds__(ELEM_THREADS)
rand_normal(float* __restrict__ x, long long n, unsigned long long seed, unsigned long long stream,
            float mean, float std, unsigned long long start) {
  const unsigned long long b0 = start / 4;
  const long long nblk = n > 0 ? (long long)((start + (unsigned long long)n + 3) / 4 - b0) : 0;
  for (long long q = grid_first(); q < nblk; q += grid_stride()) {
    const unsigned long long blk = b0 + (unsigned long long)q;
    const philox4 w = philox_block(seed, stream, blk);
    float v[4];
    normal_pair(w.x, w.y, &v[0], &v[1]);
    normal_pair(w.z, w.w, &v[2], &v[3]);
    const long long i0 = (long long)(4 * blk - start);  // ≥ −3: the first block may start before x
#pragma unroll
    for (int j = 0; j < 4; ++j)
      if (i0 + j >= 0 && i0 + j < n) x[i0 + j] = FADD(mean, FMUL(std, v[j]));
  }
}

// corrupt_f32: dst = a corrupted copy of src for denoising autoencoders
// (engine.Backend.Corrupt; engine.DrawsAt's CorruptAt), element i drawing
// element start + i of the (seed, stream) streams (start 0 for Corrupt): kind NOISE_GAUSSIAN dst = src + level·Normal(i) (the
// product rounded before the sum, as the CPU backend); NOISE_MASKING
// dst = Uniform(i) < level ? 0 : src; NOISE_SALT_PEPPER dst = u < level/2 ?
// 0 : u < level ? 1 : src; NOISE_NONE (or any other code) dst = src. The
// comparisons are of exact float32 values, so the uniform kinds are
// bitwise the CPU backend. dst may equal src (in place: each element is
// read, then written, by one thread), hence no __restrict__; they may not
// overlap otherwise. Each thread makes one Philox block (RAND_PER_THREAD =
// 4 consecutive elements of the stream) per step, as rand_normal, of the
// blocks that [start, start+n) touches.
static_assert(RAND_PER_THREAD == 4, "the random kernels make one Philox block (4 words) per thread and step");

extern "C" __global__ void __launch_bounds__(ELEM_THREADS)
corrupt_f32(float* dst, const float* src, long long n, int kind, float level, unsigned long long seed,
            unsigned long long stream, unsigned long long start) {
  if (kind != NOISE_GAUSSIAN && kind != NOISE_MASKING && kind != NOISE_SALT_PEPPER) {
    if (dst != src)
      for (long long i = grid_first(); i < n; i += grid_stride()) dst[i] = src[i];
    return;
  }
  const float half = level * 0.5f;  // exact: level/2
  const unsigned long long b0 = start / RAND_PER_THREAD;
  const long long nblk =
      n > 0 ? (long long)((start + (unsigned long long)n + RAND_PER_THREAD - 1) / RAND_PER_THREAD - b0) : 0;
  for (long long q = grid_first(); q < nblk; q += grid_stride()) {
    const unsigned long long blk = b0 + (unsigned long long)q;
    const philox4 w = philox_block(seed, stream, blk);
    const long long i0 = (long long)(RAND_PER_THREAD * blk - start);  // ≥ −3 (start not a multiple of 4)
    if (kind == NOISE_GAUSSIAN) {
      float v[4];
      normal_pair(w.x, w.y, &v[0], &v[1]);
      normal_pair(w.z, w.w, &v[2], &v[3]);
#pragma unroll
      for (int j = 0; j < 4; ++j)
        if (i0 + j >= 0 && i0 + j < n) dst[i0 + j] = FADD(src[i0 + j], FMUL(level, v[j]));
    } else {
      const unsigned int ws[4] = {w.x, w.y, w.z, w.w};
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        if (i0 + j < 0) continue;
        if (i0 + j >= n) break;
        const float u = uniform_from_word(ws[j]);
        float x = src[i0 + j];
        if (kind == NOISE_MASKING) {
          if (u < level) x = 0.0f;
        } else if (u < half) {
          x = 0.0f;
        } else if (u < level) {
          x = 1.0f;
        }
        dst[i0 + j] = x;
      }
    }
  }
}

// adam_step: PyTorch Adam (decoupled 0: g += wd·p) or AdamW (decoupled 1:
// p ← p·(1 − lr·wd) first), in the CPU backend's float32 operation order
// (no FMA contraction), so that the two agree to the rounding of the
// host-side constants:
//   m = β1·m + (1−β1)·g;  v = β2·v + (1−β2)·g²
//   p −= (lr/bc1)·m / (sqrt(v)/sqrt(bc2) + eps)
extern "C" __global__ void __launch_bounds__(ELEM_THREADS)
adam_step(float* __restrict__ p, const float* __restrict__ g, float* __restrict__ m,
          float* __restrict__ v, long long n, float lr, float beta1, float beta2, float eps,
          float wd, float bc1, float bc2, int decoupled) {
  const float step = (float)((double)lr / (double)bc1);
  const float bc2s = sqrtf(bc2);
  const float decay = FSUB(1.0f, FMUL(lr, wd));
  const float c1 = FSUB(1.0f, beta1), c2 = FSUB(1.0f, beta2);
  for (long long i = grid_first(); i < n; i += grid_stride()) {
    float pv = p[i], gk = g[i];
    if (decoupled) {
      pv = FMUL(pv, decay);
    } else {
      gk = FADD(gk, FMUL(wd, pv));
    }
    const float mk = FADD(FMUL(beta1, m[i]), FMUL(c1, gk));
    const float vk = FADD(FMUL(beta2, v[i]), FMUL(FMUL(c2, gk), gk));
    m[i] = mk;
    v[i] = vk;
    const float denom = FADD(sqrtf(vk) / bc2s, eps);
    p[i] = FSUB(pv, FMUL(step, mk) / denom);
  }
}

// sgd_step: g' = g + wd·p; momentum 0: p −= lr·g' (buf untouched); else
// buf = first ? g' : momentum·buf + g', p −= lr·buf.
extern "C" __global__ void __launch_bounds__(ELEM_THREADS)
sgd_step(float* __restrict__ p, const float* __restrict__ g, float* __restrict__ buf, long long n,
         float lr, float momentum, float wd, int first) {
  for (long long i = grid_first(); i < n; i += grid_stride()) {
    const float pv = p[i];
    const float gk = FADD(g[i], FMUL(wd, pv));
    if (momentum == 0.0f) {
      p[i] = FSUB(pv, FMUL(lr, gk));
    } else {
      const float b = first ? gk : FADD(FMUL(momentum, buf[i]), gk);
      buf[i] = b;
      p[i] = FSUB(pv, FMUL(lr, b));
    }
  }
}
