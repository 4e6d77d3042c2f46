package enginetest

import (
	"fmt"
	"math"
	"testing"

	"github.com/aegpu/aegpu/engine"
)

// fdStep is the central-difference step. With O(1) inputs and float64
// arithmetic the truncation error (h²/6·f‴) and the rounding error
// (ε₆₄·|f|/h) are both ≈ 1e-10.
const fdStep = 1e-5

// centralDiff returns ∂f/∂θᵢ for every element of theta by central
// differences; f reads theta.
func centralDiff(theta []float64, f func() float64) []float64 {
	g := make([]float64, len(theta))
	for i, old := range theta {
		theta[i] = old + fdStep
		fp := f()
		theta[i] = old - fdStep
		fm := f()
		theta[i] = old
		g[i] = (fp - fm) / (2 * fdStep)
	}
	return g
}

// denseFD is the finite-difference setup for one dense layer: the scalar
// L(x, w, b) = Σ g ⊙ act(x·wᵀ + b) for a fixed random upstream gradient g,
// whose gradients are exactly what DenseBackward returns for dy = g.
type denseFD struct {
	B, in, out int
	act        engine.Act
	x, w, b, g []float32
}

func newDenseFD(B, in, out int, act engine.Act, seed uint64) denseFD {
	for try := uint64(0); ; try++ {
		gn := newGen(seed + try<<32)
		x, w, b := denseInputs(gn, B, in, out)
		z, _ := refDense(B, in, out, to64(x), to64(w), to64(b), engine.Linear)
		// Keep every z away from ReLU's kink, where the difference
		// quotient would straddle it.
		if minAbs(z) > 1e-3 {
			return denseFD{B, in, out, act, x, w, b, gn.uniform(B*out, -1, 1)}
		}
	}
}

func minAbs(x []float64) float64 {
	m := math.Inf(1)
	for _, v := range x {
		m = min(m, math.Abs(v))
	}
	return m
}

// fd returns ∂L/∂x, ∂L/∂w, ∂L/∂b by central differences of the reference.
func (c denseFD) fd() (dx, dw, db []float64) {
	x, w, b, g := to64(c.x), to64(c.w), to64(c.b), to64(c.g)
	L := func() float64 {
		_, y := refDense(c.B, c.in, c.out, x, w, b, c.act)
		s := 0.0
		for i := range y {
			s += g[i] * y[i]
		}
		return s
	}
	return centralDiff(x, L), centralDiff(w, L), centralDiff(b, L)
}

// lossFD is the finite-difference setup for LossGrad: inputs kept where the
// loss is smooth (BCE away from the clamp, MAE away from p = t).
func lossFD(kind engine.Loss, n int, seed uint64) (p, t []float32) {
	g := newGen(seed)
	switch kind {
	case engine.BCE:
		return g.uniform(n, 0.05, 0.95), g.uniform(n, 0, 1)
	case engine.MAE:
		p, t = g.uniform(n, -1, 1), g.uniform(n, -1, 1)
		for i := range p {
			if math.Abs(float64(p[i]-t[i])) < 1e-3 {
				p[i] += 0.01
			}
		}
		return p, t
	case engine.BCEWithLogits:
		return g.uniform(n, -6, 6), g.uniform(n, 0, 1)
	}
	return g.uniform(n, -1, 1), g.uniform(n, -1, 1)
}

func (c lossFDCase) fd() []float64 {
	p, t := to64(c.p), to64(c.t)
	return centralDiff(p, func() float64 { L, _ := refLoss(c.kind, p, t); return L })
}

type lossFDCase struct {
	kind engine.Loss
	p, t []float32
}

var fdShapes = [][3]int{{3, 5, 4}, {4, 17, 6}, {1, 2, 3}}

// gradCheck compares the backend's float32 gradients with central
// differences of the float64 reference.
func gradCheck(t *testing.T, b engine.Backend) {
	// float32 backward against float64 differences (≈1e-10): the float32
	// forward values that feed act′ and the float32 sums are good to
	// ≈1e-6 here; 1e-5 absolute + 1e-4 relative still fails any wrong
	// term (≳ 1e-2).
	fdTol := tol{abs: 1e-5, rel: 1e-4}
	seed := uint64(9000)
	for _, s := range fdShapes {
		for _, act := range acts {
			seed++
			c := newDenseFD(s[0], s[1], s[2], act, seed)
			t.Run(fmt.Sprintf("Dense/%s/%dx%dx%d", act, s[0], s[1], s[2]), func(t *testing.T) {
				d := newDev(t, b)
				defer d.finish()
				wb := d.place([2]int{c.out, c.in}, [2]int{1, c.out})
				d.setIn(wb[0], c.w)
				d.setIn(wb[1], c.b)
				x := d.in(c.B, c.in, c.x)
				y, z := d.out(c.B, c.out), d.out(c.B, c.out)
				d.must(b.Dense(y, z, x, wb[0], wb[1], act, 0))
				dy := d.inout(c.B, c.out, c.g)
				dx, dw, db := d.out(c.B, c.in), d.out(c.out, c.in), d.out(1, c.out)
				d.must(b.DenseBackward(dx, dw, db, dy, y, z, x, wb[0], act, 0))
				fx, fw, fb := c.fd()
				checkClose(t, "dx", d.get(dx), fx, fdTol)
				checkClose(t, "dw", d.get(dw), fw, fdTol)
				checkClose(t, "db", d.get(db), fb, fdTol)
			})
		}
	}
	// The same layers tied (TransW): w and dw stored [in×out].
	for _, s := range fdShapes {
		for _, act := range acts {
			seed++
			c := newDenseFD(s[0], s[1], s[2], act, seed)
			t.Run(fmt.Sprintf("DenseTransW/%s/%dx%dx%d", act, s[0], s[1], s[2]), func(t *testing.T) {
				d := newDev(t, b)
				defer d.finish()
				wb := d.place([2]int{c.in, c.out}, [2]int{1, c.out})
				d.setIn(wb[0], transpose(c.w, c.out, c.in))
				d.setIn(wb[1], c.b)
				x := d.in(c.B, c.in, c.x)
				y, z := d.out(c.B, c.out), d.out(c.B, c.out)
				d.must(b.Dense(y, z, x, wb[0], wb[1], act, engine.TransW))
				dy := d.inout(c.B, c.out, c.g)
				dx, dw, db := d.out(c.B, c.in), d.out(c.in, c.out), d.out(1, c.out)
				d.must(b.DenseBackward(dx, dw, db, dy, y, z, x, wb[0], act, engine.TransW))
				fx, fw, fb := c.fd()
				checkClose(t, "dx", d.get(dx), fx, fdTol)
				checkClose(t, "dw", d.get(dw), transpose(fw, c.out, c.in), fdTol)
				checkClose(t, "db", d.get(db), fb, fdTol)
			})
		}
	}
	for _, kind := range losses {
		for _, n := range [][2]int{{1, 1}, {3, 7}} {
			seed++
			p, tg := lossFD(kind, n[0]*n[1], seed)
			c := lossFDCase{kind, p, tg}
			t.Run(fmt.Sprintf("LossGrad/%s/%dx%d", kind, n[0], n[1]), func(t *testing.T) {
				d := newDev(t, b)
				defer d.finish()
				acc, grad := d.inout(1, 1, []float32{0}), d.out(n[0], n[1])
				d.must(b.LossGrad(kind, acc, grad, d.in(n[0], n[1], p), d.in(n[0], n[1], tg), 1))
				N := float64(len(p))
				// Gradients are O(1/N); scaled as fdTol.
				checkClose(t, "grad", d.get(grad), c.fd(), tol{abs: 1e-5 / N, rel: 1e-4})
			})
		}
	}
}
