package cpu_fallback

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/aegpu/aegpu/engine"
)

// TestAdamVector: the vectorized Adam/AdamW update (AVX2, AVX-512) against
// the Go loop. Both do the same float32 operations in the same order, so
// they agree bit for bit unless gc fuses a*b+c into FMAs (GOAMD64=v3),
// where the Go loop's m, v and gk round once less: then within 4 float32
// ulps of p's update step plus 1e-6 relative (tolerance stated below).
func TestAdamVector(t *testing.T) { eachAsmPath(t, testAdamVector) }

func testAdamVector(t *testing.T, k *kernel) {
	r := rand.New(rand.NewPCG(5, 6))
	bitwise := !goFuses()
	defer setKernel(active)()
	for _, kind := range []engine.OptKind{engine.Adam, engine.AdamW} {
		for _, n := range []int{1, 7, 8, 9, 15, 16, 17, 33, 100, chunk + 13} {
			mk := func() []float32 {
				s := make([]float32, n)
				for i := range s {
					s[i] = float32(r.NormFloat64())
				}
				return s
			}
			p, g, m, v := mk(), mk(), mk(), mk()
			for i := range v {
				v[i] = v[i] * v[i]
			}
			res := [2][][]float32{}
			for pass, use := range []bool{false, true} {
				setKernel(pick(use, k))
				b := New(2)
				pm, gm, mm, vm := alloc(t, b, 1, n), alloc(t, b, 1, n), alloc(t, b, 1, n), alloc(t, b, 1, n)
				must(t, b.Upload(pm, p))
				must(t, b.Upload(gm, g))
				must(t, b.Upload(mm, m))
				must(t, b.Upload(vm, v))
				o := engine.OptStep{Kind: kind, LR: 1e-2, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 0.01, Step: 3}
				must(t, b.OptimizerStep(o, pm, gm, mm, vm))
				res[pass] = [][]float32{host(t, b, pm), host(t, b, mm), host(t, b, vm)}
				b.Close()
			}
			for a := range res[0] {
				for i := range res[0][a] {
					x, y := res[0][a][i], res[1][a][i]
					if bitwise {
						if math.Float32bits(x) != math.Float32bits(y) {
							t.Fatalf("%v n %d: array %d element %d: Go %g, vector %g (bitwise)", kind, n, a, i, x, y)
						}
						continue
					}
					// FMA-fused Go: a few roundings apart, relative to the
					// values (p moves by ≤ lr·~3 per step).
					if d := math.Abs(float64(x) - float64(y)); d > 1e-6*math.Max(1, math.Abs(float64(x)))+4*1e-2*0x1p-23 {
						t.Fatalf("%v n %d: array %d element %d: Go %g, vector %g", kind, n, a, i, x, y)
					}
				}
			}
		}
	}
}
