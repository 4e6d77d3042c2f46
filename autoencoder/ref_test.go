package autoencoder

import (
	"math"

	"github.com/aegpu/aegpu/engine"
)

// A float64 reference of the whole autoencoder, written independently of
// the engine: the trainer's float32 gradients are checked against finite
// differences of this.

type refLayer struct {
	in, out int
	w, b    []float64 // w [out×in]
	act     engine.Act
	// g, nb are a LayerNorm's gain and bias between the linear map and
	// the activation (nil: none).
	g, nb []float64
}

// refLayerNorm normalizes z in place as nn.LayerNorm(len(z)) with gain g
// and bias nb (eps LayerNormEps, biased variance).
func refLayerNorm(z, g, nb []float64) {
	mean, v := 0.0, 0.0
	for _, x := range z {
		mean += x
	}
	mean /= float64(len(z))
	for _, x := range z {
		v += (x - mean) * (x - mean)
	}
	r := 1 / math.Sqrt(v/float64(len(z))+LayerNormEps)
	for i := range z {
		z[i] = (z[i]-mean)*r*g[i] + nb[i]
	}
}

func refAct(a engine.Act, z float64) float64 {
	switch a {
	case engine.ReLU:
		return math.Max(z, 0)
	case engine.LeakyReLU:
		if z > 0 {
			return z
		}
		return 0.01 * z
	case engine.Tanh:
		return math.Tanh(z)
	case engine.Sigmoid:
		return 1 / (1 + math.Exp(-z))
	case engine.GELU:
		return z * 0.5 * (1 + math.Erf(z/math.Sqrt2))
	}
	return z
}

// refLoss is the mean loss of the autoencoder on x (rows × d) against itself.
func refLoss(layers []refLayer, x []float64, rows int, loss string) float64 {
	d := layers[0].in
	total := 0.0
	for r := 0; r < rows; r++ {
		h := x[r*d : (r+1)*d]
		var z []float64
		for li, L := range layers {
			z = make([]float64, L.out)
			nh := make([]float64, L.out)
			for o := 0; o < L.out; o++ {
				s := L.b[o]
				for i := 0; i < L.in; i++ {
					s += L.w[o*L.in+i] * h[i]
				}
				z[o] = s
			}
			if L.g != nil {
				refLayerNorm(z, L.g, L.nb)
			}
			for o := range z {
				nh[o] = refAct(L.act, z[o])
			}
			if li < len(layers)-1 {
				h = nh
			} else {
				h = nh
			}
		}
		for j := 0; j < d; j++ {
			t := x[r*d+j]
			switch loss {
			case "mse":
				diff := h[j] - t
				total += diff * diff
			case "bce": // on logits z, as the trainer fuses sigmoid + BCE
				zz := z[j]
				total += math.Max(zz, 0) - zz*t + math.Log1p(math.Exp(-math.Abs(zz)))
			}
		}
	}
	return total / float64(rows*d)
}
