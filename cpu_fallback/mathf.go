package cpu_fallback

import (
	"math"

	"github.com/aegpu/aegpu/engine"
)

// exp32 returns e^x in float32 with an error of about 1 ulp (Cephes expf:
// Cody–Waite reduction x = n·ln2 + r, |r| ≤ ln2/2, then a degree-6
// polynomial). Outside (−87, 88), where 2ⁿ would leave the normal range,
// and for NaN it defers to math.Exp.
func exp32(x float32) float32 {
	if !(x > -87 && x < 88) {
		return float32(math.Exp(float64(x)))
	}
	const (
		log2e = 1.44269504088896341
		ln2hi = 0.693359375
		ln2lo = -2.12194440e-4
	)
	t := x * log2e
	if t < 0 {
		t -= 0.5
	} else {
		t += 0.5
	}
	n := int32(t) // round to nearest
	fn := float32(n)
	r := x - fn*ln2hi - fn*ln2lo
	p := float32(1.9875691500e-4)
	p = p*r + 1.3981999507e-3
	p = p*r + 8.3334519073e-3
	p = p*r + 4.1665795894e-2
	p = p*r + 1.6666665459e-1
	p = p*r + 5.0000001201e-1
	y := p*r*r + r + 1
	return y * math.Float32frombits(uint32(n+127)<<23)
}

// sigmoid32 is 1/(1+e^−v), computed on the side where e^… cannot overflow.
func sigmoid32(v float32) float32 {
	if v >= 0 {
		return 1 / (1 + exp32(-v))
	}
	e := exp32(v)
	return e / (1 + e)
}

// gelu is z·Φ(z) with the exact erf (in float64).
func gelu(z float32) float32 {
	x := float64(z)
	return float32(0.5 * x * (1 + math.Erf(x*(1/math.Sqrt2))))
}

// geluGrad is Φ(z) + z·φ(z).
func geluGrad(z float32) float32 {
	x := float64(z)
	const invSqrt2Pi = 0.3989422804014327
	return float32(0.5*(1+math.Erf(x*(1/math.Sqrt2))) + x*invSqrt2Pi*math.Exp(-0.5*x*x))
}

// biasAct is the Dense epilogue over one row segment:
//
//	v = c + bias;  c = v;  y = act(v)
//
// y may be c itself (then c = act(v)).
func biasAct(y, c, bias []float32, act engine.Act) {
	c = c[:len(bias)]
	y = y[:len(bias)]
	if done := biasActFast(y, c, bias, act); done > 0 {
		y, c, bias = y[done:], c[done:], bias[done:]
	}
	switch act {
	case engine.Linear:
		for i, b := range bias {
			v := c[i] + b
			c[i] = v
			y[i] = v
		}
	case engine.ReLU:
		for i, b := range bias {
			v := c[i] + b
			c[i] = v
			if v <= 0 { // NaN propagates
				v = 0
			}
			y[i] = v
		}
	case engine.LeakyReLU:
		for i, b := range bias {
			v := c[i] + b
			c[i] = v
			if v <= 0 {
				v *= engine.LeakySlope
			}
			y[i] = v
		}
	case engine.Tanh:
		for i, b := range bias {
			v := c[i] + b
			c[i] = v
			y[i] = float32(math.Tanh(float64(v)))
		}
	case engine.Sigmoid:
		for i, b := range bias {
			v := c[i] + b
			c[i] = v
			y[i] = sigmoid32(v)
		}
	case engine.GELU:
		for i, b := range bias {
			v := c[i] + b
			c[i] = v
			y[i] = gelu(v)
		}
	}
}

// geluGrad2 is gelu″(z) = φ(z)·(2 − z²).
func geluGrad2(z float32) float32 {
	x := float64(z)
	const invSqrt2Pi = 0.3989422804014327
	return float32(invSqrt2Pi * math.Exp(-0.5*x*x) * (2 - x*x))
}

// tanhGrad is tanh′ = 1 − y² from y = tanh(z); sigmoidGrad is σ′ = y(1 − y)
// from y = σ(z). actGrad and actPrime use them.
func tanhGrad(y float32) float32    { return 1 - y*y }
func sigmoidGrad(y float32) float32 { return y * (1 - y) }

// actPrime is act′ for one element, from y (or from z for GELU), as actGrad
// applies it: relu y > 0 ? 1 : 0, leaky y > 0 ? 1 : slope.
func actPrime(act engine.Act, y, z float32) float32 {
	switch act {
	case engine.ReLU:
		if y > 0 {
			return 1
		}
		return 0
	case engine.LeakyReLU:
		if y > 0 {
			return 1
		}
		return engine.LeakySlope
	case engine.Tanh:
		return tanhGrad(y)
	case engine.Sigmoid:
		return sigmoidGrad(y)
	case engine.GELU:
		return geluGrad(z)
	}
	return 1
}

// actSecond is act″ for one element, from y (or from z for GELU):
//
//	tanh: −2y·(1 − y²);  sigmoid: y(1 − y)·(1 − 2y);  gelu: φ(z)·(2 − z²)
//
// and 0 for linear, relu and leaky_relu (piecewise linear).
func actSecond(act engine.Act, y, z float32) float32 {
	switch act {
	case engine.Tanh:
		return -2 * y * tanhGrad(y)
	case engine.Sigmoid:
		return sigmoidGrad(y) * (1 - 2*y)
	case engine.GELU:
		return geluGrad2(z)
	}
	return 0
}

// hasSecond reports whether act″ is not identically 0.
func hasSecond(act engine.Act) bool {
	return act == engine.Tanh || act == engine.Sigmoid || act == engine.GELU
}

// actGrad overwrites dy with dy ⊙ act′, act′ computed from the output y
// (or from the pre-activation z for GELU):
//
//	relu: y > 0;  leaky: y > 0 ? 1 : slope;  tanh: 1 − y²;  sigmoid: y(1 − y)
func actGrad(dy, y, z []float32, act engine.Act) {
	if done := actGradFast(dy, y, act); done > 0 {
		dy, y = dy[done:], y[done:]
	}
	switch act {
	case engine.ReLU:
		y = y[:len(dy)]
		for i := range dy {
			if !(y[i] > 0) {
				dy[i] = 0
			}
		}
	case engine.LeakyReLU:
		y = y[:len(dy)]
		for i := range dy {
			if !(y[i] > 0) {
				dy[i] *= engine.LeakySlope
			}
		}
	case engine.Tanh:
		y = y[:len(dy)]
		for i := range dy {
			dy[i] *= tanhGrad(y[i])
		}
	case engine.Sigmoid:
		y = y[:len(dy)]
		for i := range dy {
			dy[i] *= sigmoidGrad(y[i])
		}
	case engine.GELU:
		z = z[:len(dy)]
		for i := range dy {
			dy[i] *= geluGrad(z[i])
		}
	}
}
