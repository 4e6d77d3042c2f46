//go:build amd64 && !noasm

package cpu_fallback

// adamConsts are adamAVX2's broadcast operands.
type adamConsts struct {
	beta1, c1, beta2, c2 float32
	wdOrDecay, eps       float32
	step, bc2            float32
	adamw                uint32
}

//go:noescape
func adamAVX2(p, grad, m, v *float32, n int, c *adamConsts)

//go:noescape
func adamAVX512(p, grad, m, v *float32, n int, c *adamConsts)

// adamFast runs the Adam/AdamW update over the largest multiple of 8
// elements (16 on the AVX-512 path) with AVX2 or AVX-512 and returns how
// many it did (0 on the generic path); the caller finishes the rest in Go.
func adamFast(o *optJob, p, g, m, v []float32) int {
	n := len(p) &^ 7
	if active.path == pathAVX512 {
		n = len(p) &^ 15
	}
	if active.path == pathGeneric || n == 0 {
		return 0
	}
	_, _, _ = g[n-1], m[n-1], v[n-1]
	c := adamConsts{beta1: o.beta1, c1: 1 - o.beta1, beta2: o.beta2, c2: 1 - o.beta2,
		wdOrDecay: o.wd, eps: o.eps, step: o.stepSize, bc2: o.bc2Sqrt}
	if o.kind == engineAdamW {
		c.wdOrDecay, c.adamw = o.decay, 1
	}
	if active.path == pathAVX512 {
		adamAVX512(&p[0], &g[0], &m[0], &v[0], n, &c)
	} else {
		adamAVX2(&p[0], &g[0], &m[0], &v[0], n, &c)
	}
	return n
}
