package enginetest

import (
	"errors"
	"fmt"
	"math"
	"testing"

	"github.com/aegpu/aegpu/engine"
)

// The variant regularizers' ops (Sparsity, ContractiveExact, ActJVP,
// ActJVPBackward, ActBackward, Reparameterize, ReparamBackward): float64
// references, conformance cases, finite-difference checks that each op's
// gradients are the derivatives of the penalty it adds to acc, and the
// error table.

// refActGrad2 is act″ from the output y, or from the pre-activation z when
// act.NeedsPre() (GELU): tanh″ = −2y(1 − y²), σ″ = y(1 − y)(1 − 2y),
// gelu″ = φ(z)(2 − z²); 0 for linear, relu and leaky_relu.
func refActGrad2(a engine.Act, y, z float64) float64 {
	switch a {
	case engine.Tanh:
		return -2 * y * (1 - y*y)
	case engine.Sigmoid:
		return y * (1 - y) * (1 - 2*y)
	case engine.GELU:
		return math.Exp(-0.5*z*z) / math.Sqrt(2*math.Pi) * (2 - z*z)
	}
	return 0
}

// refActGradZ is act′ as a function of z alone (for finite differences).
func refActGradZ(a engine.Act, z float64) float64 { return refActGrad(a, refAct(a, z), z) }

// sparsityClamp is Sparsity's guard of the logarithms.
func sparsityClamp(m float64) float64 { return min(max(m, 1e-6), 1-1e-6) }

// refSparsity is Sparsity on h [B×D]: the penalty P₁ + P₂ (before weight),
// its gradient as the op adds it to dh (the KL part taken as if r = ρ̂) and
// ρ̂. Terms with l1 = 0 or beta = 0 are left out.
func refSparsity(B, D int, h []float64, l1, beta, target float64) (P float64, grad, rho []float64) {
	grad = make([]float64, B*D)
	rho = make([]float64, D)
	for i := range B {
		for j := range D {
			rho[j] += h[i*D+j]
		}
	}
	fb := float64(B)
	for j := range rho {
		rho[j] /= fb
	}
	for i, v := range h {
		if l1 != 0 {
			P += l1 / fb * math.Abs(v)
			s := 0.0
			if v > 0 {
				s = 1
			} else if v < 0 {
				s = -1
			}
			grad[i] += l1 / fb * s
		}
	}
	if beta > 0 {
		t := target
		for j, m := range rho {
			r := sparsityClamp(m)
			P += beta * (t*math.Log(t/r) + (1-t)*math.Log((1-t)/(1-r)))
			g := beta / fb * (-t/r + (1-t)/(1-r))
			for i := range B {
				grad[i*D+j] += g
			}
		}
	}
	return P, grad, rho
}

// refContractive is ContractiveExact from a′ and a″ [B×D] (already
// evaluated) and w [D×in]: the penalty (before weight), ∂P/∂z, ∂P/∂w, and
// the column sums S_j = Σ_i a′² and row norms n_j = ‖w_j‖².
func refContractive(B, D, in int, a1, a2, w []float64, lambda float64) (P float64, dz, dw, S, n []float64) {
	S, n = make([]float64, D), make([]float64, D)
	for j := range D {
		for k := range in {
			n[j] += w[j*in+k] * w[j*in+k]
		}
	}
	for i := range B {
		for j := range D {
			S[j] += a1[i*D+j] * a1[i*D+j]
		}
	}
	lb := lambda / float64(B)
	for j := range D {
		P += lb * n[j] * S[j]
	}
	dz = make([]float64, B*D)
	for i := range B {
		for j := range D {
			dz[i*D+j] = 2 * lb * n[j] * a1[i*D+j] * a2[i*D+j]
		}
	}
	dw = make([]float64, D*in)
	for j := range D {
		for k := range in {
			dw[j*in+k] = 2 * lb * S[j] * w[j*in+k]
		}
	}
	return P, dz, dw, S, n
}

func refClampLV(v float64) float64 { return min(max(v, engine.LogVarMin), engine.LogVarMax) }

// refReparam is z = mu + exp(½·lv)·eps, lv the clamped logvar.
func refReparam(mu, lv, eps []float64) []float64 {
	z := make([]float64, len(mu))
	for i := range z {
		z[i] = mu[i] + math.Exp(0.5*refClampLV(lv[i]))*eps[i]
	}
	return z
}

// refKL is Σ −½(1 + lv − mu² − e^lv) over the clamped lv.
func refKL(mu, lv []float64) float64 {
	s := 0.0
	for i := range mu {
		l := refClampLV(lv[i])
		s += -0.5 * (1 + l - mu[i]*mu[i] - math.Exp(l))
	}
	return s
}

// refReparamBackward is ReparamBackward's dmu and dlogvar (c = β·scale).
func refReparamBackward(dz, mu, lv, eps []float64, c float64) (dmu, dlv []float64) {
	dmu, dlv = make([]float64, len(mu)), make([]float64, len(mu))
	for i := range mu {
		dmu[i] = dz[i] + c*mu[i]
		if lv[i] >= engine.LogVarMin && lv[i] <= engine.LogVarMax {
			dlv[i] = 0.5*dz[i]*eps[i]*math.Exp(0.5*lv[i]) + c*0.5*(math.Exp(lv[i])-1)
		}
	}
	return dmu, dlv
}

// actData draws pre-activations z uniform in [lo, hi), none within 1e-3 of
// ReLU's kink, and y = act(z), both as float32.
func actData(g gen, act engine.Act, n int, lo, hi float64) (y, z []float32) {
	z = g.uniform(n, lo, hi)
	y = make([]float32, n)
	for i, v := range z {
		if math.Abs(float64(v)) < 1e-3 {
			z[i] = 2e-3
		}
		y[i] = float32(refAct(act, float64(z[i])))
	}
	return y, z
}

// derivs are act′ and act″ of the float32 y and z, in float64.
func derivs(act engine.Act, y, z []float32) (a1, a2 []float64) {
	a1, a2 = make([]float64, len(z)), make([]float64, len(z))
	for i := range z {
		a1[i] = refActGrad(act, float64(y[i]), float64(z[i]))
		a2[i] = refActGrad2(act, float64(y[i]), float64(z[i]))
	}
	return a1, a2
}

// actIns places the activation's inputs an op reads (y, or z for GELU; both
// when both is set, the unused one to be ignored).
func (d *dev) actIns(act engine.Act, rows, cols int, y, z []float32, both bool) (ym, zm engine.Matrix) {
	if both || (act != engine.Linear && !act.NeedsPre()) {
		ym = d.in(rows, cols, y)
	}
	if both || act.NeedsPre() {
		zm = d.in(rows, cols, z)
	}
	return ym, zm
}

var (
	// penShapes: B×D from 1×1 to ~70, odd and prime, batch 1.
	penShapes = [][2]int{{1, 1}, {1, 7}, {3, 17}, {17, 3}, {33, 65}, {70, 33}, {69, 70}}
	// penBig has more than two chunks of a parallel backend's elementwise
	// split and several blocks of a grid-stride kernel.
	penBig = [2]int{300, 131}
)

func penaltyCases(next func() uint64) []opCase {
	var cs []opCase
	for i, s := range penShapes {
		for k, a := range acts {
			if (i+k)%2 == 0 || s[0]*s[1] <= 7 {
				cs = append(cs, actJVPCase(s[0], s[1], a, (i+k)%3 == 0, (i+k)%4 == 1, next()))
				cs = append(cs, actJVPBackwardCase(s[0], s[1], a, (i+k)%3 != 1, (i+k)%4 == 1, next()))
				cs = append(cs, actBackwardCase(s[0], s[1], a, (i+k)%3 != 2, (i+k)%4 == 3, next()))
			}
		}
	}
	for k, a := range acts {
		cs = append(cs,
			actJVPCase(penBig[0], penBig[1], a, k%2 == 0, false, next()),
			actJVPBackwardCase(penBig[0], penBig[1], a, k%2 == 1, false, next()),
			actBackwardCase(penBig[0], penBig[1], a, true, false, next()))
	}
	contrShapes := [][3]int{{1, 1, 1}, {1, 7, 3}, {3, 17, 5}, {17, 3, 33}, {33, 65, 17}, {70, 33, 70}, {64, 70, 9}}
	for i, s := range contrShapes {
		for k, a := range acts {
			if (i+k)%2 == 0 || i < 2 {
				lambda := []float32{0.1, 1.5, 0}[(i+k)%3]
				cs = append(cs, contractiveCase(s[0], s[1], s[2], a, lambda, (i+k)%4 == 1, next()))
			}
		}
	}
	for _, a := range acts {
		cs = append(cs, contractiveCase(penBig[0], penBig[1], 40, a, 0.3, false, next()))
	}
	kinds := []string{"sigmoid", "relu", "tanh", "big"}
	pens := []struct{ l1, beta, target float32 }{{0.3, 0, 0}, {0, 0.8, 0.05}, {0.1, 2, 0.3}, {0, 0, 0}}
	for i, s := range append(penShapes, penBig) {
		for k, kind := range kinds {
			p := pens[(i+k)%len(pens)]
			if i == len(penShapes) || (i+k)%2 == 0 || (p.l1 != 0 && p.beta != 0) {
				cs = append(cs, sparsityCase(s[0], s[1], kind, p.l1, p.beta, p.target, next()))
			}
		}
	}
	for i, s := range append(penShapes, penBig) {
		cs = append(cs, reparamCase(s[0], s[1], i%2 == 1, next()), reparamBackwardCase(s[0], s[1], i%2 == 1, next()))
	}
	return cs
}

// act′ evaluated in float32 from the float32 y or z is good to a few
// roundings (rel 8ε), and 1 − y², y(1 − y) lose up to ε absolute to
// cancellation (as DenseBackward's dz): a product x·act′ is checked to
// abs 2ε·max|x|, rel 8ε.
func actTol(x []float64) tol { return tol{abs: 2 * eps32 * maxAbs(x), rel: 8 * eps32} }

func actJVPCase(B, D int, act engine.Act, inPlace, both bool, seed uint64) opCase {
	g := newGen(seed)
	y, z := actData(g, act, B*D, -3, 3)
	s := g.uniform(B*D, -1, 1)
	name := fmt.Sprintf("%s/%dx%d", act, B, D)
	if inPlace {
		name += "/inplace"
	}
	if both {
		name += "/yz"
	}
	return opCase{op: "ActJVP", name: name,
		run: func(d *dev) [][]float32 {
			ym, zm := d.actIns(act, B, D, y, z, both)
			var u, sm engine.Matrix
			if inPlace {
				u = d.inout(B, D, s)
				sm = u
			} else {
				v := d.place([2]int{B, D}, [2]int{B, D}) // u and s in one buffer
				u, sm = v[0], v[1]
				d.setIn(sm, s)
			}
			d.must(d.b.ActJVP(u, sm, ym, zm, act))
			return [][]float32{d.get(u)}
		},
		ref: func() []expect {
			a1, _ := derivs(act, y, z)
			u := make([]float64, len(s))
			for i := range u {
				u[i] = float64(s[i]) * a1[i]
			}
			return []expect{{"u", u, actTol(to64(s))}}
		},
	}
}

func actJVPBackwardCase(B, D int, act engine.Act, inPlace, both bool, seed uint64) opCase {
	g := newGen(seed)
	y, z := actData(g, act, B*D, -3, 3)
	du, s, dz0 := g.uniform(B*D, -1, 1), g.uniform(B*D, -2, 2), g.uniform(B*D, -1, 1)
	name := fmt.Sprintf("%s/%dx%d", act, B, D)
	if inPlace {
		name += "/inplace"
	}
	if both {
		name += "/yz"
	}
	return opCase{op: "ActJVPBackward", name: name,
		run: func(d *dev) [][]float32 {
			ym, zm := d.actIns(act, B, D, y, z, both)
			sm := d.in(B, D, s)
			// dzExtra next to the gradients, as a layer's pre-activation
			// gradient would be.
			v := d.place([2]int{B, D}, [2]int{B, D})
			dzE := v[0]
			d.must(d.b.Upload(dzE, dz0))
			var ds, dum engine.Matrix
			if inPlace {
				d.must(d.b.Upload(v[1], du))
				ds, dum = v[1], v[1]
			} else {
				ds = v[1]
				dum = d.in(B, D, du)
			}
			d.must(d.b.ActJVPBackward(ds, dzE, dum, sm, ym, zm, act))
			return [][]float32{d.get(ds), d.get(dzE)}
		},
		ref: func() []expect {
			a1, a2 := derivs(act, y, z)
			ds, dzE, dus := make([]float64, len(du)), make([]float64, len(du)), make([]float64, len(du))
			for i := range du {
				ds[i] = float64(du[i]) * a1[i]
				dus[i] = float64(du[i]) * float64(s[i])
				dzE[i] = float64(dz0[i]) + dus[i]*a2[i]
			}
			// dzExtra: act″ in float32 is off by ≤ 3ε absolute (tanh's
			// −2y(1 − y²) inherits 1 − y²'s cancellation), the product and
			// the sum round (rel 8ε, and ε of the larger term if they cancel).
			return []expect{
				{"ds", ds, actTol(to64(du))},
				{"dzExtra", dzE, tol{abs: 2*eps32*maxAbs(to64(dz0)) + 4*eps32*maxAbs(dus), rel: 8 * eps32}},
			}
		},
	}
}

func actBackwardCase(B, D int, act engine.Act, withExtra, both bool, seed uint64) opCase {
	g := newGen(seed)
	y, z := actData(g, act, B*D, -3, 3)
	dy, extra := g.uniform(B*D, -1, 1), g.uniform(B*D, -0.5, 0.5)
	name := fmt.Sprintf("%s/%dx%d", act, B, D)
	if !withExtra {
		name += "/noextra"
	}
	if both {
		name += "/yz"
	}
	return opCase{op: "ActBackward", name: name,
		run: func(d *dev) [][]float32 {
			ym, zm := d.actIns(act, B, D, y, z, both)
			dym := d.inout(B, D, dy)
			var em engine.Matrix
			if withExtra {
				em = d.in(B, D, extra)
			}
			d.must(d.b.ActBackward(dym, em, ym, zm, act))
			return [][]float32{d.get(dym)}
		},
		ref: func() []expect {
			a1, _ := derivs(act, y, z)
			want := make([]float64, len(dy))
			for i := range want {
				want[i] = float64(dy[i]) * a1[i]
				if withExtra {
					want[i] += float64(extra[i])
				}
			}
			t := actTol(to64(dy))
			if withExtra {
				t.abs += 2 * eps32 * maxAbs(to64(extra)) // the sum's rounding if it cancels
			}
			return []expect{{"dy", want, t}}
		},
	}
}

func contractiveCase(B, D, in int, act engine.Act, lambda float32, both bool, seed uint64) opCase {
	g := newGen(seed)
	y, z := actData(g, act, B*D, -2.5, 2.5)
	sw := 1 / math.Sqrt(float64(in))
	w := g.uniform(D*in, -sw, sw)
	dy := g.uniform(B*D, -1, 1)
	const acc0, weight = 0.75, float32(0.5)
	name := fmt.Sprintf("%s/%dx%dx%d/l%g", act, B, D, in, lambda)
	if both {
		name += "/yz"
	}
	return opCase{op: "ContractiveExact", name: name,
		run: func(d *dev) [][]float32 {
			ym, zm := d.actIns(act, B, D, y, z, both)
			wm := d.in(D, in, w)
			acc := d.inout(1, 1, []float32{acc0})
			dym := d.inout(B, D, dy)
			grads := d.place([2]int{D, in}, [2]int{1, D}) // dw and db in one buffer
			d.must(d.b.ContractiveExact(acc, dym, grads[0], grads[1], ym, zm, wm, act, lambda, weight))
			return [][]float32{d.get(acc), d.get(dym), d.get(grads[0]), d.get(grads[1])}
		},
		ref: func() []expect {
			a1, a2 := derivs(act, y, z)
			lam := float64(lambda)
			P, dz, dw, S, n := refContractive(B, D, in, a1, a2, to64(w), lam)
			for i := range dz {
				dz[i] += float64(dy[i]) * a1[i]
			}
			c2 := 2 * lam / float64(B)
			// act′ from float32 y or z is off by ≤ 1.2ε (absolute: act′ ≤
			// 1.13), so S_j = Σ_i a′² by ≤ 3εB, plus a float32 sum's 4√B·ε·S_j;
			// n_j (a float32 sum of in squares) by 4√in·ε·n_j.
			maxS, maxN, pErr := 0.0, 0.0, 0.0
			for j := range D {
				dS := 3*eps32*float64(B) + 4*math.Sqrt(float64(B))*eps32*S[j]
				pErr += lam / float64(B) * (n[j]*dS + 4*math.Sqrt(float64(in))*eps32*n[j]*S[j])
				maxS, maxN = max(maxS, S[j]), max(maxN, n[j])
			}
			dS := 3*eps32*float64(B) + 4*math.Sqrt(float64(B))*eps32*maxS
			return []expect{
				// acc0 + weight·P: P's error as above, then a rounding.
				{"acc", []float64{acc0 + float64(weight)*P}, tol{abs: float64(weight) * pErr, rel: 4 * eps32}},
				// dy·a′ as DenseBackward's dz; the penalty term c2·n_j·a′·a″
				// has a′·a″ off by ≤ 4ε absolute (tanh, sigmoid cancellation).
				{"dy", dz, tol{abs: 2*eps32*maxAbs(to64(dy)) + 8*eps32*c2*maxN, rel: 16 * eps32}},
				{"dw", dw, tol{abs: c2 * dS * maxAbs(to64(w)), rel: 4 * eps32}},
				{"db", make([]float64, D), tol{}}, // exact zeros
			}
		},
	}
}

// sparsityData draws activations h of a kind: "sigmoid" in (0.02, 0.98);
// "relu" half zeros and a dead column (ρ̂ = 0, clamped); "tanh" in (−1, 1),
// some columns with a negative mean (clamped at 1e-6); "big" in (0.5, 3),
// means above 1 (clamped at 1 − 1e-6).
func sparsityData(g gen, kind string, B, D int) []float32 {
	switch kind {
	case "relu":
		h := g.uniform(B*D, -1, 2)
		for i, v := range h {
			if v < 0 || i%D == D/2 {
				h[i] = 0
			}
		}
		return h
	case "tanh":
		h := g.uniform(B*D, -1, 1)
		for i := range h {
			if i%D%3 == 0 {
				h[i] = -float32(math.Abs(float64(h[i]))) // a negative mean
			}
		}
		return h
	case "big":
		return g.uniform(B*D, 0.5, 3)
	}
	return g.uniform(B*D, 0.02, 0.98)
}

func sparsityCase(B, D int, kind string, l1, beta, target float32, seed uint64) opCase {
	g := newGen(seed)
	h := sparsityData(g, kind, B, D)
	dh := g.uniform(B*D, -0.5, 0.5)
	const acc0, weight = 0.5, float32(0.75)
	name := fmt.Sprintf("%s/%dx%d/l1=%g/beta=%g/rho=%g", kind, B, D, l1, beta, target)
	return opCase{op: "Sparsity", name: name,
		run: func(d *dev) [][]float32 {
			hm := d.in(B, D, h)
			v := d.place([2]int{1, 1}, [2]int{1, D}) // acc and rho in one buffer
			d.must(d.b.Upload(v[0], []float32{acc0}))
			dhm := d.inout(B, D, dh)
			d.must(d.b.Sparsity(v[0], dhm, v[1], hm, l1, beta, target, weight))
			return [][]float32{d.get(v[0]), d.get(dhm), d.get(v[1])}
		},
		ref: func() []expect {
			h64 := to64(h)
			P, grad, rho := refSparsity(B, D, h64, float64(l1), float64(beta), float64(target))
			want := make([]float64, len(dh))
			for i := range want {
				want[i] = float64(dh[i]) + grad[i]
			}
			// ρ̂_j: a sum of B terms (dotTol), /B.
			colAbs := make([]float64, D)
			for i, v := range h64 {
				colAbs[i%D] += math.Abs(v)
			}
			st := dotTol(B, maxAbs(colAbs), 0)
			rt := tol{abs: st.abs / float64(B), rel: st.rel}
			// P: nonnegative terms (rel 8ε, and a float32 sum's 4√n·ε); the
			// KL terms also move with ρ̂'s error δ by |∂KL/∂r|·δ.
			pAbs := 0.0
			if beta > 0 {
				t := float64(target)
				for _, m := range rho {
					r := sparsityClamp(m)
					pAbs += float64(beta) * math.Abs(-t/r+(1-t)/(1-r)) * (rt.abs + rt.rel*math.Abs(m))
				}
			}
			n := float64(B * D)
			return []expect{
				{"acc", []float64{acc0 + float64(weight)*P}, tol{abs: float64(weight) * pAbs, rel: 8*eps32 + 4*math.Sqrt(n)*eps32}},
				// dh + the penalty's gradient: float32 sums of a few terms
				// (rel 8ε, and ε of the largest if they cancel).
				{"dh", want, tol{abs: 4 * eps32 * (maxAbs(to64(dh)) + maxAbs(grad)), rel: 8 * eps32}},
				{"rho", rho, rt},
			}
		},
	}
}

// reparamData draws mu, logvar and eps; edge puts logvar at and beyond the
// clamp (±200, just outside and exactly at LogVarMin and LogVarMax).
func reparamData(g gen, n int, edge bool) (mu, lv, eps []float32) {
	mu, lv, eps = g.uniform(n, -2, 2), g.uniform(n, -4, 3), g.uniform(n, -3, 3)
	if edge {
		edges := []float32{-200, 200, engine.LogVarMin, engine.LogVarMax, -30.5, 20.5, -29.5, 19.5, 0, 1e-3}
		for i := range lv {
			if i%2 == 0 {
				lv[i] = edges[i/2%len(edges)]
			}
		}
	}
	return mu, lv, eps
}

func reparamCase(B, D int, edge bool, seed uint64) opCase {
	g := newGen(seed)
	mu, lv, eps := reparamData(g, B*D, edge)
	name := fmt.Sprintf("%dx%d", B, D)
	if edge {
		name += "/edge"
	}
	return opCase{op: "Reparameterize", name: name,
		run: func(d *dev) [][]float32 {
			v := d.place([2]int{B, D}, [2]int{B, D}) // mu and logvar in one buffer
			d.setIn(v[0], mu)
			d.setIn(v[1], lv)
			z := d.out(B, D)
			d.must(d.b.Reparameterize(z, v[0], v[1], d.in(B, D, eps)))
			return [][]float32{d.get(z)}
		},
		ref: func() []expect {
			mu64, lv64, eps64 := to64(mu), to64(lv), to64(eps)
			z := refReparam(mu64, lv64, eps64)
			// exp in float32 is good to a few ulps, the product and the sum
			// round: 4ε of each term (so cancellation is covered).
			each := make([]float64, len(z))
			for i := range each {
				each[i] = 4 * eps32 * (math.Abs(mu64[i]) + math.Abs(z[i]-mu64[i]))
			}
			return []expect{{"z", z, tol{abs: 1e-30, each: each}}}
		},
	}
}

func reparamBackwardCase(B, D int, edge bool, seed uint64) opCase {
	g := newGen(seed)
	mu, lv, eps := reparamData(g, B*D, edge)
	dz := g.uniform(B*D, -1, 1)
	const acc0, betaV, scale, weight = 0.25, float32(0.7), float32(0.3), float32(0.5)
	name := fmt.Sprintf("%dx%d", B, D)
	if edge {
		name += "/edge"
	}
	return opCase{op: "ReparamBackward", name: name,
		run: func(d *dev) [][]float32 {
			in := d.place([2]int{B, D}, [2]int{B, D}, [2]int{1, 1}) // mu, logvar, beta
			d.setIn(in[0], mu)
			d.setIn(in[1], lv)
			d.setIn(in[2], []float32{betaV})
			out := d.place([2]int{B, D}, [2]int{B, D}) // dmu, dlogvar
			acc := d.inout(1, 1, []float32{acc0})
			d.must(d.b.ReparamBackward(out[0], out[1], acc, in[2], d.in(B, D, dz), in[0], in[1], d.in(B, D, eps), scale, weight))
			return [][]float32{d.get(out[0]), d.get(out[1]), d.get(acc)}
		},
		ref: func() []expect {
			mu64, lv64, eps64, dz64 := to64(mu), to64(lv), to64(eps), to64(dz)
			c := float64(betaV) * float64(scale)
			dmu, dlv := refReparamBackward(dz64, mu64, lv64, eps64, c)
			eMu, eLv := make([]float64, len(mu)), make([]float64, len(mu))
			klErr := 0.0
			for i := range mu {
				// Each value: a few float32 operations (exp to a few ulps),
				// 4ε of each term, so cancellation is covered.
				eMu[i] = 4 * eps32 * (math.Abs(dz64[i]) + math.Abs(c*mu64[i]))
				l := refClampLV(lv64[i])
				ex := math.Exp(l)
				if dlv[i] != 0 {
					eLv[i] = 4 * eps32 * (math.Abs(0.5*dz64[i]*eps64[i]*math.Exp(0.5*l)) + c*0.5*(ex+1))
				}
				// −½(1 + lv − mu² − e^lv) cancels down to ≈ lv²/4 near 0.
				klErr += 4 * eps32 * (1 + math.Abs(l) + mu64[i]*mu64[i] + ex)
			}
			n := float64(B * D)
			kl := refKL(mu64, lv64)
			return []expect{
				{"dmu", dmu, tol{abs: 1e-30, each: eMu}},
				{"dlogvar", dlv, tol{abs: 1e-30, each: eLv}}, // exact 0 outside the clamp
				{"acc", []float64{acc0 + float64(weight)*kl}, tol{abs: float64(weight) * klErr, rel: 4*eps32 + 4*math.Sqrt(n)*eps32}},
			}
		},
	}
}

// ---------------------------------------------------------------------------
// Finite differences: each op's gradient output against central differences
// of the float64 penalty (or functional) whose value the op adds to acc.

func penaltyGradCheck(t *testing.T, b engine.Backend) {
	// As gradCheck: float32 results against float64 differences (≈1e-10);
	// any wrong term is off by ≳ 1e-2.
	fdTol := tol{abs: 1e-5, rel: 1e-4}
	seed := uint64(19000)
	for _, s := range [][2]int{{5, 4}, {1, 3}, {7, 6}} {
		B, D := s[0], s[1]
		for _, p := range []struct {
			name             string
			l1, beta, target float32
			lo, hi           float64
		}{
			{"l1", 0.3, 0, 0, -1, 1}, // mixed signs, away from 0
			{"kl", 0, 0.8, 0.2, 0.05, 0.95},
			{"l1+kl", 0.5, 1.5, 0.6, 0.05, 0.95},
		} {
			seed++
			g := newGen(seed)
			h := g.uniform(B*D, p.lo, p.hi)
			for i, v := range h {
				if math.Abs(float64(v)) < 0.01 {
					h[i] = 0.05
				}
			}
			t.Run(fmt.Sprintf("Sparsity/%s/%dx%d", p.name, B, D), func(t *testing.T) {
				d := newDev(t, b)
				defer d.finish()
				acc, dh, rho := d.inout(1, 1, []float32{0}), d.inout(B, D, make([]float32, B*D)), d.out(1, D)
				d.must(b.Sparsity(acc, dh, rho, d.in(B, D, h), p.l1, p.beta, p.target, 1))
				h64 := to64(h)
				P := func() float64 {
					v, _, _ := refSparsity(B, D, h64, float64(p.l1), float64(p.beta), float64(p.target))
					return v
				}
				checkClose(t, "acc = P", d.get(acc), []float64{P()}, tol{rel: 1e-6})
				checkClose(t, "dh = ∂P/∂h", d.get(dh), centralDiff(h64, P), fdTol)
			})
		}
	}
	for _, s := range [][3]int{{3, 4, 5}, {1, 2, 3}, {6, 3, 7}} {
		B, D, in := s[0], s[1], s[2]
		for _, act := range acts {
			seed++
			g := newGen(seed)
			y, z := actData(g, act, B*D, -2, 2)
			w := g.uniform(D*in, -0.7, 0.7)
			const lambda = float32(0.6)
			t.Run(fmt.Sprintf("ContractiveExact/%s/%dx%dx%d", act, B, D, in), func(t *testing.T) {
				d := newDev(t, b)
				defer d.finish()
				ym, zm := d.actIns(act, B, D, y, z, false)
				acc, dy := d.inout(1, 1, []float32{0}), d.inout(B, D, make([]float32, B*D))
				dw, db := d.out(D, in), d.out(1, D)
				d.must(b.ContractiveExact(acc, dy, dw, db, ym, zm, d.in(D, in, w), act, lambda, 1))
				z64, w64 := to64(z), to64(w)
				P := func() float64 {
					a1 := make([]float64, len(z64))
					for i, v := range z64 {
						a1[i] = refActGradZ(act, v)
					}
					v, _, _, _, _ := refContractive(B, D, in, a1, a1, w64, float64(lambda))
					return v
				}
				checkClose(t, "acc = P", d.get(acc), []float64{P()}, tol{abs: 1e-6, rel: 1e-5})
				checkClose(t, "dy = ∂P/∂z", d.get(dy), centralDiff(z64, P), fdTol)
				checkClose(t, "dw = ∂P/∂w", d.get(dw), centralDiff(w64, P), fdTol)
			})
		}
	}
	for _, s := range [][2]int{{3, 5}, {1, 4}} {
		B, D := s[0], s[1]
		for _, act := range acts {
			seed++
			g := newGen(seed)
			y, z := actData(g, act, B*D, -2.5, 2.5)
			sv, gv := g.uniform(B*D, -1, 1), g.uniform(B*D, -1, 1)
			t.Run(fmt.Sprintf("ActJVP/%s/%dx%d", act, B, D), func(t *testing.T) {
				d := newDev(t, b)
				defer d.finish()
				ym, zm := d.actIns(act, B, D, y, z, false)
				sm := d.in(B, D, sv)
				ds, dzE := d.out(B, D), d.inout(B, D, make([]float32, B*D))
				d.must(b.ActJVPBackward(ds, dzE, d.in(B, D, gv), sm, ym, zm, act))
				// P = Σ g ⊙ u, u = act′(z) ⊙ s.
				z64, s64, g64 := to64(z), to64(sv), to64(gv)
				P := func() float64 {
					p := 0.0
					for i := range z64 {
						p += g64[i] * refActGradZ(act, z64[i]) * s64[i]
					}
					return p
				}
				checkClose(t, "ds = ∂P/∂s", d.get(ds), centralDiff(s64, P), fdTol)
				checkClose(t, "dzExtra = ∂P/∂z", d.get(dzE), centralDiff(z64, P), fdTol)
			})
		}
	}
	for _, c := range []struct {
		name          string
		beta, scale   float32
		withDz, withL bool
	}{
		{"kl", 1, 1, false, true},
		{"linear", 0, 1, true, false},
		{"both", 0.7, 0.25, true, true},
	} {
		for _, n := range [][2]int{{4, 6}, {1, 3}} {
			seed++
			g := newGen(seed)
			B, D := n[0], n[1]
			mu, lv, eps := g.uniform(B*D, -1.5, 1.5), g.uniform(B*D, -3, 2), g.uniform(B*D, -2, 2)
			// The clamp region (zero gradient, finite outputs at ±200).
			extremes := []float32{200, -200, 25, -35}
			for i := 0; i < len(lv); i += 3 {
				lv[i] = extremes[i/3%len(extremes)]
			}
			gv := g.uniform(B*D, -1, 1)
			t.Run(fmt.Sprintf("ReparamBackward/%s/%dx%d", c.name, B, D), func(t *testing.T) {
				d := newDev(t, b)
				defer d.finish()
				dzv := make([]float32, B*D)
				if c.withDz {
					dzv = gv
				}
				acc := d.inout(1, 1, []float32{0})
				dmu, dlv := d.out(B, D), d.out(B, D)
				mum, lvm, epsm := d.in(B, D, mu), d.in(B, D, lv), d.in(B, D, eps)
				d.must(b.ReparamBackward(dmu, dlv, acc, d.in(1, 1, []float32{c.beta}), d.in(B, D, dzv), mum, lvm, epsm, c.scale, 1))
				mu64, lv64, eps64, g64 := to64(mu), to64(lv), to64(eps), to64(dzv)
				cf := float64(c.beta) * float64(c.scale)
				// F = Σ dz ⊙ z(mu, logvar) + β·scale·KL(mu, logvar) is a sum
				// of one term per element, each a part in mu plus a part in
				// logvar (KL's term −½(1 + lv − mu² − e^lv) = ½mu² +
				// ½(e^lv − 1 − lv)); each part is differenced on its own, as
				// the clamped terms (e^20 ≈ 5e8) would swamp the differences.
				Fmu := func(i int) float64 { return g64[i]*mu64[i] + cf*0.5*mu64[i]*mu64[i] }
				Flv := func(i int) float64 {
					l := refClampLV(lv64[i])
					return g64[i]*math.Exp(0.5*l)*eps64[i] + cf*0.5*(math.Exp(l)-1-l)
				}
				got := [][]float32{d.get(dmu), d.get(dlv), d.get(acc)}
				for _, v := range got {
					for i, x := range v {
						if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
							t.Fatalf("output element %d is %g, want finite", i, x)
						}
					}
				}
				checkClose(t, "acc = KL", got[2], []float64{refKL(mu64, lv64)}, tol{rel: 1e-6})
				checkClose(t, "dmu = ∂F/∂mu", got[0], centralDiffEach(mu64, Fmu), fdTol)
				checkClose(t, "dlogvar = ∂F/∂logvar", got[1], centralDiffEach(lv64, Flv), fdTol)
			})
		}
	}
}

// centralDiffEach is centralDiff for a function that is a sum of one term
// per element of theta: ∂f/∂θᵢ from term i alone (f(i) reads theta).
func centralDiffEach(theta []float64, f func(i int) float64) []float64 {
	g := make([]float64, len(theta))
	for i, old := range theta {
		theta[i] = old + fdStep
		fp := f(i)
		theta[i] = old - fdStep
		fm := f(i)
		theta[i] = old
		g[i] = (fp - fm) / (2 * fdStep)
	}
	return g
}

// ---------------------------------------------------------------------------
// Errors: every bad call returns an *engine.ShapeError (and does not panic).

func penaltyErrors(t *testing.T, b engine.Backend) {
	d := newDev(t, b)
	defer d.finish()
	m := func(r, c int) engine.Matrix { return d.out(r, c) }
	none := engine.Matrix{}
	h, dh, rho, acc := m(4, 5), m(4, 5), m(1, 5), m(1, 1)
	y, z, dy, w, dw, db := m(4, 5), m(4, 5), m(4, 5), m(5, 3), m(5, 3), m(1, 5)
	u, s, du, dzE := m(4, 5), m(4, 5), m(4, 5), m(4, 5)
	mu, lv, eps, zz, beta := m(4, 5), m(4, 5), m(4, 5), m(4, 5), m(1, 1)
	full, err := b.Alloc(4, 10)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Free(full)
	left, right := full.View(0, 4, 5), full.View(3, 4, 5) // overlapping views
	outside := engine.Matrix{Buf: full.Buf, Off: 3, Rows: 4, Cols: 10}
	nan := float32(math.NaN())
	inf := float32(math.Inf(1))
	calls := []struct {
		name string
		call func() error
	}{
		{"Sparsity dh shape", func() error { return b.Sparsity(acc, m(5, 4), rho, h, 0.1, 0, 0, 1) }},
		{"Sparsity rho length", func() error { return b.Sparsity(acc, dh, m(1, 4), h, 0.1, 0, 0, 1) }},
		{"Sparsity acc not 1×1", func() error { return b.Sparsity(m(1, 2), dh, rho, h, 0.1, 0, 0, 1) }},
		{"Sparsity h absent", func() error { return b.Sparsity(acc, dh, rho, none, 0.1, 0, 0, 1) }},
		{"Sparsity empty batch", func() error { return b.Sparsity(acc, m(0, 5), rho, m(0, 5), 0.1, 0, 0, 1) }},
		{"Sparsity dh aliases h", func() error { return b.Sparsity(acc, right, rho, left, 0.1, 0, 0, 1) }},
		{"Sparsity rho aliases h", func() error { return b.Sparsity(acc, dh, full.View(2, 1, 5), left, 0.1, 0, 0, 1) }},
		{"Sparsity negative l1", func() error { return b.Sparsity(acc, dh, rho, h, -0.1, 0, 0, 1) }},
		{"Sparsity NaN l1", func() error { return b.Sparsity(acc, dh, rho, h, nan, 0, 0, 1) }},
		{"Sparsity negative beta", func() error { return b.Sparsity(acc, dh, rho, h, 0, -1, 0.1, 1) }},
		{"Sparsity infinite beta", func() error { return b.Sparsity(acc, dh, rho, h, 0, inf, 0.1, 1) }},
		{"Sparsity target 0", func() error { return b.Sparsity(acc, dh, rho, h, 0, 1, 0, 1) }},
		{"Sparsity target 1", func() error { return b.Sparsity(acc, dh, rho, h, 0, 1, 1, 1) }},
		{"Sparsity NaN target", func() error { return b.Sparsity(acc, dh, rho, h, 0, 1, nan, 1) }},
		{"Sparsity h outside buffer", func() error { return b.Sparsity(acc, m(4, 10), m(1, 10), outside, 0.1, 0, 0, 1) }},

		{"ContractiveExact w rows", func() error { return b.ContractiveExact(acc, dy, m(4, 3), db, y, z, m(4, 3), engine.Tanh, 1, 1) }},
		{"ContractiveExact dw shape", func() error { return b.ContractiveExact(acc, dy, m(3, 5), db, y, z, w, engine.Tanh, 1, 1) }},
		{"ContractiveExact db length", func() error { return b.ContractiveExact(acc, dy, dw, m(1, 4), y, z, w, engine.Tanh, 1, 1) }},
		{"ContractiveExact y shape", func() error { return b.ContractiveExact(acc, dy, dw, db, m(5, 4), z, w, engine.Tanh, 1, 1) }},
		{"ContractiveExact tanh without y", func() error { return b.ContractiveExact(acc, dy, dw, db, none, z, w, engine.Tanh, 1, 1) }},
		{"ContractiveExact gelu without z", func() error { return b.ContractiveExact(acc, dy, dw, db, y, none, w, engine.GELU, 1, 1) }},
		{"ContractiveExact unknown act", func() error { return b.ContractiveExact(acc, dy, dw, db, y, z, w, engine.Act(9), 1, 1) }},
		{"ContractiveExact negative lambda", func() error { return b.ContractiveExact(acc, dy, dw, db, y, z, w, engine.ReLU, -1, 1) }},
		{"ContractiveExact NaN lambda", func() error { return b.ContractiveExact(acc, dy, dw, db, y, z, w, engine.ReLU, nan, 1) }},
		{"ContractiveExact dy aliases y", func() error { return b.ContractiveExact(acc, left, dw, db, right, z, w, engine.ReLU, 1, 1) }},
		{"ContractiveExact dw aliases w", func() error {
			return b.ContractiveExact(acc, dy, full.View(0, 5, 3), db, y, z, full.View(5, 5, 3), engine.ReLU, 1, 1)
		}},
		{"ContractiveExact acc aliases db", func() error {
			return b.ContractiveExact(full.View(2, 1, 1), dy, dw, full.View(0, 1, 5), y, z, w, engine.ReLU, 1, 1)
		}},
		{"ContractiveExact acc not 1×1", func() error { return b.ContractiveExact(m(2, 1), dy, dw, db, y, z, w, engine.ReLU, 1, 1) }},
		{"ContractiveExact dw absent", func() error { return b.ContractiveExact(acc, dy, none, db, y, z, w, engine.ReLU, 1, 1) }},

		{"ActJVP shape", func() error { return b.ActJVP(m(5, 4), s, y, z, engine.Tanh) }},
		{"ActJVP y shape", func() error { return b.ActJVP(u, s, m(4, 4), z, engine.Tanh) }},
		{"ActJVP sigmoid without y", func() error { return b.ActJVP(u, s, none, z, engine.Sigmoid) }},
		{"ActJVP gelu without z", func() error { return b.ActJVP(u, s, y, none, engine.GELU) }},
		{"ActJVP unknown act", func() error { return b.ActJVP(u, s, y, z, engine.Act(-1)) }},
		{"ActJVP u overlaps s partially", func() error { return b.ActJVP(right, left, y, z, engine.Tanh) }},
		{"ActJVP u aliases y", func() error { return b.ActJVP(u, s, u, z, engine.Tanh) }},
		{"ActJVP s absent", func() error { return b.ActJVP(u, none, y, z, engine.Linear) }},

		{"ActJVPBackward ds shape", func() error { return b.ActJVPBackward(m(5, 4), dzE, du, s, y, z, engine.Tanh) }},
		{"ActJVPBackward dzExtra shape", func() error { return b.ActJVPBackward(u, m(4, 4), du, s, y, z, engine.Tanh) }},
		{"ActJVPBackward s shape", func() error { return b.ActJVPBackward(u, dzE, du, m(1, 20), y, z, engine.Tanh) }},
		{"ActJVPBackward dzExtra absent", func() error { return b.ActJVPBackward(u, none, du, s, y, z, engine.Tanh) }},
		{"ActJVPBackward gelu without z", func() error { return b.ActJVPBackward(u, dzE, du, s, y, none, engine.GELU) }},
		{"ActJVPBackward ds overlaps du partially", func() error { return b.ActJVPBackward(right, dzE, left, s, y, z, engine.Tanh) }},
		{"ActJVPBackward ds aliases s", func() error { return b.ActJVPBackward(s, dzE, du, s, y, z, engine.Tanh) }},
		{"ActJVPBackward dzExtra aliases du", func() error { return b.ActJVPBackward(u, du, du, s, y, z, engine.Tanh) }},
		{"ActJVPBackward dzExtra aliases ds", func() error { return b.ActJVPBackward(du, du, du, s, y, z, engine.Linear) }},

		{"ActBackward extra shape", func() error { return b.ActBackward(dy, m(5, 4), y, z, engine.Tanh) }},
		{"ActBackward relu without y", func() error { return b.ActBackward(dy, none, none, z, engine.ReLU) }},
		{"ActBackward gelu z shape", func() error { return b.ActBackward(dy, none, y, m(4, 4), engine.GELU) }},
		{"ActBackward dy aliases extra", func() error { return b.ActBackward(left, right, y, z, engine.Linear) }},
		{"ActBackward dy aliases y", func() error { return b.ActBackward(dy, none, dy, z, engine.Sigmoid) }},
		{"ActBackward unknown act", func() error { return b.ActBackward(dy, none, y, z, engine.Act(6)) }},
		{"ActBackward dy absent", func() error { return b.ActBackward(none, none, y, z, engine.Linear) }},

		{"Reparameterize shape", func() error { return b.Reparameterize(zz, mu, m(5, 4), eps) }},
		{"Reparameterize eps absent", func() error { return b.Reparameterize(zz, mu, lv, none) }},
		{"Reparameterize z aliases mu", func() error { return b.Reparameterize(right, left, lv, eps) }},
		{"Reparameterize z is eps", func() error { return b.Reparameterize(eps, mu, lv, eps) }},
		{"Reparameterize outside buffer", func() error { return b.Reparameterize(m(4, 10), m(4, 10), outside, m(4, 10)) }},

		{"ReparamBackward shape", func() error { return b.ReparamBackward(m(4, 5), m(4, 5), acc, beta, m(5, 4), mu, lv, eps, 1, 1) }},
		{"ReparamBackward beta not 1×1", func() error {
			return b.ReparamBackward(m(4, 5), m(4, 5), acc, m(1, 2), dz(m), mu, lv, eps, 1, 1)
		}},
		{"ReparamBackward beta absent", func() error { return b.ReparamBackward(m(4, 5), m(4, 5), acc, none, dz(m), mu, lv, eps, 1, 1) }},
		{"ReparamBackward acc not 1×1", func() error { return b.ReparamBackward(m(4, 5), m(4, 5), m(1, 3), beta, dz(m), mu, lv, eps, 1, 1) }},
		{"ReparamBackward dmu aliases mu", func() error { return b.ReparamBackward(right, m(4, 5), acc, beta, dz(m), left, lv, eps, 1, 1) }},
		{"ReparamBackward dlogvar is dz", func() error {
			g := dz(m)
			return b.ReparamBackward(m(4, 5), g, acc, beta, g, mu, lv, eps, 1, 1)
		}},
		{"ReparamBackward dmu aliases dlogvar", func() error { return b.ReparamBackward(left, right, acc, beta, dz(m), mu, lv, eps, 1, 1) }},
		{"ReparamBackward acc aliases beta", func() error { return b.ReparamBackward(m(4, 5), m(4, 5), beta, beta, dz(m), mu, lv, eps, 1, 1) }},
		{"ReparamBackward eps absent", func() error { return b.ReparamBackward(m(4, 5), m(4, 5), acc, beta, dz(m), mu, lv, none, 1, 1) }},
	}
	for _, c := range calls {
		err := func() (err error) {
			defer func() {
				if r := recover(); r != nil {
					err = fmt.Errorf("panic: %v", r)
				}
			}()
			return c.call()
		}()
		var se *engine.ShapeError
		switch {
		case err == nil:
			t.Errorf("%s: no error", c.name)
		case !errors.As(err, &se):
			t.Errorf("%s: got %v (%T), want an *engine.ShapeError", c.name, err, err)
		}
	}
}

// dz is a fresh [4×5] upstream gradient for the error table.
func dz(m func(r, c int) engine.Matrix) engine.Matrix { return m(4, 5) }
