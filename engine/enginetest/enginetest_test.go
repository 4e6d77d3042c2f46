package enginetest

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/aegpu/aegpu/engine"
)

// The reference itself is checked here: its analytic gradients against
// central differences, and its optimizer against the hand-computed steps.

// refTol: float64 analytic gradient vs central differences with h = 1e-5,
// whose truncation and rounding errors are ≈ 1e-10 for these O(1) inputs.
var refTol = tol{abs: 1e-8, rel: 1e-7}

func TestReferenceDenseGradients(t *testing.T) {
	seed := uint64(1)
	for _, s := range fdShapes {
		for _, act := range acts {
			seed++
			c := newDenseFD(s[0], s[1], s[2], act, seed)
			t.Run(fmt.Sprintf("%s/%v", act, s), func(t *testing.T) {
				x, w, b, g := to64(c.x), to64(c.w), to64(c.b), to64(c.g)
				z, y := refDense(c.B, c.in, c.out, x, w, b, act)
				_, dx, dw, db := refDenseBackward(c.B, c.in, c.out, g, y, z, x, w, act)
				fx, fw, fb := c.fd()
				check64(t, "dx", dx, fx, refTol)
				check64(t, "dw", dw, fw, refTol)
				check64(t, "db", db, fb, refTol)
			})
		}
	}
}

// TestReferenceLayerNormGradients checks refLayerNormBackward against
// central differences of L = Σ dy ⊙ LayerNorm(x; γ, β) in float64.
func TestReferenceLayerNormGradients(t *testing.T) {
	for i, s := range [][2]int{{1, 5}, {3, 7}, {4, 2}} {
		B, D := s[0], s[1]
		xf, gf, bf, dyf := lnInputs(newGen(uint64(200+i)), B, D)
		x, gamma, beta, dy := to64(xf), to64(gf), to64(bf), to64(dyf)
		loss := func() float64 {
			y, _, _ := refLayerNorm(B, D, x, gamma, beta, lnEps)
			l := 0.0
			for k := range y {
				l += dy[k] * y[k]
			}
			return l
		}
		dx, dg, db := refLayerNormBackward(B, D, dy, x, gamma, lnEps)
		// r ≈ 1/σ ≈ 1.7 scales the curvature in x: the same 1e-10-level
		// errors, with margin.
		check64(t, fmt.Sprintf("dx %v", s), dx, centralDiff(x, loss), refTol)
		check64(t, fmt.Sprintf("dgamma %v", s), dg, centralDiff(gamma, loss), refTol)
		check64(t, fmt.Sprintf("dbeta %v", s), db, centralDiff(beta, loss), refTol)
	}
}

func TestReferenceLossGradients(t *testing.T) {
	for i, kind := range losses {
		p, tg := lossFD(kind, 21, uint64(100+i))
		c := lossFDCase{kind, p, tg}
		_, g := refLoss(kind, to64(p), to64(tg))
		check64(t, kind.String(), g, c.fd(), refTol)
	}
}

// check64 is checkClose for float64 results.
func check64(t *testing.T, what string, got, want []float64, tl tol) {
	t.Helper()
	for i := range got {
		if math.Abs(got[i]-want[i]) > tl.abs+tl.rel*math.Abs(want[i]) {
			t.Fatalf("%s[%d]: got %.12g, want %.12g", what, i, got[i], want[i])
		}
	}
}

func TestReferenceByHand(t *testing.T) {
	p, g := []float64{1, -2}, []float64{0.5, -1}
	adam := engine.OptStep{Kind: engine.Adam, LR: 0.1, Beta1: 0.5, Beta2: 0.75, Eps: 0.25, Step: 2}
	np, m, v := refOpt(adam, p, g, []float64{0.25, 0.5}, []float64{0.0625, 0.25})
	// Worked out in byHand (enginetest.go). lr is float32(0.1), off by 1.5e-9.
	check64(t, "adam p", np, []float64{0.93333333333, -1.97333333333}, tol{abs: 1e-9})
	check64(t, "adam m", m, []float64{0.375, -0.25}, tol{})
	check64(t, "adam v", v, []float64{0.109375, 0.4375}, tol{})
	adam.Kind, adam.WeightDecay = engine.AdamW, 0.5
	np, _, _ = refOpt(adam, p, g, []float64{0.25, 0.5}, []float64{0.0625, 0.25})
	check64(t, "adamw p", np, []float64{0.88333333333, -1.87333333333}, tol{abs: 1e-8})

	// PyTorch conventions at the edges.
	if l := refElemLoss(engine.BCE, 0, 1); l != 100 {
		t.Errorf("bce(p=0, t=1) = %g, want 100 (log clamped at −100)", l)
	}
	if l := refElemLoss(engine.BCE, 1, 1); l != 0 {
		t.Errorf("bce(p=1, t=1) = %g, want 0", l)
	}
	if gr := refElemGrad(engine.BCE, 0, 1); gr != -1e12 {
		t.Errorf("bce′(p=0, t=1) = %g, want −1e12", gr)
	}
	if l := refElemLoss(engine.BCEWithLogits, 800, 0); l != 800 {
		t.Errorf("bce_logits(800, 0) = %g, want 800 (stable form)", l)
	}
	if gr := refElemGrad(engine.MAE, 0.5, 0.5); gr != 0 {
		t.Errorf("mae′ at 0 = %g, want 0", gr)
	}
	if y := refAct(engine.LeakyReLU, -2); y != -0.02 {
		t.Errorf("leaky(−2) = %g", y)
	}
	_, norm := refClip([]float64{3, 4}, 1)
	if norm != 5 {
		t.Errorf("norm = %g", norm)
	}
	g2, _ := refClip([]float64{3, 4}, 1)
	check64(t, "clip", g2, []float64{3 / (5 + 1e-6), 4 / (5 + 1e-6)}, tol{abs: 1e-15})
}

// fakeTB records what checkClose reports.
type fakeTB struct {
	testing.TB
	msg    string
	failed bool
}

func (f *fakeTB) Helper() {}
func (f *fakeTB) Fatalf(format string, args ...any) {
	f.failed = true
	f.msg = fmt.Sprintf(format, args...)
}

func TestCheckClose(t *testing.T) {
	var f fakeTB
	checkClose(&f, "ok", []float32{1, 2}, []float64{1, 2.0000001}, tol{rel: 1e-6})
	if f.failed {
		t.Fatalf("within tolerance but failed: %s", f.msg)
	}
	got := make([]float32, 20)
	want := make([]float64, 20)
	for i := range want {
		want[i] = 1
	}
	checkClose(&f, "bad", got, want, tol{abs: 0.5})
	if !f.failed || !strings.Contains(f.msg, "[0] got 0, want 1") || !strings.Contains(f.msg, "20 mismatches") || strings.Contains(f.msg, "[5]") {
		t.Fatalf("report: %q", f.msg)
	}
	f = fakeTB{}
	checkClose(&f, "nan", []float32{float32(math.NaN())}, []float64{1}, tol{abs: 1})
	if !f.failed {
		t.Fatal("NaN accepted")
	}
}

func TestCasesDeterministic(t *testing.T) {
	a, b := allCases(), allCases()
	if len(a) != len(b) || len(a) < 200 {
		t.Fatalf("%d and %d cases", len(a), len(b))
	}
	seen := map[string]bool{}
	for i := range a {
		id := a[i].op + "/" + a[i].name
		if seen[id] {
			t.Errorf("duplicate case %s", id)
		}
		seen[id] = true
		ea, eb := a[i].ref(), b[i].ref()
		for k := range ea {
			for j := range ea[k].want {
				if math.Float64bits(ea[k].want[j]) != math.Float64bits(eb[k].want[j]) {
					t.Fatalf("%s: reference differs between runs", id)
				}
			}
		}
	}
}
