//go:build cgo && linux

package emu

/*
#cgo CXXFLAGS: -std=c++20 -O1 -pthread -Wno-unknown-pragmas
#cgo LDFLAGS: -pthread
#include <stdlib.h>
#include "emu.h"
*/
import "C"

import (
	"errors"
	"sync"
	"unsafe"
)

// Available reports whether the emulator is built in (cgo).
const Available = true

var mu sync.Mutex // the emulator's globals (mode, last error) are process-wide

func dims(grid, block Dim3) C.emu_dims {
	one := func(v int) C.uint {
		if v <= 0 {
			return 1
		}
		return C.uint(v)
	}
	return C.emu_dims{
		gx: one(grid.X), gy: one(grid.Y), gz: one(grid.Z),
		bx: one(block.X), by: one(block.Y), bz: one(block.Z),
	}
}

func f32(s []float32) *C.float {
	if len(s) == 0 {
		return nil
	}
	return (*C.float)(unsafe.Pointer(&s[0]))
}

func f64(s []float64) *C.double {
	if len(s) == 0 {
		return nil
	}
	return (*C.double)(unsafe.Pointer(&s[0]))
}

func result(rc C.int) error {
	if rc == 0 {
		return nil
	}
	return errors.New("emu: " + C.GoString(C.emu_last_error()))
}

// SetMode selects the thread schedule of later launches.
func SetMode(m Mode) {
	mu.Lock()
	defer mu.Unlock()
	C.emu_set_mode(C.int(m))
}

// SetWatchdog sets how long, in milliseconds, a thread may wait at a
// barrier before the emulator aborts the process naming the kernel.
func SetWatchdog(ms int) {
	mu.Lock()
	defer mu.Unlock()
	C.emu_set_watchdog_ms(C.int(ms))
}

// SourcesSHA256 is the sha256 of the kernel sources this build of the
// emulator compiled (emu/sources_sha256.h, written by kernels/build.sh).
func SourcesSHA256() string { return C.GoString(C.emu_sources_sha256()) }

// sharedBytes is the size of the emulated shared memory (all __shared__
// variables), which is poisoned before every block.
func sharedBytes() int64 { return int64(C.emu_shared_bytes()) }

func launch(f func() C.int) error {
	mu.Lock()
	defer mu.Unlock()
	return result(f())
}

// GemmNTBiasAct launches gemm_nt_bias_act: Z = X·Wᵀ + b, Y = act(Z).
func GemmNTBiasAct(grid, block Dim3, X, W, b, Z, Y []float32, M, N, K, act int) error {
	return launch(func() C.int {
		return C.emu_launch_gemm_nt_bias_act(dims(grid, block), f32(X), f32(W), f32(b), f32(Z), f32(Y),
			C.int(M), C.int(N), C.int(K), C.int(act))
	})
}

// GemmNN launches gemm_nn: C = A·B + beta·C.
func GemmNN(grid, block Dim3, A, B, Cm []float32, M, N, K int, beta float32) error {
	return launch(func() C.int {
		return C.emu_launch_gemm_nn(dims(grid, block), f32(A), f32(B), f32(Cm), C.int(M), C.int(N), C.int(K), C.float(beta))
	})
}

// GemmTN launches gemm_tn: C = Aᵀ·B + beta·C.
func GemmTN(grid, block Dim3, A, B, Cm []float32, M, N, K int, beta float32) error {
	return launch(func() C.int {
		return C.emu_launch_gemm_tn(dims(grid, block), f32(A), f32(B), f32(Cm), C.int(M), C.int(N), C.int(K), C.float(beta))
	})
}

// GemmNTBiasAct64 launches gemm_nt_bias_act_64.
func GemmNTBiasAct64(grid, block Dim3, X, W, b, Z, Y []float32, M, N, K, act int) error {
	return launch(func() C.int {
		return C.emu_launch_gemm_nt_bias_act_64(dims(grid, block), f32(X), f32(W), f32(b), f32(Z), f32(Y),
			C.int(M), C.int(N), C.int(K), C.int(act))
	})
}

// GemmNN64 launches gemm_nn_64.
func GemmNN64(grid, block Dim3, A, B, Cm []float32, M, N, K int, beta float32) error {
	return launch(func() C.int {
		return C.emu_launch_gemm_nn_64(dims(grid, block), f32(A), f32(B), f32(Cm), C.int(M), C.int(N), C.int(K), C.float(beta))
	})
}

// GemmTN64 launches gemm_tn_64.
func GemmTN64(grid, block Dim3, A, B, Cm []float32, M, N, K int, beta float32) error {
	return launch(func() C.int {
		return C.emu_launch_gemm_tn_64(dims(grid, block), f32(A), f32(B), f32(Cm), C.int(M), C.int(N), C.int(K), C.float(beta))
	})
}

// GemmNNBiasAct launches gemm_nn_bias_act: Z = X·W + b, Y = act(Z) (W [K×N]).
func GemmNNBiasAct(grid, block Dim3, X, W, b, Z, Y []float32, M, N, K, act int) error {
	return launch(func() C.int {
		return C.emu_launch_gemm_nn_bias_act(dims(grid, block), f32(X), f32(W), f32(b), f32(Z), f32(Y),
			C.int(M), C.int(N), C.int(K), C.int(act))
	})
}

// GemmNNBiasAct64 launches gemm_nn_bias_act_64.
func GemmNNBiasAct64(grid, block Dim3, X, W, b, Z, Y []float32, M, N, K, act int) error {
	return launch(func() C.int {
		return C.emu_launch_gemm_nn_bias_act_64(dims(grid, block), f32(X), f32(W), f32(b), f32(Z), f32(Y),
			C.int(M), C.int(N), C.int(K), C.int(act))
	})
}

// GemmNT launches gemm_nt: C = A·Bᵀ + beta·C (B [N×K]).
func GemmNT(grid, block Dim3, A, B, Cm []float32, M, N, K int, beta float32) error {
	return launch(func() C.int {
		return C.emu_launch_gemm_nt(dims(grid, block), f32(A), f32(B), f32(Cm), C.int(M), C.int(N), C.int(K), C.float(beta))
	})
}

// GemmNT64 launches gemm_nt_64.
func GemmNT64(grid, block Dim3, A, B, Cm []float32, M, N, K int, beta float32) error {
	return launch(func() C.int {
		return C.emu_launch_gemm_nt_64(dims(grid, block), f32(A), f32(B), f32(Cm), C.int(M), C.int(N), C.int(K), C.float(beta))
	})
}

// The TF32 tensor-core GEMMs (gemm_tf32.cu), with the parameters of their
// fp32 counterparts.

// GemmNTBiasActTF32 launches gemm_nt_bias_act_tf32.
func GemmNTBiasActTF32(grid, block Dim3, X, W, b, Z, Y []float32, M, N, K, act int) error {
	return launch(func() C.int {
		return C.emu_launch_gemm_nt_bias_act_tf32(dims(grid, block), f32(X), f32(W), f32(b), f32(Z), f32(Y),
			C.int(M), C.int(N), C.int(K), C.int(act))
	})
}

// GemmNNBiasActTF32 launches gemm_nn_bias_act_tf32.
func GemmNNBiasActTF32(grid, block Dim3, X, W, b, Z, Y []float32, M, N, K, act int) error {
	return launch(func() C.int {
		return C.emu_launch_gemm_nn_bias_act_tf32(dims(grid, block), f32(X), f32(W), f32(b), f32(Z), f32(Y),
			C.int(M), C.int(N), C.int(K), C.int(act))
	})
}

// GemmNNTF32 launches gemm_nn_tf32.
func GemmNNTF32(grid, block Dim3, A, B, Cm []float32, M, N, K int, beta float32) error {
	return launch(func() C.int {
		return C.emu_launch_gemm_nn_tf32(dims(grid, block), f32(A), f32(B), f32(Cm), C.int(M), C.int(N), C.int(K), C.float(beta))
	})
}

// GemmTNTF32 launches gemm_tn_tf32.
func GemmTNTF32(grid, block Dim3, A, B, Cm []float32, M, N, K int, beta float32) error {
	return launch(func() C.int {
		return C.emu_launch_gemm_tn_tf32(dims(grid, block), f32(A), f32(B), f32(Cm), C.int(M), C.int(N), C.int(K), C.float(beta))
	})
}

// GemmNTTF32 launches gemm_nt_tf32.
func GemmNTTF32(grid, block Dim3, A, B, Cm []float32, M, N, K int, beta float32) error {
	return launch(func() C.int {
		return C.emu_launch_gemm_nt_tf32(dims(grid, block), f32(A), f32(B), f32(Cm), C.int(M), C.int(N), C.int(K), C.float(beta))
	})
}

// GemmNTBiasActTF32x64 launches gemm_nt_bias_act_tf32_64.
func GemmNTBiasActTF32x64(grid, block Dim3, X, W, b, Z, Y []float32, M, N, K, act int) error {
	return launch(func() C.int {
		return C.emu_launch_gemm_nt_bias_act_tf32_64(dims(grid, block), f32(X), f32(W), f32(b), f32(Z), f32(Y),
			C.int(M), C.int(N), C.int(K), C.int(act))
	})
}

// GemmNNBiasActTF32x64 launches gemm_nn_bias_act_tf32_64.
func GemmNNBiasActTF32x64(grid, block Dim3, X, W, b, Z, Y []float32, M, N, K, act int) error {
	return launch(func() C.int {
		return C.emu_launch_gemm_nn_bias_act_tf32_64(dims(grid, block), f32(X), f32(W), f32(b), f32(Z), f32(Y),
			C.int(M), C.int(N), C.int(K), C.int(act))
	})
}

// GemmNNTF32x64 launches gemm_nn_tf32_64.
func GemmNNTF32x64(grid, block Dim3, A, B, Cm []float32, M, N, K int, beta float32) error {
	return launch(func() C.int {
		return C.emu_launch_gemm_nn_tf32_64(dims(grid, block), f32(A), f32(B), f32(Cm), C.int(M), C.int(N), C.int(K), C.float(beta))
	})
}

// GemmTNTF32x64 launches gemm_tn_tf32_64.
func GemmTNTF32x64(grid, block Dim3, A, B, Cm []float32, M, N, K int, beta float32) error {
	return launch(func() C.int {
		return C.emu_launch_gemm_tn_tf32_64(dims(grid, block), f32(A), f32(B), f32(Cm), C.int(M), C.int(N), C.int(K), C.float(beta))
	})
}

// GemmNTTF32x64 launches gemm_nt_tf32_64.
func GemmNTTF32x64(grid, block Dim3, A, B, Cm []float32, M, N, K int, beta float32) error {
	return launch(func() C.int {
		return C.emu_launch_gemm_nt_tf32_64(dims(grid, block), f32(A), f32(B), f32(Cm), C.int(M), C.int(N), C.int(K), C.float(beta))
	})
}

// The BF16 tensor-core GEMMs (gemm_bf16.cu, PrecBF16), same parameters.

// GemmNTBiasActBF16 launches gemm_nt_bias_act_bf16.
func GemmNTBiasActBF16(grid, block Dim3, X, W, b, Z, Y []float32, M, N, K, act int) error {
	return launch(func() C.int {
		return C.emu_launch_gemm_nt_bias_act_bf16(dims(grid, block), f32(X), f32(W), f32(b), f32(Z), f32(Y),
			C.int(M), C.int(N), C.int(K), C.int(act))
	})
}

// GemmNNBF16 launches gemm_nn_bf16.
func GemmNNBF16(grid, block Dim3, A, B, Cm []float32, M, N, K int, beta float32) error {
	return launch(func() C.int {
		return C.emu_launch_gemm_nn_bf16(dims(grid, block), f32(A), f32(B), f32(Cm), C.int(M), C.int(N), C.int(K), C.float(beta))
	})
}

// GemmTNBF16 launches gemm_tn_bf16.
func GemmTNBF16(grid, block Dim3, A, B, Cm []float32, M, N, K int, beta float32) error {
	return launch(func() C.int {
		return C.emu_launch_gemm_tn_bf16(dims(grid, block), f32(A), f32(B), f32(Cm), C.int(M), C.int(N), C.int(K), C.float(beta))
	})
}

// GemmNNBiasActBF16 launches gemm_nn_bias_act_bf16.
func GemmNNBiasActBF16(grid, block Dim3, X, W, b, Z, Y []float32, M, N, K, act int) error {
	return launch(func() C.int {
		return C.emu_launch_gemm_nn_bias_act_bf16(dims(grid, block), f32(X), f32(W), f32(b), f32(Z), f32(Y),
			C.int(M), C.int(N), C.int(K), C.int(act))
	})
}

// GemmNTBF16 launches gemm_nt_bf16.
func GemmNTBF16(grid, block Dim3, A, B, Cm []float32, M, N, K int, beta float32) error {
	return launch(func() C.int {
		return C.emu_launch_gemm_nt_bf16(dims(grid, block), f32(A), f32(B), f32(Cm), C.int(M), C.int(N), C.int(K), C.float(beta))
	})
}

// GemmNTBiasActBF16x64 launches gemm_nt_bias_act_bf16_64.
func GemmNTBiasActBF16x64(grid, block Dim3, X, W, b, Z, Y []float32, M, N, K, act int) error {
	return launch(func() C.int {
		return C.emu_launch_gemm_nt_bias_act_bf16_64(dims(grid, block), f32(X), f32(W), f32(b), f32(Z), f32(Y),
			C.int(M), C.int(N), C.int(K), C.int(act))
	})
}

// GemmNNBF16x64 launches gemm_nn_bf16_64.
func GemmNNBF16x64(grid, block Dim3, A, B, Cm []float32, M, N, K int, beta float32) error {
	return launch(func() C.int {
		return C.emu_launch_gemm_nn_bf16_64(dims(grid, block), f32(A), f32(B), f32(Cm), C.int(M), C.int(N), C.int(K), C.float(beta))
	})
}

// GemmTNBF16x64 launches gemm_tn_bf16_64.
func GemmTNBF16x64(grid, block Dim3, A, B, Cm []float32, M, N, K int, beta float32) error {
	return launch(func() C.int {
		return C.emu_launch_gemm_tn_bf16_64(dims(grid, block), f32(A), f32(B), f32(Cm), C.int(M), C.int(N), C.int(K), C.float(beta))
	})
}

// GemmNNBiasActBF16x64 launches gemm_nn_bias_act_bf16_64.
func GemmNNBiasActBF16x64(grid, block Dim3, X, W, b, Z, Y []float32, M, N, K, act int) error {
	return launch(func() C.int {
		return C.emu_launch_gemm_nn_bias_act_bf16_64(dims(grid, block), f32(X), f32(W), f32(b), f32(Z), f32(Y),
			C.int(M), C.int(N), C.int(K), C.int(act))
	})
}

// GemmNTBF16x64 launches gemm_nt_bf16_64.
func GemmNTBF16x64(grid, block Dim3, A, B, Cm []float32, M, N, K int, beta float32) error {
	return launch(func() C.int {
		return C.emu_launch_gemm_nt_bf16_64(dims(grid, block), f32(A), f32(B), f32(Cm), C.int(M), C.int(N), C.int(K), C.float(beta))
	})
}

// mmaBF16Selftest runs one emulated mma.sync.m16n8k16 BF16 per warp (regs,
// c, d as mmaSelftest).
func mmaBF16Selftest(grid, block Dim3, regs []uint32, c, d []float32) error {
	return launch(func() C.int {
		return C.emu_launch_mma_bf16_selftest(dims(grid, block), (*C.uint)(unsafe.Pointer(&regs[0])), f32(c), f32(d))
	})
}

// cvtBF16Selftest runs the kernels' cvt.rn.bf16x2.f32 on every (hi[i], lo[i]).
func cvtBF16Selftest(hi, lo []float32, out []uint32) error {
	n := len(hi)
	return launch(func() C.int {
		return C.emu_launch_cvt_bf16_selftest(dims(D1((n+255)/256), D1(256)), f32(hi), f32(lo), (*C.uint)(unsafe.Pointer(&out[0])), C.int(n))
	})
}

// mmaSelftest runs one emulated mma.sync.m16n8k8 TF32 per warp (emu.h):
// regs holds 6 words per thread (a0…a3, b0, b1), c 4 floats (its C
// fragment), d receives 4 (its D fragment).
func mmaSelftest(grid, block Dim3, regs []uint32, c, d []float32, mode int) error {
	var rp *C.uint
	if len(regs) > 0 {
		rp = (*C.uint)(unsafe.Pointer(&regs[0]))
	}
	return launch(func() C.int { return C.emu_launch_mma_selftest(dims(grid, block), rp, f32(c), f32(d), C.int(mode)) })
}

// cvtSelftest runs the kernels' cvt.rna.tf32.f32 on every x.
func cvtSelftest(x []float32, out []uint32) error {
	n := len(x)
	return launch(func() C.int {
		return C.emu_launch_cvt_selftest(dims(D1((n+255)/256), D1(256)), f32(x), (*C.uint)(unsafe.Pointer(&out[0])), C.int(n))
	})
}

// ActGradBias launches act_grad_bias.
func ActGradBias(grid, block Dim3, dY, Y, Z, db []float32, M, N, act int, beta float32) error {
	return launch(func() C.int {
		return C.emu_launch_act_grad_bias(dims(grid, block), f32(dY), f32(Y), f32(Z), f32(db), C.int(M), C.int(N), C.int(act), C.float(beta))
	})
}

// LossGradPartial launches loss_grad_partial.
func LossGradPartial(grid, block Dim3, kind int, P, T, G []float32, partial []float64, n int64, invN float32) error {
	return launch(func() C.int {
		return C.emu_launch_loss_grad_partial(dims(grid, block), C.int(kind), f32(P), f32(T), f32(G), f64(partial),
			C.longlong(n), C.float(invN))
	})
}

// LossFinish launches loss_finish.
func LossFinish(grid, block Dim3, partial []float64, nblocks int, acc []float32, scale float32) error {
	return launch(func() C.int {
		return C.emu_launch_loss_finish(dims(grid, block), f64(partial), C.int(nblocks), f32(acc), C.float(scale))
	})
}

// RowLoss launches row_loss.
func RowLoss(grid, block Dim3, kind int, P, T, out []float32, rows, cols int) error {
	return launch(func() C.int {
		return C.emu_launch_row_loss(dims(grid, block), C.int(kind), f32(P), f32(T), f32(out), C.int(rows), C.int(cols))
	})
}

// LayerNormFwd launches layernorm_fwd.
func LayerNormFwd(grid, block Dim3, X, G, Bt, Y, mean, rstd []float32, rows, cols int, eps float32) error {
	return launch(func() C.int {
		return C.emu_launch_layernorm_fwd(dims(grid, block), f32(X), f32(G), f32(Bt), f32(Y), f32(mean), f32(rstd), C.int(rows), C.int(cols), C.float(eps))
	})
}

// LayerNormBwdDX launches layernorm_bwd_dx.
func LayerNormBwdDX(grid, block Dim3, DY, X, G, mean, rstd, DX []float32, rows, cols int) error {
	return launch(func() C.int {
		return C.emu_launch_layernorm_bwd_dx(dims(grid, block), f32(DY), f32(X), f32(G), f32(mean), f32(rstd), f32(DX), C.int(rows), C.int(cols))
	})
}

// LayerNormBwdParams launches layernorm_bwd_params.
func LayerNormBwdParams(grid, block Dim3, DY, X, mean, rstd, DG, DB []float32, rows, cols int) error {
	return launch(func() C.int {
		return C.emu_launch_layernorm_bwd_params(dims(grid, block), f32(DY), f32(X), f32(mean), f32(rstd), f32(DG), f32(DB), C.int(rows), C.int(cols))
	})
}

// ColMean launches col_mean.
func ColMean(grid, block Dim3, X, out []float32, rows, cols int) error {
	return launch(func() C.int {
		return C.emu_launch_col_mean(dims(grid, block), f32(X), f32(out), C.int(rows), C.int(cols))
	})
}

// SumsqPartial launches sumsq_partial.
func SumsqPartial(grid, block Dim3, X []float32, partial []float64, n int64) error {
	return launch(func() C.int {
		return C.emu_launch_sumsq_partial(dims(grid, block), f32(X), f64(partial), C.longlong(n))
	})
}

// SumsqFinish launches sumsq_finish.
func SumsqFinish(grid, block Dim3, partial []float64, nblocks int, acc []float32, mode int) error {
	return launch(func() C.int {
		return C.emu_launch_sumsq_finish(dims(grid, block), f64(partial), C.int(nblocks), f32(acc), C.int(mode))
	})
}

// ClipScale launches clip_scale.
func ClipScale(grid, block Dim3, G []float32, n int64, norm []float32, maxNorm float32) error {
	return launch(func() C.int {
		return C.emu_launch_clip_scale(dims(grid, block), f32(G), C.longlong(n), f32(norm), C.float(maxNorm))
	})
}

// AdamStep launches adam_step.
func AdamStep(grid, block Dim3, p, g, m, v []float32, n int64, lr, beta1, beta2, eps, wd, bc1, bc2 float32, decoupled int) error {
	return launch(func() C.int {
		return C.emu_launch_adam_step(dims(grid, block), f32(p), f32(g), f32(m), f32(v), C.longlong(n), C.float(lr),
			C.float(beta1), C.float(beta2), C.float(eps), C.float(wd), C.float(bc1), C.float(bc2), C.int(decoupled))
	})
}

// SGDStep launches sgd_step.
func SGDStep(grid, block Dim3, p, g, buf []float32, n int64, lr, momentum, wd float32, first int) error {
	return launch(func() C.int {
		return C.emu_launch_sgd_step(dims(grid, block), f32(p), f32(g), f32(buf), C.longlong(n), C.float(lr),
			C.float(momentum), C.float(wd), C.int(first))
	})
}

// Fill launches fill_f32.
func Fill(grid, block Dim3, x []float32, n int64, v float32) error {
	return launch(func() C.int { return C.emu_launch_fill_f32(dims(grid, block), f32(x), C.longlong(n), C.float(v)) })
}

// Copy launches copy_f32.
func Copy(grid, block Dim3, dst, src []float32, n int64) error {
	return launch(func() C.int { return C.emu_launch_copy_f32(dims(grid, block), f32(dst), f32(src), C.longlong(n)) })
}

// Axpy launches axpy_f32.
func Axpy(grid, block Dim3, alpha float32, x, y []float32, n int64) error {
	return launch(func() C.int {
		return C.emu_launch_axpy_f32(dims(grid, block), C.float(alpha), f32(x), f32(y), C.longlong(n))
	})
}

// EMA launches ema_f32.
func EMA(grid, block Dim3, decay float32, x, avg []float32, n int64) error {
	return launch(func() C.int {
		return C.emu_launch_ema_f32(dims(grid, block), C.float(decay), f32(x), f32(avg), C.longlong(n))
	})
}

// Scale launches scale_f32.
func Scale(grid, block Dim3, x []float32, n int64, alpha float32) error {
	return launch(func() C.int { return C.emu_launch_scale_f32(dims(grid, block), f32(x), C.longlong(n), C.float(alpha)) })
}

// RandUniform launches rand_uniform.
func RandUniform(grid, block Dim3, x []float32, n int64, seed, stream uint64, lo, hi float32) error {
	return launch(func() C.int {
		return C.emu_launch_rand_uniform(dims(grid, block), f32(x), C.longlong(n), C.ulonglong(seed), C.ulonglong(stream),
			C.float(lo), C.float(hi))
	})
}

// RandNormal launches rand_normal from element 0 of the stream.
func RandNormal(grid, block Dim3, x []float32, n int64, seed, stream uint64, mean, std float32) error {
	return RandNormalAt(grid, block, x, n, seed, stream, 0, mean, std)
}

// RandNormalAt launches rand_normal from element start of the stream.
func RandNormalAt(grid, block Dim3, x []float32, n int64, seed, stream, start uint64, mean, std float32) error {
	return launch(func() C.int {
		return C.emu_launch_rand_normal(dims(grid, block), f32(x), C.longlong(n), C.ulonglong(seed), C.ulonglong(stream),
			C.float(mean), C.float(std), C.ulonglong(start))
	})
}

// Corrupt launches corrupt_f32 (dst and src may be the same slice) from
// element 0 of the streams.
func Corrupt(grid, block Dim3, dst, src []float32, n int64, kind int, level float32, seed, stream uint64) error {
	return CorruptAt(grid, block, dst, src, n, kind, level, seed, stream, 0)
}

// CorruptAt launches corrupt_f32 from element start of the streams.
func CorruptAt(grid, block Dim3, dst, src []float32, n int64, kind int, level float32, seed, stream, start uint64) error {
	return launch(func() C.int {
		return C.emu_launch_corrupt_f32(dims(grid, block), f32(dst), f32(src), C.longlong(n), C.int(kind), C.float(level),
			C.ulonglong(seed), C.ulonglong(stream), C.ulonglong(start))
	})
}

// SparsityGrad launches sparsity_grad.
func SparsityGrad(grid, block Dim3, H, dH, rho []float32, partial []float64, B, D int, l1, beta, target float32) error {
	return launch(func() C.int {
		return C.emu_launch_sparsity_grad(dims(grid, block), f32(H), f32(dH), f32(rho), f64(partial), C.int(B), C.int(D),
			C.float(l1), C.float(beta), C.float(target))
	})
}

// ContractiveExact launches contractive_exact.
func ContractiveExact(grid, block Dim3, dY, Y, Z, W, dW, db []float32, partial []float64, B, D, K, act int, lambda float32) error {
	return launch(func() C.int {
		return C.emu_launch_contractive_exact(dims(grid, block), f32(dY), f32(Y), f32(Z), f32(W), f32(dW), f32(db),
			f64(partial), C.int(B), C.int(D), C.int(K), C.int(act), C.float(lambda))
	})
}

// ActJVP launches act_jvp (U and S may be the same slice).
func ActJVP(grid, block Dim3, U, S, Y, Z []float32, n int64, act int) error {
	return launch(func() C.int {
		return C.emu_launch_act_jvp(dims(grid, block), f32(U), f32(S), f32(Y), f32(Z), C.longlong(n), C.int(act))
	})
}

// ActJVPBackward launches act_jvp_backward (dS and dU may be the same slice).
func ActJVPBackward(grid, block Dim3, dS, dZE, dU, S, Y, Z []float32, n int64, act int) error {
	return launch(func() C.int {
		return C.emu_launch_act_jvp_backward(dims(grid, block), f32(dS), f32(dZE), f32(dU), f32(S), f32(Y), f32(Z),
			C.longlong(n), C.int(act))
	})
}

// ActGradAdd launches act_grad_add.
func ActGradAdd(grid, block Dim3, dY, E, Y, Z []float32, n int64, act int) error {
	return launch(func() C.int {
		return C.emu_launch_act_grad_add(dims(grid, block), f32(dY), f32(E), f32(Y), f32(Z), C.longlong(n), C.int(act))
	})
}

// Reparam launches reparam_f32.
func Reparam(grid, block Dim3, Zo, MU, LV, EPS []float32, n int64) error {
	return launch(func() C.int {
		return C.emu_launch_reparam_f32(dims(grid, block), f32(Zo), f32(MU), f32(LV), f32(EPS), C.longlong(n))
	})
}

// ReparamGradPartial launches reparam_grad_partial.
func ReparamGradPartial(grid, block Dim3, dMU, dLV, beta, dZ, MU, LV, EPS []float32, partial []float64, n int64, scale float32) error {
	return launch(func() C.int {
		return C.emu_launch_reparam_grad_partial(dims(grid, block), f32(dMU), f32(dLV), f32(beta), f32(dZ), f32(MU),
			f32(LV), f32(EPS), f64(partial), C.longlong(n), C.float(scale))
	})
}

// selftest launches one of the emulator's check kernels (emu.h): 0 early
// return before a barrier, 1 __trap, 2 a shared-memory race, 3 the race
// fixed, 4 block_sum's result used by every thread. out has one element per
// thread.
func selftest(grid, block Dim3, which int, out []float32) error {
	return launch(func() C.int { return C.emu_launch_selftest(dims(grid, block), C.int(which), f32(out)) })
}
