package enginetest

import (
	"fmt"
	"math"

	"github.com/aegpu/aegpu/engine"
)

// lnShapes are LayerNorm's cases (rows, features): a single feature (zero
// variance: x̂ = 0), odd widths, more rows than a grid of blocks.
var lnShapes = [][2]int{{1, 1}, {1, 17}, {3, 33}, {17, 3}, {100, 257}, {600, 20}, {2, 1100}}

const lnEps = 1e-5

// lnInputs draws x (rows offset by up to ±3, so that the mean matters),
// γ in [0.5, 1.5), β and dy in [−1, 1).
func lnInputs(g gen, B, D int) (x, gamma, beta, dy []float32) {
	x = g.uniform(B*D, -1, 1)
	off := g.uniform(B, -3, 3)
	for r := range B {
		for c := range D {
			x[r*D+c] += off[r]
		}
	}
	return x, g.uniform(D, 0.5, 1.5), g.uniform(D, -1, 1), g.uniform(B*D, -1, 1)
}

// refLayerNorm is LayerNorm in float64.
func refLayerNorm(B, D int, x, gamma, beta []float64, eps float64) (y, mean, rstd []float64) {
	y, mean, rstd = make([]float64, B*D), make([]float64, B), make([]float64, B)
	for r := range B {
		row := x[r*D : (r+1)*D]
		mu, v := 0.0, 0.0
		for _, a := range row {
			mu += a
		}
		mu /= float64(D)
		for _, a := range row {
			v += (a - mu) * (a - mu)
		}
		rs := 1 / math.Sqrt(v/float64(D)+eps)
		for c, a := range row {
			y[r*D+c] = (a-mu)*rs*gamma[c] + beta[c]
		}
		mean[r], rstd[r] = mu, rs
	}
	return y, mean, rstd
}

// refLayerNormBackward is LayerNormBackward in float64 (the forward pass's
// statistics recomputed exactly).
func refLayerNormBackward(B, D int, dy, x, gamma []float64, eps float64) (dx, dgamma, dbeta []float64) {
	_, mean, rstd := refLayerNorm(B, D, x, gamma, make([]float64, D), eps)
	dx, dgamma, dbeta = make([]float64, B*D), make([]float64, D), make([]float64, D)
	for r := range B {
		mu, rs := mean[r], rstd[r]
		s1, s2 := 0.0, 0.0
		for c := range D {
			g := dy[r*D+c] * gamma[c]
			xh := (x[r*D+c] - mu) * rs
			s1 += g
			s2 += g * xh
			dgamma[c] += dy[r*D+c] * xh
			dbeta[c] += dy[r*D+c]
		}
		for c := range D {
			g := dy[r*D+c] * gamma[c]
			xh := (x[r*D+c] - mu) * rs
			dx[r*D+c] = rs * (g - s1/float64(D) - xh*s2/float64(D))
		}
	}
	return dx, dgamma, dbeta
}

func layerNormCases(next func() uint64) []opCase {
	var cs []opCase
	for _, s := range lnShapes {
		cs = append(cs, layerNormCase(s[0], s[1], next()), layerNormBackwardCase(s[0], s[1], true, next()))
	}
	return append(cs, layerNormBackwardCase(5, 9, false, next()))
}

func layerNormCase(B, D int, seed uint64) opCase {
	x, gamma, beta, _ := lnInputs(newGen(seed), B, D)
	return opCase{op: "LayerNorm", name: fmt.Sprintf("%dx%d", B, D),
		run: func(d *dev) [][]float32 {
			y, mean, rstd := d.out(B, D), d.out(B, 1), d.out(B, 1)
			d.must(d.b.LayerNorm(y, mean, rstd, d.in(B, D, x), d.in(1, D, gamma), d.in(1, D, beta), lnEps))
			return [][]float32{d.get(y), d.get(mean), d.get(rstd)}
		},
		ref: func() []expect {
			y, mean, rstd := refLayerNorm(B, D, to64(x), to64(gamma), to64(beta), lnEps)
			// The statistics are float64 sums rounded once; x̂ (|x̂| ≤ √D)
			// is rounded to float32, then the product and the sum: a few ε
			// of |x̂|·|γ| + |β| ≤ 1.5·√D + 1.
			return []expect{
				{"y", y, tol{abs: 4 * eps32 * (1.5*math.Sqrt(float64(D)) + 1), rel: 2 * eps32}},
				{"mean", mean, tol{rel: eps32, abs: 1e-12}},
				{"rstd", rstd, tol{rel: eps32}},
			}
		}}
}

func layerNormBackwardCase(B, D int, withDX bool, seed uint64) opCase {
	x, gamma, beta, dy := lnInputs(newGen(seed), B, D)
	name := fmt.Sprintf("%dx%d", B, D)
	if !withDX {
		name += " no dx"
	}
	return opCase{op: "LayerNormBackward", name: name,
		run: func(d *dev) [][]float32 {
			xm, gm := d.in(B, D, x), d.in(1, D, gamma)
			y, mean, rstd := d.out(B, D), d.out(B, 1), d.out(B, 1)
			d.must(d.b.LayerNorm(y, mean, rstd, xm, gm, d.in(1, D, beta), lnEps))
			var dx engine.Matrix
			if withDX {
				dx = d.out(B, D)
			}
			dg, db := d.out(1, D), d.out(1, D)
			d.must(d.b.LayerNormBackward(dx, dg, db, d.in(B, D, dy), xm, mean, rstd, gm))
			out := [][]float32{d.get(dg), d.get(db)}
			if withDX {
				out = append(out, d.get(dx))
			}
			return out
		},
		ref: func() []expect {
			dx, dg, db := refLayerNormBackward(B, D, to64(dy), to64(x), to64(gamma), lnEps)
			// The backend works from the float32 μ and r the forward pass
			// saved: x̂ is off by up to ε·(|x − μ| + |μ|)·r ≈ ε·(√D + 4)
			// per element, and dγ sums B such terms (times |dy| ≤ 1); dβ
			// sums B values exactly representable, in float64. dx: r ≤
			// 1/√eps only for zero-variance rows (D = 1), where the true
			// gradient is 0 and the terms cancel within a few ε·r.
			xe := eps32 * (math.Sqrt(float64(D)) + 4) * 4
			out := []expect{
				{"dgamma", dg, tol{abs: float64(B) * xe, rel: 2 * eps32}},
				{"dbeta", db, tol{abs: 1e-12 * float64(B), rel: eps32}},
			}
			if withDX {
				rs := 1 / math.Sqrt(lnEps)
				if D > 1 {
					rs = 2 // the draws' rows have σ ≈ 0.58: r ≈ 1.7
				}
				out = append(out, expect{"dx", dx, tol{abs: 8 * rs * xe * 1.5, rel: 4 * eps32}})
			}
			return out
		}}
}
