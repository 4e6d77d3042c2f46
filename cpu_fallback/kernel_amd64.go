//go:build amd64 && !noasm

package cpu_fallback

import "golang.org/x/sys/cpu"

// useAsm selects the AVX2/FMA micro-kernel (kernel_amd64.s) at run time;
// without those instructions the pure-Go twin (kernel_gen.go) runs.
var useAsm = cpu.X86.HasAVX2 && cpu.X86.HasFMA

// kernelAVX2 is the assembly micro-kernel: C (+)= A·B for one mr×nr tile,
// a and b packed panels of kc steps, c the tile's first element with rows
// ldc apart. Sums run in k order from zero, one FMA per step.
//
//go:noescape
func kernelAVX2(kc int, a, b, c *float32, ldc int, acc bool)

// microKernel sets (acc: adds) the mr×nr tile c[i·ldc+j] to Σ_k a[k·mr+i]·b[k·nr+j].
func microKernel(kc int, a, b, c []float32, ldc int, acc bool) {
	if !useAsm {
		kernelGoTile(kc, a, b, c, ldc, acc)
		return
	}
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
