//go:build amd64 && !noasm

#include "textflag.h"

// Packing of GEMM operands into the micro-kernel's panels (see packPanel).

// func packT8(dst, src *float32, rs, dstride, k8 int)
//
// Transposes 8 rows of src (rows rs floats apart) into dst, 8 columns at a
// time for k8 groups: dst[p·dstride + i] = src[i·rs + p], i < 8, p < 8·k8.
TEXT ·packT8(SB), NOSPLIT, $0-40
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ rs+16(FP), BX
	SHLQ $2, BX
	MOVQ dstride+24(FP), DX
	SHLQ $2, DX
	MOVQ k8+32(FP), CX
	TESTQ CX, CX
	JZ t8done
	LEAQ (BX)(BX*2), R8 // 3 rows
	LEAQ (DX)(DX*2), R9 // 3 outputs
t8loop:
	MOVQ SI, R10
	VMOVUPS (R10), Y0
	VMOVUPS (R10)(BX*1), Y1
	VMOVUPS (R10)(BX*2), Y2
	VMOVUPS (R10)(R8*1), Y3
	LEAQ (R10)(BX*4), R10
	VMOVUPS (R10), Y4
	VMOVUPS (R10)(BX*1), Y5
	VMOVUPS (R10)(BX*2), Y6
	VMOVUPS (R10)(R8*1), Y7
	VUNPCKLPS Y1, Y0, Y8
	VUNPCKHPS Y1, Y0, Y9
	VUNPCKLPS Y3, Y2, Y10
	VUNPCKHPS Y3, Y2, Y11
	VUNPCKLPS Y5, Y4, Y12
	VUNPCKHPS Y5, Y4, Y13
	VUNPCKLPS Y7, Y6, Y14
	VUNPCKHPS Y7, Y6, Y15
	VSHUFPS $0x44, Y10, Y8, Y0
	VSHUFPS $0xEE, Y10, Y8, Y1
	VSHUFPS $0x44, Y11, Y9, Y2
	VSHUFPS $0xEE, Y11, Y9, Y3
	VSHUFPS $0x44, Y14, Y12, Y4
	VSHUFPS $0xEE, Y14, Y12, Y5
	VSHUFPS $0x44, Y15, Y13, Y6
	VSHUFPS $0xEE, Y15, Y13, Y7
	VPERM2F128 $0x20, Y4, Y0, Y8
	VPERM2F128 $0x20, Y5, Y1, Y9
	VPERM2F128 $0x20, Y6, Y2, Y10
	VPERM2F128 $0x20, Y7, Y3, Y11
	VPERM2F128 $0x31, Y4, Y0, Y12
	VPERM2F128 $0x31, Y5, Y1, Y13
	VPERM2F128 $0x31, Y6, Y2, Y14
	VPERM2F128 $0x31, Y7, Y3, Y15
	MOVQ DI, R11
	VMOVUPS Y8, (R11)
	VMOVUPS Y9, (R11)(DX*1)
	VMOVUPS Y10, (R11)(DX*2)
	VMOVUPS Y11, (R11)(R9*1)
	LEAQ (R11)(DX*4), R11
	VMOVUPS Y12, (R11)
	VMOVUPS Y13, (R11)(DX*1)
	VMOVUPS Y14, (R11)(DX*2)
	VMOVUPS Y15, (R11)(R9*1)
	ADDQ $32, SI
	LEAQ (R11)(DX*4), DI
	DECQ CX
	JNZ t8loop
t8done:
	VZEROUPPER
	RET

// func packT6(dst, src *float32, rs, k8 int)
//
// Transposes 6 rows of src (rows rs floats apart) into the 6-wide panel
// dst, 8 columns at a time for k8 groups: dst[p·6 + i] = src[i·rs + p].
TEXT ·packT6(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ rs+16(FP), BX
	SHLQ $2, BX
	MOVQ k8+24(FP), CX
	TESTQ CX, CX
	JZ t6done
	LEAQ (BX)(BX*2), R8
t6loop:
	MOVQ SI, R10
	VMOVUPS (R10), Y0
	VMOVUPS (R10)(BX*1), Y1
	VMOVUPS (R10)(BX*2), Y2
	VMOVUPS (R10)(R8*1), Y3
	LEAQ (R10)(BX*4), R10
	VMOVUPS (R10), Y4
	VMOVUPS (R10)(BX*1), Y5
	VUNPCKLPS Y1, Y0, Y8  // r0r1 cols 0,1 | 4,5
	VUNPCKHPS Y1, Y0, Y9  // r0r1 cols 2,3 | 6,7
	VUNPCKLPS Y3, Y2, Y10
	VUNPCKHPS Y3, Y2, Y11
	VUNPCKLPS Y5, Y4, Y12 // (r4,r5) pairs of cols 0,1 | 4,5
	VUNPCKHPS Y5, Y4, Y13 // cols 2,3 | 6,7
	VSHUFPS $0x44, Y10, Y8, Y0 // rows 0-3 of col 0 | col 4
	VSHUFPS $0xEE, Y10, Y8, Y1 // col 1 | col 5
	VSHUFPS $0x44, Y11, Y9, Y2 // col 2 | col 6
	VSHUFPS $0xEE, Y11, Y9, Y3 // col 3 | col 7
	VMOVUPS X0, (DI)
	VMOVLPS X12, 16(DI)
	VMOVUPS X1, 24(DI)
	VMOVHPS X12, 40(DI)
	VMOVUPS X2, 48(DI)
	VMOVLPS X13, 64(DI)
	VMOVUPS X3, 72(DI)
	VMOVHPS X13, 88(DI)
	VEXTRACTF128 $1, Y0, X0
	VEXTRACTF128 $1, Y1, X1
	VEXTRACTF128 $1, Y2, X2
	VEXTRACTF128 $1, Y3, X3
	VEXTRACTF128 $1, Y12, X12
	VEXTRACTF128 $1, Y13, X13
	VMOVUPS X0, 96(DI)
	VMOVLPS X12, 112(DI)
	VMOVUPS X1, 120(DI)
	VMOVHPS X12, 136(DI)
	VMOVUPS X2, 144(DI)
	VMOVLPS X13, 160(DI)
	VMOVUPS X3, 168(DI)
	VMOVHPS X13, 184(DI)
	ADDQ $32, SI
	ADDQ $192, DI
	DECQ CX
	JNZ t6loop
t6done:
	VZEROUPPER
	RET

// func packC16(dst, src *float32, cs, k int)
//
// Copies k rows of 16 floats, cs floats apart in src, into the 16-wide
// panel dst: dst[p·16 + i] = src[p·cs + i].
TEXT ·packC16(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ cs+16(FP), BX
	SHLQ $2, BX
	MOVQ k+24(FP), CX
	TESTQ CX, CX
	JZ c16done
c16loop:
	VMOVUPS (SI), Y0
	VMOVUPS 32(SI), Y1
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)
	ADDQ BX, SI
	ADDQ $64, DI
	DECQ CX
	JNZ c16loop
c16done:
	VZEROUPPER
	RET

// func packC6(dst, src *float32, cs, k int)
//
// Copies k rows of 6 floats, cs floats apart in src, into the 6-wide panel
// dst: dst[p·6 + i] = src[p·cs + i].
TEXT ·packC6(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ cs+16(FP), BX
	SHLQ $2, BX
	MOVQ k+24(FP), CX
	TESTQ CX, CX
	JZ c6done
c6loop:
	VMOVUPS (SI), X0
	VMOVSD 16(SI), X1
	VMOVUPS X0, (DI)
	VMOVSD X1, 16(DI)
	ADDQ BX, SI
	ADDQ $24, DI
	DECQ CX
	JNZ c6loop
c6done:
	RET

// func packT6S(dst, src *float32, rs, dstride, k8 int)
//
// packT6 into a wider panel: transposes 6 rows of src (rows rs floats
// apart) into dst, 8 columns at a time for k8 groups: dst[p·dstride + i] =
// src[i·rs + p], i < 6, p < 8·k8 (6 floats written per p, nothing else).
TEXT ·packT6S(SB), NOSPLIT, $0-40
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ rs+16(FP), BX
	SHLQ $2, BX
	MOVQ dstride+24(FP), DX
	SHLQ $2, DX
	MOVQ k8+32(FP), CX
	TESTQ CX, CX
	JZ t6sdone
	LEAQ (BX)(BX*2), R8
	LEAQ (DX)(DX*2), R9 // 3 outputs
t6sloop:
	MOVQ SI, R10
	VMOVUPS (R10), Y0
	VMOVUPS (R10)(BX*1), Y1
	VMOVUPS (R10)(BX*2), Y2
	VMOVUPS (R10)(R8*1), Y3
	LEAQ (R10)(BX*4), R10
	VMOVUPS (R10), Y4
	VMOVUPS (R10)(BX*1), Y5
	VUNPCKLPS Y1, Y0, Y8
	VUNPCKHPS Y1, Y0, Y9
	VUNPCKLPS Y3, Y2, Y10
	VUNPCKHPS Y3, Y2, Y11
	VUNPCKLPS Y5, Y4, Y12
	VUNPCKHPS Y5, Y4, Y13
	VSHUFPS $0x44, Y10, Y8, Y0
	VSHUFPS $0xEE, Y10, Y8, Y1
	VSHUFPS $0x44, Y11, Y9, Y2
	VSHUFPS $0xEE, Y11, Y9, Y3
	MOVQ DI, R11
	VMOVUPS X0, (R11)
	VMOVLPS X12, 16(R11)
	VMOVUPS X1, (R11)(DX*1)
	VMOVHPS X12, 16(R11)(DX*1)
	VMOVUPS X2, (R11)(DX*2)
	VMOVLPS X13, 16(R11)(DX*2)
	VMOVUPS X3, (R11)(R9*1)
	VMOVHPS X13, 16(R11)(R9*1)
	LEAQ (R11)(DX*4), R11
	VEXTRACTF128 $1, Y0, X0
	VEXTRACTF128 $1, Y1, X1
	VEXTRACTF128 $1, Y2, X2
	VEXTRACTF128 $1, Y3, X3
	VEXTRACTF128 $1, Y12, X12
	VEXTRACTF128 $1, Y13, X13
	VMOVUPS X0, (R11)
	VMOVLPS X12, 16(R11)
	VMOVUPS X1, (R11)(DX*1)
	VMOVHPS X12, 16(R11)(DX*1)
	VMOVUPS X2, (R11)(DX*2)
	VMOVLPS X13, 16(R11)(DX*2)
	VMOVUPS X3, (R11)(R9*1)
	VMOVHPS X13, 16(R11)(R9*1)
	ADDQ $32, SI
	LEAQ (R11)(DX*4), DI
	DECQ CX
	JNZ t6sloop
t6sdone:
	VZEROUPPER
	RET

// func packC32(dst, src *float32, cs, k int)
//
// Copies k rows of 32 floats, cs floats apart in src, into the 32-wide
// panel dst: dst[p·32 + i] = src[p·cs + i] (AVX-512).
TEXT ·packC32(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ cs+16(FP), BX
	SHLQ $2, BX
	MOVQ k+24(FP), CX
	TESTQ CX, CX
	JZ c32done
c32loop:
	VMOVUPS (SI), Z0
	VMOVUPS 64(SI), Z1
	VMOVUPS Z0, (DI)
	VMOVUPS Z1, 64(DI)
	ADDQ BX, SI
	ADDQ $128, DI
	DECQ CX
	JNZ c32loop
c32done:
	VZEROUPPER
	RET

// func packC14(dst, src *float32, cs, k int)
//
// Copies k rows of 14 floats, cs floats apart in src, into the 14-wide
// panel dst: dst[p·14 + i] = src[p·cs + i].
TEXT ·packC14(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ cs+16(FP), BX
	SHLQ $2, BX
	MOVQ k+24(FP), CX
	TESTQ CX, CX
	JZ c14done
c14loop:
	VMOVUPS (SI), Y0
	VMOVUPS 32(SI), X1
	VMOVSD 48(SI), X2
	VMOVUPS Y0, (DI)
	VMOVUPS X1, 32(DI)
	VMOVSD X2, 48(DI)
	ADDQ BX, SI
	ADDQ $56, DI
	DECQ CX
	JNZ c14loop
c14done:
	VZEROUPPER
	RET
