//go:build amd64 && !noasm

package cpu_fallback

import "golang.org/x/sys/cpu"

// CPU features, read once (golang.org/x/sys/cpu): the AVX2 path needs AVX2
// and FMA, the AVX-512 path also AVX-512F, VL, BW and DQ (the kernel uses
// F; the epilogues' masks and 128/256-bit forms VL, BW and DQ).
var (
	hasAVX2   = cpu.X86.HasAVX2 && cpu.X86.HasFMA
	hasAVX512 = hasAVX2 && cpu.X86.HasAVX512F && cpu.X86.HasAVX512VL && cpu.X86.HasAVX512BW && cpu.X86.HasAVX512DQ
)

var (
	avx2Kernel   = &kernel{path: pathAVX2, mr: mr, nr: nr, fn: fnAVX2, twin: goKernel, kc: kcMax, mt: mtMax, nt: ntMax}
	avx512Kernel = &kernel{path: pathAVX512, mr: mr14x32, nr: nr14x32, fn: fnAVX512, twin: goKernel14x32, kc: kcMax, mt: mtMax, nt: ntMax}
)

// kernelFor returns path p's kernel, nil when this CPU cannot run it.
func kernelFor(p kernelPath) *kernel {
	switch {
	case p == pathAVX512 && hasAVX512:
		return avx512Kernel
	case p == pathAVX2 && hasAVX2:
		return avx2Kernel
	case p == pathGeneric:
		return goKernel
	}
	return nil
}

// missingFeature says why path p cannot run on this CPU.
func missingFeature(p kernelPath) string {
	switch p {
	case pathAVX512:
		return "this CPU lacks AVX-512 (the path needs AVX-512F, VL, BW and DQ besides AVX2 and FMA)"
	case pathAVX2:
		return "this CPU lacks AVX2 or FMA"
	}
	return "not available"
}

// kernelAVX2 is the AVX2/FMA micro-kernel (kernel_amd64.s): C (+)= A·B for
// one 6×16 tile, a and b packed panels of kc steps, c the tile's first
// element with rows ldc apart. Sums run in k order from zero, one FMA per
// step.
//
//go:noescape
func kernelAVX2(kc int, a, b, c *float32, ldc int, acc bool)

// kernelAVX512 is the AVX-512 micro-kernel (kernel512_amd64.s), the same
// for one 14×32 tile, 28 ZMM accumulators.
//
//go:noescape
func kernelAVX512(kc int, a, b, c *float32, ldc int, acc bool)

// tileAVX2 checks the operands' bounds and calls kernelAVX2.
func tileAVX2(kc int, a, b, c []float32, ldc int, acc bool) {
	if len(a) < kc*mr || len(b) < kc*nr || len(c) < (mr-1)*ldc+nr || ldc < nr {
		panic("cpu: micro-kernel operands out of range")
	}
	if kc == 0 {
		// The panels may be empty; pass a valid pointer all the same.
		var z [1]float32
		kernelAVX2(0, &z[0], &z[0], &c[0], ldc, acc)
		return
	}
	kernelAVX2(kc, &a[0], &b[0], &c[0], ldc, acc)
}

// tileAVX512 checks the operands' bounds and calls kernelAVX512.
func tileAVX512(kc int, a, b, c []float32, ldc int, acc bool) {
	const mr, nr = mr14x32, nr14x32
	if len(a) < kc*mr || len(b) < kc*nr || len(c) < (mr-1)*ldc+nr || ldc < nr {
		panic("cpu: micro-kernel operands out of range")
	}
	if kc == 0 {
		var z [1]float32
		kernelAVX512(0, &z[0], &z[0], &c[0], ldc, acc)
		return
	}
	kernelAVX512(kc, &a[0], &b[0], &c[0], ldc, acc)
}

// asmTile runs the assembly kernel fn.
func asmTile(fn tileFn, kc int, a, b, c []float32, ldc int, acc bool) {
	if fn == fnAVX512 {
		tileAVX512(kc, a, b, c, ldc, acc)
	} else {
		tileAVX2(kc, a, b, c, ldc, acc)
	}
}

// kernelAVX512SB is kernelAVX512 with B read in place, k step p's 32
// floats at b + p·ldb (kernel512sb_amd64.s): the same sums, in the same
// order, as over a packed B panel.
//
//go:noescape
func kernelAVX512SB(kc int, a, b *float32, ldb int, c *float32, ldc int, acc bool)

// tileDirectB computes the 14×32 tile with B read in place from b (B's
// rows ldb apart, b starting at the tile's first column of K step 0) and
// reports whether it could (the AVX-512 kernel only).
func tileDirectB(k *kernel, kc int, a, b []float32, ldb int, c []float32, ldc int, acc bool) bool {
	const mr, nr = mr14x32, nr14x32
	if k.fn != fnAVX512 || kc == 0 {
		return false
	}
	if len(a) < kc*mr || len(b) < (kc-1)*ldb+nr || len(c) < (mr-1)*ldc+nr || ldc < nr || ldb < nr {
		panic("cpu: micro-kernel operands out of range")
	}
	kernelAVX512SB(kc, &a[0], &b[0], ldb, &c[0], ldc, acc)
	return true
}

// kernelAVX512G is kernelAVX512 with A and B read in place through strides
// (kernel512g_amd64.s): A(i, p) = a[i·ars + p·acs], B's step p at b[p·ldb].
//
//go:noescape
func kernelAVX512G(kc int, a *float32, ars, acs int, b *float32, ldb int, c *float32, ldc int, acc bool)

// tileDirectA computes the 14×32 tile with A read in place from a (A(i, p)
// = a[i·ars + p·acs], a at the tile's first row and K step) and B from b
// (step p at b[p·ldb]: B's rows, or a packed panel with ldb = 32), and
// reports whether it could (the AVX-512 kernel only).
func tileDirectA(k *kernel, kc int, a []float32, ars, acs int, b []float32, ldb int, c []float32, ldc int, acc bool) bool {
	const mr, nr = mr14x32, nr14x32
	if k.fn != fnAVX512 || kc == 0 {
		return false
	}
	if len(a) < (mr-1)*ars+(kc-1)*acs+1 || len(b) < (kc-1)*ldb+nr || len(c) < (mr-1)*ldc+nr || ldc < nr || ldb < nr {
		panic("cpu: micro-kernel operands out of range")
	}
	kernelAVX512G(kc, &a[0], ars, acs, &b[0], ldb, &c[0], ldc, acc)
	return true
}
