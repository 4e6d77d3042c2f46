//go:build amd64 && !noasm

#include "textflag.h"

// Vectorized Dense epilogues and activation gradients (see act_amd64.go).
// Each does, 8 floats at a time, exactly the float32 operations of the Go
// loop it replaces (mathf.go), so results match the Go code bit for bit
// (FMA is never used). n is a multiple of 8.

// func biasLinearAVX2(y, c, bias *float32, n int)
//
//	v = c + bias;  c = v;  y = v
TEXT ·biasLinearAVX2(SB), NOSPLIT, $0-32
	MOVQ y+0(FP), DI
	MOVQ c+8(FP), SI
	MOVQ bias+16(FP), DX
	MOVQ n+24(FP), CX
	SHRQ $3, CX
	JZ lindone
linloop:
	VMOVUPS (SI), Y0
	VADDPS (DX), Y0, Y0
	VMOVUPS Y0, (SI)
	VMOVUPS Y0, (DI)
	ADDQ $32, SI
	ADDQ $32, DI
	ADDQ $32, DX
	DECQ CX
	JNZ linloop
lindone:
	VZEROUPPER
	RET

// func biasReluAVX2(y, c, bias *float32, n int)
//
//	v = c + bias;  c = v;  y = v <= 0 ? 0 : v   (NaN stays NaN)
TEXT ·biasReluAVX2(SB), NOSPLIT, $0-32
	MOVQ y+0(FP), DI
	MOVQ c+8(FP), SI
	MOVQ bias+16(FP), DX
	MOVQ n+24(FP), CX
	VXORPS Y15, Y15, Y15
	SHRQ $3, CX
	JZ reludone
reluloop:
	VMOVUPS (SI), Y0
	VADDPS (DX), Y0, Y0
	VMOVUPS Y0, (SI)
	VCMPPS $6, Y15, Y0, Y1 // !(v <= 0): NLE_US, true for NaN
	VANDPS Y0, Y1, Y1
	VMOVUPS Y1, (DI)
	ADDQ $32, SI
	ADDQ $32, DI
	ADDQ $32, DX
	DECQ CX
	JNZ reluloop
reludone:
	VZEROUPPER
	RET

// func reluGradAVX2(dy, y *float32, n int)
//
//	dy = y > 0 ? dy : 0
TEXT ·reluGradAVX2(SB), NOSPLIT, $0-24
	MOVQ dy+0(FP), DI
	MOVQ y+8(FP), SI
	MOVQ n+16(FP), CX
	VXORPS Y15, Y15, Y15
	SHRQ $3, CX
	JZ rgdone
rgloop:
	VMOVUPS (SI), Y0
	VCMPPS $14, Y15, Y0, Y1 // y > 0: GT_OS, false for NaN
	VANDPS (DI), Y1, Y1
	VMOVUPS Y1, (DI)
	ADDQ $32, SI
	ADDQ $32, DI
	DECQ CX
	JNZ rgloop
rgdone:
	VZEROUPPER
	RET

// func sigmoidGradAVX2(dy, y *float32, n int)
//
//	dy = dy · (y · (1 − y))
TEXT ·sigmoidGradAVX2(SB), NOSPLIT, $0-24
	MOVQ dy+0(FP), DI
	MOVQ y+8(FP), SI
	MOVQ n+16(FP), CX
	MOVL $0x3f800000, AX
	MOVL AX, X15
	VBROADCASTSS X15, Y15 // 1
	SHRQ $3, CX
	JZ sgdone
sgloop:
	VMOVUPS (SI), Y0
	VSUBPS Y0, Y15, Y1 // 1 − y
	VMULPS Y1, Y0, Y1  // y·(1 − y)
	VMULPS (DI), Y1, Y1
	VMOVUPS Y1, (DI)
	ADDQ $32, SI
	ADDQ $32, DI
	DECQ CX
	JNZ sgloop
sgdone:
	VZEROUPPER
	RET

// func sigmoidBiasAVX2(y, c, bias *float32, n int, k *sigmoidConsts) (done int)
//
//	v = c + bias;  c = v;  y = sigmoid32(v)
//
// with sigmoid32 and exp32 of mathf.go: x = −|v|, e = exp32(x) (Cody–Waite
// reduction, degree-6 polynomial, scaling by 2ⁿ), y = (v ≥ 0 ? 1 : e)/(1 + e).
// It stops before the first group of 8 with an x outside exp32's fast range
// (x ≤ −87 or NaN) and returns the elements done; the caller does that group
// in Go and calls again.
TEXT ·sigmoidBiasAVX2(SB), NOSPLIT, $0-48
	MOVQ y+0(FP), DI
	MOVQ c+8(FP), SI
	MOVQ bias+16(FP), DX
	MOVQ n+24(FP), CX
	MOVQ k+32(FP), AX
	XORQ R8, R8 // elements done
	SHRQ $3, CX
	JZ sigdone
sigloop:
	VMOVUPS (SI), Y0
	VADDPS (DX), Y0, Y0 // v
	VBROADCASTSS 0(AX), Y1 // sign bit
	VORPS Y1, Y0, Y1       // x = −|v|
	VBROADCASTSS 4(AX), Y2 // −87
	VCMPPS $30, Y2, Y1, Y3 // x > −87: GT_OQ, false for NaN
	VMOVMSKPS Y3, BX
	CMPL BX, $0xff
	JNE sigdone
	VMOVUPS Y0, (SI) // c = v
	VBROADCASTSS 8(AX), Y2 // log2e
	VMULPS Y2, Y1, Y2      // t = x·log2e
	VXORPS Y3, Y3, Y3
	VCMPPS $1, Y3, Y2, Y3  // t < 0
	VBROADCASTSS 12(AX), Y4 // 0.5
	VBROADCASTSS 16(AX), Y5 // −0.5
	VBLENDVPS Y3, Y5, Y4, Y4 // t < 0 ? −0.5 : 0.5
	VADDPS Y4, Y2, Y2
	VCVTTPS2DQ Y2, Y2      // n = int32(t)
	VCVTDQ2PS Y2, Y3       // fn
	VBROADCASTSS 20(AX), Y4 // ln2hi
	VMULPS Y4, Y3, Y4
	VSUBPS Y4, Y1, Y4      // x − fn·ln2hi
	VBROADCASTSS 24(AX), Y5 // ln2lo
	VMULPS Y5, Y3, Y5
	VSUBPS Y5, Y4, Y4      // r
	VBROADCASTSS 28(AX), Y5 // p = c6
	VMULPS Y4, Y5, Y5
	VADDPS 32(AX), Y5, Y5  // ·r + c5 (c5…c1 are stored broadcast, 8 each)
	VMULPS Y4, Y5, Y5
	VADDPS 64(AX), Y5, Y5
	VMULPS Y4, Y5, Y5
	VADDPS 96(AX), Y5, Y5
	VMULPS Y4, Y5, Y5
	VADDPS 128(AX), Y5, Y5
	VMULPS Y4, Y5, Y5
	VADDPS 160(AX), Y5, Y5
	VMULPS Y4, Y5, Y5      // p·r
	VMULPS Y4, Y5, Y5      // ·r
	VADDPS Y4, Y5, Y5      // + r
	VBROADCASTSS 192(AX), Y6 // 1
	VADDPS Y6, Y5, Y5      // + 1
	VPCMPEQD Y7, Y7, Y7
	VPSRLD $25, Y7, Y7     // 127
	VPADDD Y7, Y2, Y2
	VPSLLD $23, Y2, Y2     // 2ⁿ
	VMULPS Y2, Y5, Y5      // e
	VADDPS Y6, Y5, Y7      // 1 + e
	VXORPS Y3, Y3, Y3
	VCMPPS $13, Y3, Y0, Y3 // v ≥ 0: GE_OS
	VBLENDVPS Y3, Y6, Y5, Y5 // v ≥ 0 ? 1 : e
	VDIVPS Y7, Y5, Y5
	VMOVUPS Y5, (DI)
	ADDQ $32, SI
	ADDQ $32, DI
	ADDQ $32, DX
	ADDQ $8, R8
	DECQ CX
	JNZ sigloop
sigdone:
	MOVQ R8, done+40(FP)
	VZEROUPPER
	RET
