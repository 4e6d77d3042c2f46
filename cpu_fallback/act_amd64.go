//go:build amd64 && !noasm

package cpu_fallback

import (
	"math"

	"github.com/aegpu/aegpu/engine"
)

//go:noescape
func biasLinearAVX2(y, c, bias *float32, n int)

//go:noescape
func biasReluAVX2(y, c, bias *float32, n int)

//go:noescape
func reluGradAVX2(dy, y *float32, n int)

//go:noescape
func sigmoidGradAVX2(dy, y *float32, n int)

//go:noescape
func sigmoidBiasAVX2(y, c, bias *float32, n int, k *sigmoidConsts) (done int)

//go:noescape
func biasLinearAVX512(y, c, bias *float32, n int)

//go:noescape
func biasReluAVX512(y, c, bias *float32, n int)

//go:noescape
func reluGradAVX512(dy, y *float32, n int)

//go:noescape
func sigmoidGradAVX512(dy, y *float32, n int)

//go:noescape
func sigmoidBiasAVX512(y, c, bias *float32, n int, k *sigmoidConsts) (done int)

// sigmoidConsts are sigmoidBiasAVX2's constants, formed from the same
// expressions as exp32's so that they are the same float32 values.
type sigmoidConsts struct {
	sign, lim, log2e, half, mhalf, ln2hi, ln2lo, c6 float32
	c5, c4, c3, c2, c1                              [8]float32
	one                                             float32
}

var sigK = func() *sigmoidConsts {
	const (
		log2e = 1.44269504088896341
		ln2hi = 0.693359375
		ln2lo = -2.12194440e-4
	)
	var fn float32 = 1 // typed like exp32's operands
	bc := func(v float32) (a [8]float32) {
		for i := range a {
			a[i] = v
		}
		return a
	}
	return &sigmoidConsts{
		sign: math.Float32frombits(1 << 31), lim: -87,
		log2e: fn * log2e, half: 0.5, mhalf: -0.5, ln2hi: fn * ln2hi, ln2lo: fn * ln2lo,
		c6: 1.9875691500e-4,
		c5: bc(1.3981999507e-3), c4: bc(8.3334519073e-3), c3: bc(4.1665795894e-2),
		c2: bc(1.6666665459e-1), c1: bc(5.0000001201e-1), one: 1,
	}
}()

// biasActFast runs the Dense epilogue over the largest multiple of 8 (16
// on the AVX-512 path) of the row segment with AVX2 or AVX-512 and returns
// how many elements it did (0 for the activations it leaves to Go).
func biasActFast(y, c, bias []float32, act engine.Act) int {
	if active.path == pathGeneric {
		return 0
	}
	w := 8
	if active.path == pathAVX512 {
		w = 16
	}
	n := len(bias) &^ (w - 1)
	if n == 0 {
		return 0
	}
	_, _ = y[n-1], c[n-1]
	z := w == 16
	switch act {
	case engine.Linear:
		if z {
			biasLinearAVX512(&y[0], &c[0], &bias[0], n)
		} else {
			biasLinearAVX2(&y[0], &c[0], &bias[0], n)
		}
	case engine.ReLU:
		if z {
			biasReluAVX512(&y[0], &c[0], &bias[0], n)
		} else {
			biasReluAVX2(&y[0], &c[0], &bias[0], n)
		}
	case engine.Sigmoid:
		for i := 0; i < n; {
			if z {
				i += sigmoidBiasAVX512(&y[i], &c[i], &bias[i], n-i, sigK)
			} else {
				i += sigmoidBiasAVX2(&y[i], &c[i], &bias[i], n-i, sigK)
			}
			if i < n { // a group with x ≤ −87 or NaN: in Go
				for q := i; q < i+w; q++ {
					v := c[q] + bias[q]
					c[q] = v
					y[q] = sigmoid32(v)
				}
				i += w
			}
		}
	default:
		return 0
	}
	return n
}

// actGradFast applies act′ to the largest multiple of 8 (16 on the AVX-512
// path) of dy with AVX2 or AVX-512 and returns how many elements it did
// (0 for the activations it leaves to Go).
func actGradFast(dy, y []float32, act engine.Act) int {
	if active.path == pathGeneric {
		return 0
	}
	w := 8
	if active.path == pathAVX512 {
		w = 16
	}
	n := len(dy) &^ (w - 1)
	if n == 0 || len(y) < n {
		return 0
	}
	z := w == 16
	switch act {
	case engine.ReLU:
		if z {
			reluGradAVX512(&dy[0], &y[0], n)
		} else {
			reluGradAVX2(&dy[0], &y[0], n)
		}
	case engine.Sigmoid:
		if z {
			sigmoidGradAVX512(&dy[0], &y[0], n)
		} else {
			sigmoidGradAVX2(&dy[0], &y[0], n)
		}
	default:
		return 0
	}
	return n
}
