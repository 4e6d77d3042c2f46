//go:build amd64 && !noasm

#include "textflag.h"

// The Dense epilogues and activation gradients of act_amd64.s on ZMM
// registers, 16 floats at a time (n a multiple of 16): the same float32
// operations element for element, so the same bits. AVX-512 compares
// write opmask registers; selections are masked moves.

// func biasLinearAVX512(y, c, bias *float32, n int)
TEXT ·biasLinearAVX512(SB), NOSPLIT, $0-32
	MOVQ y+0(FP), DI
	MOVQ c+8(FP), SI
	MOVQ bias+16(FP), DX
	MOVQ n+24(FP), CX
	SHRQ $4, CX
	JZ zlindone
zlinloop:
	VMOVUPS (SI), Z0
	VADDPS (DX), Z0, Z0
	VMOVUPS Z0, (SI)
	VMOVUPS Z0, (DI)
	ADDQ $64, SI
	ADDQ $64, DI
	ADDQ $64, DX
	DECQ CX
	JNZ zlinloop
zlindone:
	VZEROUPPER
	RET

// func biasReluAVX512(y, c, bias *float32, n int)
//
//	v = c + bias;  c = v;  y = v <= 0 ? 0 : v   (NaN stays NaN)
TEXT ·biasReluAVX512(SB), NOSPLIT, $0-32
	MOVQ y+0(FP), DI
	MOVQ c+8(FP), SI
	MOVQ bias+16(FP), DX
	MOVQ n+24(FP), CX
	VPXORD Z15, Z15, Z15
	SHRQ $4, CX
	JZ zreludone
zreluloop:
	VMOVUPS (SI), Z0
	VADDPS (DX), Z0, Z0
	VMOVUPS Z0, (SI)
	VCMPPS $6, Z15, Z0, K1 // !(v <= 0): NLE_US, true for NaN
	VMOVUPS.Z Z0, K1, Z1
	VMOVUPS Z1, (DI)
	ADDQ $64, SI
	ADDQ $64, DI
	ADDQ $64, DX
	DECQ CX
	JNZ zreluloop
zreludone:
	VZEROUPPER
	RET

// func reluGradAVX512(dy, y *float32, n int)
//
//	dy = y > 0 ? dy : 0
TEXT ·reluGradAVX512(SB), NOSPLIT, $0-24
	MOVQ dy+0(FP), DI
	MOVQ y+8(FP), SI
	MOVQ n+16(FP), CX
	VPXORD Z15, Z15, Z15
	SHRQ $4, CX
	JZ zrgdone
zrgloop:
	VMOVUPS (SI), Z0
	VCMPPS $14, Z15, Z0, K1 // y > 0: GT_OS, false for NaN
	VMOVUPS.Z (DI), K1, Z1
	VMOVUPS Z1, (DI)
	ADDQ $64, SI
	ADDQ $64, DI
	DECQ CX
	JNZ zrgloop
zrgdone:
	VZEROUPPER
	RET

// func sigmoidGradAVX512(dy, y *float32, n int)
//
//	dy = dy · (y · (1 − y))
TEXT ·sigmoidGradAVX512(SB), NOSPLIT, $0-24
	MOVQ dy+0(FP), DI
	MOVQ y+8(FP), SI
	MOVQ n+16(FP), CX
	MOVL $0x3f800000, AX
	MOVL AX, X15
	VBROADCASTSS X15, Z15 // 1
	SHRQ $4, CX
	JZ zsgdone
zsgloop:
	VMOVUPS (SI), Z0
	VSUBPS Z0, Z15, Z1 // 1 − y
	VMULPS Z1, Z0, Z1  // y·(1 − y)
	VMULPS (DI), Z1, Z1
	VMOVUPS Z1, (DI)
	ADDQ $64, SI
	ADDQ $64, DI
	DECQ CX
	JNZ zsgloop
zsgdone:
	VZEROUPPER
	RET

// func sigmoidBiasAVX512(y, c, bias *float32, n int, k *sigmoidConsts) (done int)
//
// sigmoidBiasAVX2 16 at a time: v = c + bias; c = v; y = sigmoid32(v),
// stopping before the first group of 16 with an x = −|v| outside exp32's
// fast range (x ≤ −87 or NaN); returns the elements done.
TEXT ·sigmoidBiasAVX512(SB), NOSPLIT, $0-48
	MOVQ y+0(FP), DI
	MOVQ c+8(FP), SI
	MOVQ bias+16(FP), DX
	MOVQ n+24(FP), CX
	MOVQ k+32(FP), AX
	XORQ R8, R8 // elements done
	VBROADCASTSS 0(AX), Z16  // sign bit
	VBROADCASTSS 4(AX), Z17  // −87
	VBROADCASTSS 8(AX), Z18  // log2e
	VBROADCASTSS 12(AX), Z19 // 0.5
	VBROADCASTSS 16(AX), Z20 // −0.5
	VBROADCASTSS 20(AX), Z21 // ln2hi
	VBROADCASTSS 24(AX), Z22 // ln2lo
	VBROADCASTSS 28(AX), Z23 // c6
	VBROADCASTSS 32(AX), Z24 // c5 (c5…c1 are stored 8 times each)
	VBROADCASTSS 64(AX), Z25 // c4
	VBROADCASTSS 96(AX), Z26 // c3
	VBROADCASTSS 128(AX), Z27 // c2
	VBROADCASTSS 160(AX), Z28 // c1
	VBROADCASTSS 192(AX), Z29 // 1
	VPXORD Z30, Z30, Z30     // 0
	VPTERNLOGD $0xff, Z31, Z31, Z31
	VPSRLD $25, Z31, Z31     // 127
	SHRQ $4, CX
	JZ zsigdone
zsigloop:
	VMOVUPS (SI), Z0
	VADDPS (DX), Z0, Z0 // v
	VORPS Z16, Z0, Z1   // x = −|v|
	VCMPPS $30, Z17, Z1, K1 // x > −87: GT_OQ, false for NaN
	KMOVW K1, BX
	CMPL BX, $0xffff
	JNE zsigdone
	VMOVUPS Z0, (SI) // c = v
	VMULPS Z18, Z1, Z2 // t = x·log2e
	VCMPPS $1, Z30, Z2, K2 // t < 0
	VMOVAPS Z19, Z4
	VMOVAPS Z20, K2, Z4 // t < 0 ? −0.5 : 0.5
	VADDPS Z4, Z2, Z2
	VCVTTPS2DQ Z2, Z2   // n = int32(t)
	VCVTDQ2PS Z2, Z3    // fn
	VMULPS Z21, Z3, Z4
	VSUBPS Z4, Z1, Z4   // x − fn·ln2hi
	VMULPS Z22, Z3, Z5
	VSUBPS Z5, Z4, Z4   // r
	VMULPS Z4, Z23, Z5  // c6·r
	VADDPS Z24, Z5, Z5  // + c5
	VMULPS Z4, Z5, Z5
	VADDPS Z25, Z5, Z5
	VMULPS Z4, Z5, Z5
	VADDPS Z26, Z5, Z5
	VMULPS Z4, Z5, Z5
	VADDPS Z27, Z5, Z5
	VMULPS Z4, Z5, Z5
	VADDPS Z28, Z5, Z5
	VMULPS Z4, Z5, Z5   // p·r
	VMULPS Z4, Z5, Z5   // ·r
	VADDPS Z4, Z5, Z5   // + r
	VADDPS Z29, Z5, Z5  // + 1
	VPADDD Z31, Z2, Z2
	VPSLLD $23, Z2, Z2  // 2ⁿ
	VMULPS Z2, Z5, Z5   // e
	VADDPS Z29, Z5, Z7  // 1 + e
	VCMPPS $13, Z30, Z0, K3 // v ≥ 0: GE_OS
	VMOVAPS Z29, K3, Z5 // v ≥ 0 ? 1 : e
	VDIVPS Z7, Z5, Z5
	VMOVUPS Z5, (DI)
	ADDQ $64, SI
	ADDQ $64, DI
	ADDQ $64, DX
	ADDQ $16, R8
	DECQ CX
	JNZ zsigloop
zsigdone:
	MOVQ R8, done+40(FP)
	VZEROUPPER
	RET
