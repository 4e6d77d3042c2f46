package cpu_fallback

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/aegpu/aegpu/engine"
)

// TestActVector: the vectorized epilogues (bias + linear, relu, sigmoid) and
// activation gradients (relu, sigmoid) against the Go loops, over random
// values and the special ones (±0, ±Inf, NaN, exp32's range limits), at
// every length up to 40 (vector groups and tails). They do the same float32
// operations, so they agree bit for bit in a default build; where gc fuses
// FMAs (GOAMD64=v3) the Go sigmoid's polynomial rounds differently, and
// the sigmoid is held to 4 float32 ulps of the value instead (linear, relu
// and the gradients have no a*b+c and stay bitwise).
func TestActVector(t *testing.T) { eachAsmPath(t, testActVector) }

func testActVector(t *testing.T, k *kernel) {
	r := rand.New(rand.NewPCG(7, 8))
	special := []float32{0, float32(math.Copysign(0, -1)), float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()),
		-87, 87, -86.99, 86.99, -87.01, 87.01, -88, 88, -100, 100, 1e-30, -1e-30, 0.5, -0.5}
	fused := goFuses()
	defer setKernel(active)()
	same := func(a, b float32, ulps float64) bool {
		if math.IsNaN(float64(a)) || math.IsNaN(float64(b)) {
			return math.IsNaN(float64(a)) && math.IsNaN(float64(b))
		}
		if ulps == 0 {
			return math.Float32bits(a) == math.Float32bits(b)
		}
		return math.Abs(float64(a)-float64(b)) <= ulps*0x1p-23*math.Max(math.Abs(float64(a)), 0x1p-126)
	}
	for n := 1; n <= 40; n++ {
		for trial := range 4 {
			c0, bias, dy0, yv := make([]float32, n), make([]float32, n), make([]float32, n), make([]float32, n)
			for i := range n {
				c0[i] = float32(r.NormFloat64() * 10)
				bias[i] = float32(r.NormFloat64())
				dy0[i] = float32(r.NormFloat64())
				yv[i] = float32(r.Float64()*2 - 0.5)
				if trial > 0 && r.IntN(3) == 0 {
					c0[i] = special[r.IntN(len(special))]
					yv[i] = special[r.IntN(len(special))]
				}
				if trial == 3 {
					bias[i] = 0
				}
			}
			for _, act := range []engine.Act{engine.Linear, engine.ReLU, engine.Sigmoid} {
				var out [2][2][]float32
				for pass, use := range []bool{false, true} {
					setKernel(pick(use, k))
					c := append([]float32(nil), c0...)
					y := make([]float32, n)
					biasAct(y, c, bias, act)
					inPlace := append([]float32(nil), c0...)
					biasAct(inPlace, inPlace, bias, act) // y = c
					for i := range y {
						if !same(y[i], inPlace[i], 0) {
							t.Fatalf("%v n %d: in place %g, separate %g", act, n, inPlace[i], y[i])
						}
					}
					out[pass] = [2][]float32{c, y}
				}
				ulps := 0.0
				if fused && act == engine.Sigmoid {
					ulps = 4
				}
				for i := range n {
					if !same(out[0][0][i], out[1][0][i], 0) || !same(out[0][1][i], out[1][1][i], ulps) {
						t.Fatalf("%v n %d element %d (c %g + bias %g): Go c %g y %g, vector c %g y %g",
							act, n, i, c0[i], bias[i], out[0][0][i], out[0][1][i], out[1][0][i], out[1][1][i])
					}
				}
			}
			for _, act := range []engine.Act{engine.ReLU, engine.Sigmoid} {
				var out [2][]float32
				for pass, use := range []bool{false, true} {
					setKernel(pick(use, k))
					dy := append([]float32(nil), dy0...)
					actGrad(dy, yv, nil, act)
					out[pass] = dy
				}
				for i := range n {
					if !same(out[0][i], out[1][i], 0) {
						t.Fatalf("%v′ n %d element %d (y %g dy %g): Go %g, vector %g", act, n, i, yv[i], dy0[i], out[0][i], out[1][i])
					}
				}
			}
		}
	}
}
