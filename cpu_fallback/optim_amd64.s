//go:build amd64 && !noasm

#include "textflag.h"

// func adamAVX2(p, grad, m, v *float32, n int, c *adamConsts)
//
// The Adam/AdamW update of optJob.do for n elements (a multiple of 8), 8 at
// a time, with the same float32 operations in the same order (separate
// multiplies and adds, no FMA; VSQRTPS is the correctly rounded square root
// that float32(math.Sqrt(float64(v))) also is), so it matches the Go loop
// of a default (GOAMD64=v1) build bit for bit:
//
//	adam:  gk = g + wd·p                  adamw: p = p·decay, gk = g
//	m = β1·m + (1−β1)·gk
//	v = β2·v + ((1−β2)·gk)·gk
//	p = p − (step·m) / (sqrt(v)/bc2 + eps)
TEXT ·adamAVX2(SB), NOSPLIT, $0-48
	MOVQ p+0(FP), DI
	MOVQ grad+8(FP), SI
	MOVQ m+16(FP), R8
	MOVQ v+24(FP), R9
	MOVQ n+32(FP), CX
	MOVQ c+40(FP), AX
	VBROADCASTSS 0(AX), Y8   // β1
	VBROADCASTSS 4(AX), Y9   // 1−β1
	VBROADCASTSS 8(AX), Y10  // β2
	VBROADCASTSS 12(AX), Y11 // 1−β2
	VBROADCASTSS 16(AX), Y12 // wd (Adam) or decay (AdamW)
	VBROADCASTSS 20(AX), Y13 // eps
	VBROADCASTSS 24(AX), Y14 // step
	VBROADCASTSS 28(AX), Y15 // bc2
	MOVL 32(AX), BX          // 1: AdamW
	SHRQ $3, CX
	JZ done
	TESTL BX, BX
	JNZ loopw
loop:
	VMOVUPS (DI), Y0         // p
	VMOVUPS (SI), Y1         // g
	VMULPS Y0, Y12, Y2       // wd·p
	VADDPS Y2, Y1, Y1        // gk = g + wd·p
	VMULPS (R8), Y8, Y2      // β1·m
	VMULPS Y1, Y9, Y3        // (1−β1)·gk
	VADDPS Y3, Y2, Y2        // m
	VMULPS (R9), Y10, Y3     // β2·v
	VMULPS Y1, Y11, Y4       // (1−β2)·gk
	VMULPS Y1, Y4, Y4        // ·gk
	VADDPS Y4, Y3, Y3        // v
	VMOVUPS Y2, (R8)
	VMOVUPS Y3, (R9)
	VSQRTPS Y3, Y3
	VDIVPS Y15, Y3, Y3       // sqrt(v)/bc2
	VADDPS Y13, Y3, Y3       // + eps
	VMULPS Y2, Y14, Y2       // step·m
	VDIVPS Y3, Y2, Y2        // / denom
	VSUBPS Y2, Y0, Y0        // p − …
	VMOVUPS Y0, (DI)
	ADDQ $32, DI
	ADDQ $32, SI
	ADDQ $32, R8
	ADDQ $32, R9
	DECQ CX
	JNZ loop
	JMP done
loopw:
	VMOVUPS (DI), Y0
	VMULPS Y12, Y0, Y0       // p·decay
	VMOVUPS (SI), Y1         // gk = g
	VMULPS (R8), Y8, Y2
	VMULPS Y1, Y9, Y3
	VADDPS Y3, Y2, Y2
	VMULPS (R9), Y10, Y3
	VMULPS Y1, Y11, Y4
	VMULPS Y1, Y4, Y4
	VADDPS Y4, Y3, Y3
	VMOVUPS Y2, (R8)
	VMOVUPS Y3, (R9)
	VSQRTPS Y3, Y3
	VDIVPS Y15, Y3, Y3
	VADDPS Y13, Y3, Y3
	VMULPS Y2, Y14, Y2
	VDIVPS Y3, Y2, Y2
	VSUBPS Y2, Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ $32, DI
	ADDQ $32, SI
	ADDQ $32, R8
	ADDQ $32, R9
	DECQ CX
	JNZ loopw
done:
	VZEROUPPER
	RET

// func adamAVX512(p, grad, m, v *float32, n int, c *adamConsts)
//
// adamAVX2 16 elements at a time on ZMM registers (n a multiple of 16):
// the same operations element for element, so the same bits.
TEXT ·adamAVX512(SB), NOSPLIT, $0-48
	MOVQ p+0(FP), DI
	MOVQ grad+8(FP), SI
	MOVQ m+16(FP), R8
	MOVQ v+24(FP), R9
	MOVQ n+32(FP), CX
	MOVQ c+40(FP), AX
	VBROADCASTSS 0(AX), Z8   // β1
	VBROADCASTSS 4(AX), Z9   // 1−β1
	VBROADCASTSS 8(AX), Z10  // β2
	VBROADCASTSS 12(AX), Z11 // 1−β2
	VBROADCASTSS 16(AX), Z12 // wd (Adam) or decay (AdamW)
	VBROADCASTSS 20(AX), Z13 // eps
	VBROADCASTSS 24(AX), Z14 // step
	VBROADCASTSS 28(AX), Z15 // bc2
	MOVL 32(AX), BX          // 1: AdamW
	SHRQ $4, CX
	JZ zdone
	TESTL BX, BX
	JNZ zloopw
zloop:
	VMOVUPS (DI), Z0         // p
	VMOVUPS (SI), Z1         // g
	VMULPS Z0, Z12, Z2       // wd·p
	VADDPS Z2, Z1, Z1        // gk = g + wd·p
	VMULPS (R8), Z8, Z2      // β1·m
	VMULPS Z1, Z9, Z3        // (1−β1)·gk
	VADDPS Z3, Z2, Z2        // m
	VMULPS (R9), Z10, Z3     // β2·v
	VMULPS Z1, Z11, Z4       // (1−β2)·gk
	VMULPS Z1, Z4, Z4        // ·gk
	VADDPS Z4, Z3, Z3        // v
	VMOVUPS Z2, (R8)
	VMOVUPS Z3, (R9)
	VSQRTPS Z3, Z3
	VDIVPS Z15, Z3, Z3       // sqrt(v)/bc2
	VADDPS Z13, Z3, Z3       // + eps
	VMULPS Z2, Z14, Z2       // step·m
	VDIVPS Z3, Z2, Z2        // / denom
	VSUBPS Z2, Z0, Z0        // p − …
	VMOVUPS Z0, (DI)
	ADDQ $64, DI
	ADDQ $64, SI
	ADDQ $64, R8
	ADDQ $64, R9
	DECQ CX
	JNZ zloop
	JMP zdone
zloopw:
	VMOVUPS (DI), Z0
	VMULPS Z12, Z0, Z0       // p·decay
	VMOVUPS (SI), Z1         // gk = g
	VMULPS (R8), Z8, Z2
	VMULPS Z1, Z9, Z3
	VADDPS Z3, Z2, Z2
	VMULPS (R9), Z10, Z3
	VMULPS Z1, Z11, Z4
	VMULPS Z1, Z4, Z4
	VADDPS Z4, Z3, Z3
	VMOVUPS Z2, (R8)
	VMOVUPS Z3, (R9)
	VSQRTPS Z3, Z3
	VDIVPS Z15, Z3, Z3
	VADDPS Z13, Z3, Z3
	VMULPS Z2, Z14, Z2
	VDIVPS Z3, Z2, Z2
	VSUBPS Z2, Z0, Z0
	VMOVUPS Z0, (DI)
	ADDQ $64, DI
	ADDQ $64, SI
	ADDQ $64, R8
	ADDQ $64, R9
	DECQ CX
	JNZ zloopw
zdone:
	VZEROUPPER
	RET
