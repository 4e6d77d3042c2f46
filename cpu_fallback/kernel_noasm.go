//go:build !amd64 || noasm

package cpu_fallback

import "github.com/aegpu/aegpu/engine"

// kernelFor returns path p's kernel: this build has only the generic one.
func kernelFor(p kernelPath) *kernel {
	if p == pathGeneric {
		return goKernel
	}
	return nil
}

// missingFeature says why path p cannot run in this build.
func missingFeature(p kernelPath) string {
	return "this build has no assembly kernels (built with -tags noasm or for a non-amd64 GOARCH)"
}

// asmTile is never called: this build has no assembly kernels.
func asmTile(fn tileFn, kc int, a, b, c []float32, ldc int, acc bool) {
	panic("cpu: no assembly kernels in this build")
}

// rowSumsFast reports false: addPanelRowSums sums in Go.
func rowSumsFast(s []float64, panel []float32, w int) bool { return false }

// tileDirectB reports false: B is always packed.
func tileDirectB(k *kernel, kc int, a, b []float32, ldb int, c []float32, ldc int, acc bool) bool {
	return false
}

// tileDirectA reports false: A is always packed.
func tileDirectA(k *kernel, kc int, a []float32, ars, acs int, b []float32, ldb int, c []float32, ldc int, acc bool) bool {
	return false
}

// packFast reports false: packPanel packs in Go.
func packFast(dst, s []float32, i0, ni, w, k, rs, cs int) bool { return false }

// adamFast does nothing: optJob.do updates every element in Go.
func adamFast(o *optJob, p, g, m, v []float32) int { return 0 }

// biasActFast does nothing: biasAct runs in Go.
func biasActFast(y, c, bias []float32, act engine.Act) int { return 0 }

// actGradFast does nothing: actGrad runs in Go.
func actGradFast(dy, y []float32, act engine.Act) int { return 0 }
