package cpu_fallback

import (
	"math"
	"sync/atomic"
	"testing"
)

// ulps is the distance between a float32 result and the exact value, in
// units of the float32 spacing at the exact value.
func ulps(got float32, want float64) float64 {
	w32 := float32(want)
	ulp := float64(math.Nextafter32(w32, float32(math.Inf(1))) - w32)
	return math.Abs(float64(got)-want) / ulp
}

func TestExp32(t *testing.T) {
	worst, at := 0.0, float32(0)
	for x := float32(-87); x < 88; x += 0.000731 {
		if u := ulps(exp32(x), math.Exp(float64(x))); u > worst {
			worst, at = u, x
		}
	}
	t.Logf("exp32: worst %.2f ulp at %g", worst, at)
	// Cephes expf is good to ≈1 ulp; 2 is the bound sigmoid's tolerance in
	// the conformance suite relies on.
	if worst > 2 {
		t.Errorf("exp32 off by %.2f ulp at %g", worst, at)
	}
	for _, c := range []struct{ x, want float32 }{
		{0, 1}, {float32(math.Inf(-1)), 0}, {float32(math.Inf(1)), float32(math.Inf(1))}, {-200, 0}, {100, float32(math.Inf(1))},
	} {
		if got := exp32(c.x); got != c.want {
			t.Errorf("exp32(%g) = %g, want %g", c.x, got, c.want)
		}
	}
	if !math.IsNaN(float64(exp32(float32(math.NaN())))) {
		t.Error("exp32(NaN) is not NaN")
	}
	// Subnormal results (x < −87.3) come from math.Exp.
	if got, want := exp32(-95), float32(math.Exp(-95)); got != want {
		t.Errorf("exp32(−95) = %g, want %g", got, want)
	}
}

func TestSigmoid32(t *testing.T) {
	worst := 0.0
	for x := float32(-100); x < 100; x += 0.00173 {
		z := float64(x)
		want := 1 / (1 + math.Exp(-z))
		if z < 0 {
			want = math.Exp(z) / (1 + math.Exp(z))
		}
		worst = max(worst, ulps(sigmoid32(x), want))
	}
	t.Logf("sigmoid32: worst %.2f ulp", worst)
	if worst > 4 {
		t.Errorf("sigmoid32 off by %.2f ulp", worst)
	}
}

type countJob struct{ hits []atomic.Int32 }

func (c *countJob) do(i int) { c.hits[i].Add(1) }

// TestPool: every task of every run executes exactly once, whatever the
// number of tasks relative to threads (run it with -race).
func TestPool(t *testing.T) {
	for _, threads := range []int{1, 2, 5} {
		p := newPool(threads)
		for _, n := range []int{0, 1, 2, 3, 7, 64, 1000} {
			for range 20 {
				c := &countJob{hits: make([]atomic.Int32, n)}
				p.run(n, c)
				for i := range c.hits {
					if h := c.hits[i].Load(); h != 1 {
						t.Fatalf("threads %d, n %d: task %d ran %d times", threads, n, i, h)
					}
				}
			}
		}
		p.close()
		c := &countJob{hits: make([]atomic.Int32, 9)}
		p.run(9, c) // after close: inline
		for i := range c.hits {
			if c.hits[i].Load() != 1 {
				t.Fatal("run after close")
			}
		}
	}
}
