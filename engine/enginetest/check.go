package enginetest

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/aegpu/aegpu/engine"
)

// eps32 is the spacing of float32 numbers at 1 (2⁻²³): one rounding of a
// float32 result is off by at most eps32/2 relative.
const eps32 = 1.0 / (1 << 23)

// tol is an allowed error: |got − want| ≤ abs + rel·|want| (+ each[i] for
// element i when each is set, for errors that depend on each element's
// inputs). Every tol in this package is built next to a comment giving the
// reason for its size.
type tol struct {
	abs, rel float64
	each     []float64
}

// widen scales a tolerance, for comparing two backends each off the truth.
func (t tol) widen(f float64) tol {
	w := tol{abs: t.abs * f, rel: t.rel * f}
	for _, e := range t.each {
		w.each = append(w.each, e*f)
	}
	return w
}

// allowed is the error allowed for element i whose reference value is w.
func (t tol) allowed(i int, w float64) float64 {
	a := t.abs + t.rel*math.Abs(w)
	if t.each != nil {
		a += t.each[i]
	}
	return a
}

// checkClose is the one numeric assertion of the suite: it fails the test,
// listing the first few mismatches (index, got, want) and how many there are,
// unless every |got[i] − want[i]| ≤ tl.abs + tl.rel·|want[i]|. A NaN want
// requires a NaN; an infinite want requires the same infinity.
func checkClose(t testing.TB, what string, got []float32, want []float64, tl tol) {
	t.Helper()
	if len(got) != len(want) || (tl.each != nil && len(tl.each) != len(want)) {
		t.Fatalf("%s: got %d values, want %d (tolerances for %d)", what, len(got), len(want), len(tl.each))
	}
	const show = 5
	var msg strings.Builder
	bad := 0
	for i, g := range got {
		w := want[i]
		g64 := float64(g)
		var ok bool
		switch {
		case math.IsNaN(w):
			ok = math.IsNaN(g64)
		case math.IsInf(w, 0):
			ok = g64 == w
		default:
			ok = math.Abs(g64-w) <= tl.allowed(i, w)
		}
		if !ok {
			if bad < show {
				fmt.Fprintf(&msg, "\n\t[%d] got %.9g, want %.9g (|diff| %.3g, allowed %.3g)",
					i, g64, w, math.Abs(g64-w), tl.allowed(i, w))
			}
			bad++
		}
	}
	if bad > 0 {
		if bad > show {
			fmt.Fprintf(&msg, "\n\t… %d mismatches in all", bad)
		}
		t.Fatalf("%s: %d of %d values outside tolerance (abs %.3g, rel %.3g):%s", what, bad, len(got), tl.abs, tl.rel, msg.String())
	}
}

// maxAbs is max |x|.
func maxAbs(x []float64) float64 {
	m := 0.0
	for _, v := range x {
		m = max(m, math.Abs(v))
	}
	return m
}

// dotTol is the tolerance of float32 dot products of k terms whose absolute
// values sum to at most absSum (plus a float32 input already off by inErr):
// the worst case of recursive summation is k·ε·absSum; with random signs the
// rounding errors add like a random walk, ≈ √k·ε·absSum, which we allow
// with a factor 4, plus 2ε relative for the final roundings (bias, act).
func dotTol(k int, absSum, inErr float64) tol {
	return tol{abs: 4*math.Sqrt(float64(k)+1)*eps32*absSum + inErr, rel: 2 * eps32}
}

// sentinel fills the guard regions around every view (and the views that an
// op must write, before it runs). It is a NaN with a recognisable payload:
// an op that reads a guard poisons its result, one that writes it is caught
// by checkGuards, and an output left unwritten compares unequal.
const sentinel = 0x7fc0dead

var sentinelF = math.Float32frombits(sentinel)

// dev allocates guarded matrices on a backend for one test case and checks
// afterwards that the op wrote nothing outside its outputs and did not
// modify its inputs.
type dev struct {
	t      testing.TB
	b      engine.Backend
	bufs   []gbuf
	inputs []input
	n      int
}

type gbuf struct {
	full  engine.Matrix
	views [][2]int // [start, end) of each view in full
}

type input struct {
	m    engine.Matrix
	data []float32
}

func newDev(t testing.TB, b engine.Backend) *dev { return &dev{t: t, b: b} }

// pads between views: all nonzero, so every view has Off > 0, and varied.
var pads = [...]int{3, 1, 7, 16, 2, 5, 33}

// place allocates one buffer holding one view per shape, each view preceded
// (and the last followed) by a guard region, all filled with the sentinel.
func (d *dev) place(shapes ...[2]int) []engine.Matrix {
	d.t.Helper()
	total := 0
	offs := make([]int, len(shapes))
	for i, s := range shapes {
		total += pads[d.n%len(pads)]
		d.n++
		offs[i] = total
		total += s[0] * s[1]
	}
	total += pads[d.n%len(pads)]
	d.n++
	full, err := d.b.Alloc(1, total)
	if err != nil {
		d.t.Fatalf("Alloc(1, %d): %v", total, err)
	}
	fill := make([]float32, total)
	for i := range fill {
		fill[i] = sentinelF
	}
	d.must(d.b.Upload(full, fill))
	g := gbuf{full: full}
	views := make([]engine.Matrix, len(shapes))
	for i, s := range shapes {
		views[i] = full.View(offs[i], s[0], s[1])
		g.views = append(g.views, [2]int{offs[i], offs[i] + s[0]*s[1]})
	}
	d.bufs = append(d.bufs, g)
	return views
}

func (d *dev) must(err error) {
	d.t.Helper()
	if err != nil {
		d.t.Fatal(err)
	}
}

// in returns a guarded rows×cols input holding data, checked unchanged by finish.
func (d *dev) in(rows, cols int, data []float32) engine.Matrix {
	d.t.Helper()
	m := d.place([2]int{rows, cols})[0]
	d.setIn(m, data)
	return m
}

// setIn uploads data into a placed view and registers it as an input.
func (d *dev) setIn(m engine.Matrix, data []float32) {
	d.t.Helper()
	d.must(d.b.Upload(m, data))
	d.inputs = append(d.inputs, input{m, append([]float32(nil), data...)})
}

// inout returns a guarded rows×cols matrix holding data that the op may change.
func (d *dev) inout(rows, cols int, data []float32) engine.Matrix {
	d.t.Helper()
	m := d.place([2]int{rows, cols})[0]
	d.must(d.b.Upload(m, data))
	return m
}

// out returns a guarded rows×cols output, filled with the sentinel.
func (d *dev) out(rows, cols int) engine.Matrix {
	d.t.Helper()
	return d.place([2]int{rows, cols})[0]
}

// get downloads m.
func (d *dev) get(m engine.Matrix) []float32 {
	d.t.Helper()
	h := make([]float32, m.Len())
	d.must(d.b.Download(h, m))
	return h
}

// finish checks the guards and the inputs, then frees everything.
func (d *dev) finish() {
	d.t.Helper()
	defer func() {
		for _, g := range d.bufs {
			d.b.Free(g.full)
		}
		d.bufs, d.inputs = nil, nil
	}()
	for _, in := range d.inputs {
		got := d.get(in.m)
		for i, v := range got {
			if math.Float32bits(v) != math.Float32bits(in.data[i]) {
				d.t.Fatalf("an input %s at offset %d was modified: element %d is %g, was %g", in.m.Shape(), in.m.Off, i, v, in.data[i])
			}
		}
	}
	for _, g := range d.bufs {
		all := d.get(g.full)
		inView := func(i int) bool {
			for _, v := range g.views {
				if i >= v[0] && i < v[1] {
					return true
				}
			}
			return false
		}
		bad := 0
		var msg strings.Builder
		for i, v := range all {
			if !inView(i) && math.Float32bits(v) != sentinel {
				if bad < 5 {
					fmt.Fprintf(&msg, "\n\telement %d of the buffer (views %v) is %g", i, g.views, v)
				}
				bad++
			}
		}
		if bad > 0 {
			d.t.Fatalf("%d guard elements around views were overwritten:%s", bad, msg.String())
		}
	}
}

// gen draws test data. Each case has its own seeded generator, so a case's
// data does not depend on which other cases run.
type gen struct{ r *rand.Rand }

func newGen(seed uint64) gen { return gen{rand.New(rand.NewPCG(seed, 0x5eed))} }

// uniform returns n float32 values uniform in [lo, hi).
func (g gen) uniform(n int, lo, hi float64) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(lo + (hi-lo)*g.r.Float64())
	}
	return x
}

func to64(x []float32) []float64 {
	if x == nil {
		return nil
	}
	y := make([]float64, len(x))
	for i, v := range x {
		y[i] = float64(v)
	}
	return y
}

func to32(x []float64) []float32 {
	y := make([]float32, len(x))
	for i, v := range x {
		y[i] = float32(v)
	}
	return y
}
