package enginetest

import (
	"fmt"
	"math"
	"testing"

	"github.com/aegpu/aegpu/engine"
)

// The penalty references' analytic gradients against central differences
// of their own penalties, in float64 (refTol), and a few values by hand.

func TestReferenceSparsityGradient(t *testing.T) {
	for i, p := range []struct{ l1, beta, target float64 }{{0.3, 0, 0}, {0, 0.8, 0.2}, {0.5, 1.5, 0.6}} {
		B, D := 5, 4
		g := newGen(uint64(300 + i))
		h := to64(g.uniform(B*D, 0.05, 0.95))
		if p.beta == 0 { // L1 alone: mixed signs, away from 0
			for k := range h {
				if k%2 == 0 {
					h[k] = -h[k]
				}
			}
		}
		_, grad, _ := refSparsity(B, D, h, p.l1, p.beta, p.target)
		P := func() float64 { v, _, _ := refSparsity(B, D, h, p.l1, p.beta, p.target); return v }
		check64(t, fmt.Sprintf("sparsity %v", p), grad, centralDiff(h, P), refTol)
	}
}

func TestReferenceContractiveGradient(t *testing.T) {
	for i, act := range acts {
		B, D, in := 3, 4, 5
		g := newGen(uint64(400 + i))
		_, z32 := actData(g, act, B*D, -2, 2)
		z, w := to64(z32), to64(g.uniform(D*in, -0.7, 0.7))
		a1 := func() []float64 {
			a := make([]float64, len(z))
			for k, v := range z {
				a[k] = refActGradZ(act, v)
			}
			return a
		}
		a2 := make([]float64, len(z))
		for k, v := range z {
			a2[k] = refActGrad2(act, refAct(act, v), v)
		}
		_, dz, dw, _, _ := refContractive(B, D, in, a1(), a2, w, 0.6)
		P := func() float64 { v, _, _, _, _ := refContractive(B, D, in, a1(), a2, w, 0.6); return v }
		check64(t, act.String()+" dz", dz, centralDiff(z, P), refTol)
		check64(t, act.String()+" dw", dw, centralDiff(w, P), refTol)
	}
}

func TestReferenceActSecond(t *testing.T) {
	for _, act := range acts {
		for _, z := range []float64{-2.2, -0.7, 0.3, 1.9} {
			zz := []float64{z}
			fd := centralDiff(zz, func() float64 { return refActGradZ(act, zz[0]) })[0]
			if got := refActGrad2(act, refAct(act, z), z); math.Abs(got-fd) > 1e-8 {
				t.Errorf("%s″(%g) = %.12g, finite differences of act′ %.12g", act, z, got, fd)
			}
		}
	}
}

func TestReferenceReparam(t *testing.T) {
	mu := []float64{0.5, -1, 2, 0.25, 0}
	lv := []float64{0, 200, -200, 20, -30}
	eps := []float64{1, 2, -1, 0.5, 3}
	z := refReparam(mu, lv, eps)
	want := []float64{1.5, -1 + 2*math.Exp(10), 2 - math.Exp(-15), 0.25 + 0.5*math.Exp(10), 3 * math.Exp(-15)}
	check64(t, "z", z, want, tol{rel: 1e-15})
	// KL: ½(mu² + e^lv − 1 − lv) per element.
	kl := 0.0
	for i := range mu {
		l := refClampLV(lv[i])
		kl += 0.5 * (mu[i]*mu[i] + math.Exp(l) - 1 - l)
	}
	if got := refKL(mu, lv); math.Abs(got-kl) > 1e-6*kl {
		t.Errorf("KL = %g, want %g", got, kl)
	}
	dz := []float64{1, 1, 1, 1, 1}
	_, dlv := refReparamBackward(dz, mu, lv, eps, 0.5)
	if dlv[1] != 0 || dlv[2] != 0 || dlv[3] == 0 || dlv[4] == 0 {
		t.Errorf("dlogvar %v: want 0 exactly outside [%d, %d], nonzero at its ends", dlv, engine.LogVarMin, engine.LogVarMax)
	}
}
