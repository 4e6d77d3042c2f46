//go:build !amd64 || noasm

package cpu_fallback

import "github.com/aegpu/aegpu/engine"

// useAsm is false: this build has only the pure-Go micro-kernel (a variable
// so that tests can switch paths in every build).
var useAsm = false

// microKernel sets (acc: adds) the mr×nr tile c[i·ldc+j] to Σ_k a[k·mr+i]·b[k·nr+j].
func microKernel(kc int, a, b, c []float32, ldc int, acc bool) {
	kernelGoTile(kc, a, b, c, ldc, acc)
}

// packFast reports false: packPanel packs in Go.
func packFast(dst, s []float32, i0, ni, w, k, rs, cs int) bool { return false }

// adamFast does nothing: optJob.do updates every element in Go.
func adamFast(o *optJob, p, g, m, v []float32) int { return 0 }

// biasActFast does nothing: biasAct runs in Go.
func biasActFast(y, c, bias []float32, act engine.Act) int { return 0 }

// actGradFast does nothing: actGrad runs in Go.
func actGradFast(dy, y []float32, act engine.Act) int { return 0 }
