// Package enginetest is the conformance suite of engine.Backend, in the
// manner of gonum's blas/testblas: a backend package runs
//
//	func TestConformance(t *testing.T) { enginetest.Run(t, mybackend.New()) }
//
// and a second backend is checked against a trusted one with Compare.
//
// Run checks every op against float64 reference implementations in this
// package: dense forward for every activation, backward (dx, dw, db, with
// and without accumulation), both also tied (DenseOpt TransW) and with dx
// accumulated or db absent, each loss and its gradient, RowLoss, the SGD,
// Adam and AdamW steps, ClipGradNorm, Fill, Copy, Axpy, Scale, SumSquares,
// ColMean, the random streams against engine.FillUniform/FillNormal, and
// Corrupt (every kind of noise, in place and not) against a float32
// reference built from those streams, with sampling statistics of each kind.
// Sizes are awkward on purpose (1×1×1, 3, 17, 33, 100, 257, batch 1,
// non-multiples of any tile, a few large enough for blocked and parallel
// paths). Every matrix is a view at a nonzero offset into a larger buffer
// whose other elements hold a NaN sentinel; after each op the sentinels
// must be intact and the inputs unchanged. Gradients are also checked
// against central differences of the reference, optimizer steps against
// values computed by hand, and wrong shapes must give *engine.ShapeError.
//
// Each tolerance is stated where it is built, with its reason; they assume
// fp32 arithmetic (no TF32 or bf16).
package enginetest

import (
	"errors"
	"testing"

	"github.com/aegpu/aegpu/engine"
)

// Run runs the conformance tests of every engine op on b against the
// float64 references.
func Run(t *testing.T, b engine.Backend) {
	t.Run("Alloc", func(t *testing.T) { allocTests(t, b) })
	if fu, ok := b.(engine.FillUploader); ok {
		t.Run("UploadFill", func(t *testing.T) { uploadFillTests(t, b, fu) })
	}
	runCases(t, func(t *testing.T, c opCase) {
		d := newDev(t, b)
		got := c.run(d)
		d.finish()
		for i, e := range c.ref() {
			checkClose(t, e.name, got[i], e.want, e.tol)
		}
	})
	t.Run("GradCheck", func(t *testing.T) { gradCheck(t, b) })
	t.Run("ByHand", func(t *testing.T) { byHand(t, b) })
	t.Run("CorruptStats", func(t *testing.T) { corruptStats(t, b) })
	t.Run("ShapeErrors", func(t *testing.T) { shapeErrors(t, b) })
	t.Run("PenaltyGradCheck", func(t *testing.T) { penaltyGradCheck(t, b) })
	t.Run("PenaltyErrors", func(t *testing.T) { penaltyErrors(t, b) })
}

// Compare runs the same random ops on ref and got and checks that got's
// results match ref's within twice the tolerances Run allows each of them
// against the float64 reference (both are off the exact value).
func Compare(t *testing.T, ref, got engine.Backend) {
	runCases(t, func(t *testing.T, c opCase) {
		dr, dg := newDev(t, ref), newDev(t, got)
		want := c.run(dr)
		dr.finish()
		have := c.run(dg)
		dg.finish()
		for i, e := range c.ref() {
			checkClose(t, e.name, have[i], to64(want[i]), e.tol.widen(2))
		}
	})
}

// runCases runs f on every op case as subtests op/name.
func runCases(t *testing.T, f func(*testing.T, opCase)) {
	cases := allCases()
	var ops []string
	byOp := map[string][]opCase{}
	for _, c := range cases {
		if _, ok := byOp[c.op]; !ok {
			ops = append(ops, c.op)
		}
		byOp[c.op] = append(byOp[c.op], c)
	}
	for _, op := range ops {
		t.Run(op, func(t *testing.T) {
			for _, c := range byOp[op] {
				t.Run(c.name, func(t *testing.T) { f(t, c) })
			}
		})
	}
}

// allocTests: Alloc zeroes, Upload/Download round-trip through views,
// Free of the absent matrix is a no-op. All comparisons are exact (tol{}):
// nothing is computed, values are only copied.
func allocTests(t *testing.T, b engine.Backend) {
	for _, s := range [][2]int{{1, 1}, {3, 17}, {257, 33}} {
		m, err := b.Alloc(s[0], s[1])
		if err != nil {
			t.Fatalf("Alloc%v: %v", s, err)
		}
		if m.Rows != s[0] || m.Cols != s[1] || m.Off != 0 || m.Buf.Len() != s[0]*s[1] {
			t.Fatalf("Alloc%v gave %s at offset %d in a buffer of %d", s, m.Shape(), m.Off, m.Buf.Len())
		}
		d := newDev(t, b)
		checkClose(t, "Alloc is zeroed", d.get(m), make([]float64, m.Len()), tol{})
		if m.Len() > 2 {
			v := m.View(1, 1, m.Len()-2)
			data := newGen(uint64(m.Len())).uniform(v.Len(), -1, 1)
			d.must(b.Upload(v, data))
			want := append(append([]float64{0}, to64(data)...), 0)
			checkClose(t, "Upload into a view", d.get(m), want, tol{})
			checkClose(t, "Download of a view", d.get(v), to64(data), tol{})
		}
		d.finish()
		b.Free(m)
	}
	b.Free(engine.Matrix{})
	if err := b.Sync(); err != nil {
		t.Fatalf("Sync: %v", err)
	}
}

// uploadFillTests checks engine.FillUploader: fill gets exactly the view's
// values, what it writes lands in the view and nowhere else, and its error
// comes back.
func uploadFillTests(t *testing.T, b engine.Backend, fu engine.FillUploader) {
	m, err := b.Alloc(5, 7)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Free(m)
	d := newDev(t, b)
	v := m.RowSlice(1, 3) // rows 1..3 of 5
	data := newGen(9).uniform(v.Len(), -1, 1)
	d.must(fu.UploadFill(v, func(host []float32) error {
		if len(host) != v.Len() {
			t.Errorf("fill got %d values, the view holds %d", len(host), v.Len())
		}
		copy(host, data)
		return nil
	}))
	want := make([]float64, m.Len())
	copy(want[7:], to64(data))
	checkClose(t, "UploadFill into rows 1..3", d.get(m), want, tol{})
	boom := errors.New("source failed")
	if err := fu.UploadFill(v, func([]float32) error { return boom }); !errors.Is(err, boom) {
		t.Errorf("UploadFill with a failing fill: %v, want its error", err)
	}
	d.finish()
}

// byHand checks optimizer steps against values worked out by hand (below,
// exact binary fractions where possible so the arithmetic is easy to follow).
func byHand(t *testing.T, b engine.Backend) {
	// A two-element step at t = 2 with β1 = 0.5, β2 = 0.75, eps = 0.25,
	// lr = 0.1, from p = [1, −2], g = [0.5, −1], m = [0.25, 0.5],
	// v = [0.0625, 0.25]:
	//
	//	m' = 0.5·m + 0.5·g            = [0.375, −0.25]
	//	v' = 0.75·v + 0.25·g²         = [0.046875 + 0.0625, 0.1875 + 0.25] = [0.109375, 0.4375]
	//	bc1 = 1 − 0.5² = 0.75,  bc2 = 1 − 0.75² = 0.4375
	//	m̂ = m'/bc1                   = [0.5, −1/3]
	//	√v̂ = √(v'/bc2) = √[0.25, 1]  = [0.5, 1]
	//	step = lr·m̂/(√v̂ + eps)       = 0.1·[0.5/0.75, −(1/3)/1.25] = [1/15, −2/75]
	//	Adam:  p' = p − step           = [1 − 1/15, −2 + 2/75] = [0.93333333, −1.97333333]
	//	AdamW, wd = 0.5: p first decays by 1 − lr·wd = 0.95 to [0.95, −1.9], then
	//	       p' = [0.95 − 1/15, −1.9 + 2/75] = [0.88333333, −1.87333333]
	adam := engine.OptStep{Kind: engine.Adam, LR: 0.1, Beta1: 0.5, Beta2: 0.75, Eps: 0.25, Step: 2}
	adamw := adam
	adamw.Kind, adamw.WeightDecay = engine.AdamW, 0.5
	// SGD, lr = 0.1, momentum 0.5, from p = [1, −2], g = [0.5, −1]:
	//	step 1: buf = g = [0.5, −1];             p' = p − 0.1·buf = [0.95, −1.9]
	//	step 2, buf = [0.5, −1]: buf' = 0.5·buf + g = [0.75, −1.5]; p' = [0.925, −1.85]
	//	L2 weight decay 0.5, no momentum: g + 0.5·p = [1, −2];   p' = [0.9, −1.8]
	sgd1 := engine.OptStep{Kind: engine.SGD, LR: 0.1, Momentum: 0.5, Step: 1}
	sgd2 := sgd1
	sgd2.Step = 2
	sgdWD := engine.OptStep{Kind: engine.SGD, LR: 0.1, WeightDecay: 0.5, Step: 9}
	cases := []struct {
		name         string
		o            engine.OptStep
		s1, s2       []float32
		p, m, v      []float64
		useS1, useS2 bool
	}{
		{"Adam", adam, []float32{0.25, 0.5}, []float32{0.0625, 0.25},
			[]float64{1 - 1.0/15, -2 + 2.0/75}, []float64{0.375, -0.25}, []float64{0.109375, 0.4375}, true, true},
		{"AdamW", adamw, []float32{0.25, 0.5}, []float32{0.0625, 0.25},
			[]float64{0.95 - 1.0/15, -1.9 + 2.0/75}, []float64{0.375, -0.25}, []float64{0.109375, 0.4375}, true, true},
		{"SGD momentum step 1", sgd1, []float32{7, 7}, nil, []float64{0.95, -1.9}, []float64{0.5, -1}, nil, true, false},
		{"SGD momentum step 2", sgd2, []float32{0.5, -1}, nil, []float64{0.925, -1.85}, []float64{0.75, -1.5}, nil, true, false},
		{"SGD weight decay", sgdWD, nil, nil, []float64{0.9, -1.8}, nil, nil, false, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := newDev(t, b)
			defer d.finish()
			p := d.inout(1, 2, []float32{1, -2})
			g := d.in(2, 1, []float32{0.5, -1})
			var s1, s2 engine.Matrix
			if c.useS1 {
				s1 = d.inout(1, 2, c.s1)
			}
			if c.useS2 {
				s2 = d.inout(2, 1, c.s2)
			}
			d.must(b.OptimizerStep(c.o, p, g, s1, s2))
			// float32 results of a few operations: 4 ulps.
			ht := tol{rel: 4 * eps32}
			checkClose(t, "params", d.get(p), c.p, ht)
			if c.useS1 {
				checkClose(t, "state1", d.get(s1), c.m, ht)
			}
			if c.useS2 {
				checkClose(t, "state2", d.get(s2), c.v, ht)
			}
		})
	}
}
