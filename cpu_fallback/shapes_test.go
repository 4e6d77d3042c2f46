package cpu_fallback

import (
	"testing"

	"github.com/aegpu/aegpu/engine"
)

// TestManyShapes runs Dense and DenseBackward over a grid of small and
// medium shapes with several thread counts (tiling and edge paths) and
// checks them against a naive float64 product.
func TestManyShapes(t *testing.T) {
	sizes := []int{1, 2, 3, 4, 5, 7, 8, 9, 16, 31, 64, 97, 256, 300}
	if testing.Short() {
		sizes = sizes[:8]
	}
	for _, threads := range []int{1, 2, 5} {
		b := New(threads)
		for _, B := range sizes {
			for _, out := range sizes {
				in := 1 + (B*7+out*3)%70
				x := randMat(t, b, B, in, 1, -1, 1)
				w := randMat(t, b, out, in, 2, -1, 1)
				bias := randMat(t, b, 1, out, 3, -1, 1)
				y := alloc(t, b, B, out)
				must(t, b.Dense(y, engine.Matrix{}, x, w, bias, engine.Linear, 0))
				dx, dw, db := alloc(t, b, B, in), alloc(t, b, out, in), alloc(t, b, 1, out)
				must(t, b.DenseBackward(dx, dw, db, y, engine.Matrix{}, engine.Matrix{}, x, w, engine.Linear, 0))
				hx, hw, hb, hy := host(t, b, x), host(t, b, w), host(t, b, bias), host(t, b, y)
				hdx, hdw := host(t, b, dx), host(t, b, dw)
				// Spot-check corners and a middle element of y, dx and dw
				// (K ≤ 300 products of |terms| ≤ 1: 1e-4 is ~20× the
				// float32 rounding).
				for _, i := range []int{0, B / 2, B - 1} {
					for _, j := range []int{0, out / 2, out - 1} {
						s := float64(hb[j])
						for k := range in {
							s += float64(hx[i*in+k]) * float64(hw[j*in+k])
						}
						if d := s - float64(hy[i*out+j]); d > 1e-4 || d < -1e-4 {
							t.Fatalf("threads %d, %dx%dx%d: y[%d,%d] = %g, want %g", threads, B, in, out, i, j, hy[i*out+j], s)
						}
					}
					for _, k := range []int{0, in / 2, in - 1} {
						s := 0.0
						for j := range out {
							s += float64(hy[i*out+j]) * float64(hw[j*in+k])
						}
						if d := s - float64(hdx[i*in+k]); d > 1e-3 || d < -1e-3 {
							t.Fatalf("threads %d, %dx%dx%d: dx[%d,%d] = %g, want %g", threads, B, in, out, i, k, hdx[i*in+k], s)
						}
					}
				}
				for _, j := range []int{0, out - 1} {
					for _, k := range []int{0, in - 1} {
						s := 0.0
						for i := range B {
							s += float64(hy[i*out+j]) * float64(hx[i*in+k])
						}
						if d := s - float64(hdw[j*in+k]); d > 1e-3 || d < -1e-3 {
							t.Fatalf("threads %d, %dx%dx%d: dw[%d,%d] = %g, want %g", threads, B, in, out, j, k, hdw[j*in+k], s)
						}
					}
				}
			}
		}
		b.Close()
	}
}
