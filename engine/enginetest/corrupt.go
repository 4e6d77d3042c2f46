package enginetest

import (
	"fmt"
	"math"
	"testing"

	"github.com/aegpu/aegpu/engine"
)

// Corrupt: per-element cases against a float32 reference built from the
// engine's streams (a selection, or one product and one sum, so no float64
// is involved), and sampling statistics of each kind of noise.

// noiseLevels are the (kind, level) pairs every size is corrupted with:
// each kind at a typical level, at level 0 (dst = src exactly) and, for
// the probabilities, at level 1 (masking zeroes everything, salt-and-pepper
// leaves only 0s and 1s).
var noiseLevels = []struct {
	kind  engine.Noise
	level float32
}{
	{engine.NoiseNone, 0},
	{engine.NoiseGaussian, 0.3}, {engine.NoiseGaussian, 2.5}, {engine.NoiseGaussian, 0},
	{engine.NoiseMasking, 0.25}, {engine.NoiseMasking, 0}, {engine.NoiseMasking, 1},
	{engine.NoiseSaltPepper, 0.2}, {engine.NoiseSaltPepper, 0}, {engine.NoiseSaltPepper, 1},
}

// corruptSizes: 1, sizes that are no multiple of a Philox block (4), a
// block per thread or a block of threads, and one large enough for several
// chunks of a parallel backend (and a grid-stride loop on a GPU).
var corruptSizes = []int{1, 3, 17, 257, 1000, 40000}

// The layouts of dst and src: separate buffers; in place (dst = src); or
// two disjoint views of one buffer.
const (
	layoutSeparate = iota
	layoutInPlace
	layoutShared
)

var layoutNames = [...]string{"separate", "inplace", "shared"}

// refCorrupt is Corrupt's result in float32, from the streams as
// engine.FillUniform and engine.FillNormal define them: the uniform kinds
// compare the float32 Uniform(i) with level (and level/2, exact), gaussian
// rounds level·Normal(i) to float32 before the sum.
func refCorrupt(src []float32, kind engine.Noise, level float32, seed, stream uint64) []float32 {
	n := len(src)
	dst := make([]float32, n)
	r := make([]float32, n)
	switch kind {
	case engine.NoiseGaussian:
		engine.FillNormal(r, seed, stream, 0, 0, 1)
	case engine.NoiseMasking, engine.NoiseSaltPepper:
		engine.FillUniform(r, seed, stream, 0, 0, 1)
	}
	half := level / 2
	for i, s := range src {
		switch kind {
		case engine.NoiseGaussian:
			dst[i] = s + float32(level*r[i])
		case engine.NoiseMasking:
			if r[i] < level {
				s = 0
			}
			dst[i] = s
		case engine.NoiseSaltPepper:
			if r[i] < half {
				s = 0
			} else if r[i] < level {
				s = 1
			}
			dst[i] = s
		default:
			dst[i] = s
		}
	}
	return dst
}

// corruptTol is the tolerance of Corrupt against refCorrupt. The uniform
// kinds select between src, 0 and 1 by comparing exact float32 values:
// exact. Gaussian: a GPU may form Normal(i) with float32 intrinsics, a few
// ulps of r·cos θ with r ≤ 5.8, ≈ 1e-5 absolute (as RandNormal), ×level;
// the product level·n, ≤ 5.8·level, may then round the other way (ε of
// it), and the sum is rounded once (rel 2ε covers the roundings of a
// result that does not cancel; with cancellation the first two terms
// already bound the difference).
func corruptTol(kind engine.Noise, level float32) tol {
	if kind != engine.NoiseGaussian {
		return tol{}
	}
	l := float64(level)
	return tol{abs: 1e-5*l + eps32*5.8*l, rel: 2 * eps32}
}

// Ties: a level equal to the Uniform value of one element of the case's
// stream, so that the comparisons' strictness shows (Uniform(i) = level is
// not masked; for salt-and-pepper, Uniform(i) = level/2 is salt, not
// pepper, and Uniform(i) = level keeps src). Random levels meet a tie with
// probability 2⁻²⁴ per element.
const (
	tieNone  = iota
	tieLevel // level = Uniform(k) for the first k with Uniform(k) > 0
	tieHalf  // level = 2·Uniform(k) for the first k with 0 < Uniform(k) ≤ ½
)

var tieNames = [...]string{"", "tie", "halftie"}

// corruptStream is the (seed, stream) of the case with the given seed:
// high bits in both (the upper key and counter words).
func corruptStream(seed uint64) (uint64, uint64) {
	return 0xfedcba9876543210 ^ seed, engine.StepStream(engine.StreamNoise, int64(seed))
}

// tieLevelOf returns the level of a tie case on n elements (see tieLevel).
func tieLevelOf(tie, n int, seed uint64) float32 {
	cseed, cstream := corruptStream(seed)
	u := make([]float32, n)
	engine.FillUniform(u, cseed, cstream, 0, 0, 1)
	for _, v := range u {
		switch {
		case tie == tieLevel && v > 0:
			return v
		case tie == tieHalf && v > 0 && v <= 0.5:
			return 2 * v // exact
		}
	}
	panic("enginetest: no element to tie with")
}

func corruptCase(n, layout int, kind engine.Noise, level float32, seed uint64) opCase {
	return corruptCaseTie(n, layout, kind, level, tieNone, seed)
}

func corruptCaseTie(n, layout int, kind engine.Noise, level float32, tie int, seed uint64) opCase {
	if tie != tieNone {
		level = tieLevelOf(tie, n, seed)
	}
	g := newGen(seed)
	// src in [−1, 1) with exact 0s and 1s sprinkled in (salt-and-pepper
	// values that are already there), and every element nonzero otherwise.
	src := g.uniform(n, -1, 1)
	for i := 5; i < n; i += 11 {
		src[i] = float32(i % 2)
	}
	rows, cols := 1, n
	if n%4 == 0 {
		rows, cols = 4, n/4
	}
	cseed, cstream := corruptStream(seed)
	name := fmt.Sprintf("%s:%g/%d/%s", kind, level, n, layoutNames[layout])
	if tie != tieNone {
		name = fmt.Sprintf("%s:%s/%d/%s", kind, tieNames[tie], n, layoutNames[layout])
	}
	return opCase{op: "Corrupt", name: name,
		run: func(d *dev) [][]float32 {
			var dst, sm engine.Matrix
			switch layout {
			case layoutInPlace:
				dst = d.inout(rows, cols, src)
				sm = dst
			case layoutShared:
				v := d.place([2]int{rows, cols}, [2]int{rows, cols}) // dst before src
				dst, sm = v[0], v[1]
				d.setIn(sm, src)
			default:
				sm = d.in(rows, cols, src)
				dst = d.out(rows, cols)
			}
			d.must(d.b.Corrupt(dst, sm, kind, level, cseed, cstream))
			return [][]float32{d.get(dst)}
		},
		ref: func() []expect {
			return []expect{{"dst", to64(refCorrupt(src, kind, level, cseed, cstream)), corruptTol(kind, level)}}
		},
	}
}

func corruptCases(next func() uint64) []opCase {
	var cs []opCase
	for si, n := range corruptSizes {
		for ki, nl := range noiseLevels {
			// Rotate the layouts so that every (kind, level) meets each
			// of them across the sizes.
			cs = append(cs, corruptCase(n, (si+ki)%3, nl.kind, nl.level, next()))
		}
	}
	for i, n := range []int{17, 1000} {
		cs = append(cs,
			corruptCaseTie(n, i%3, engine.NoiseMasking, 0, tieLevel, next()),
			corruptCaseTie(n, (i+1)%3, engine.NoiseSaltPepper, 0, tieLevel, next()),
			corruptCaseTie(n, (i+2)%3, engine.NoiseSaltPepper, 0, tieHalf, next()))
	}
	return cs
}

// corruptStats checks the distribution of each kind of noise on one large
// matrix: the fraction of masked elements ≈ p, of salt and of pepper ≈ p/2
// each, and the gaussian residual dst − src has mean ≈ 0 and standard
// deviation ≈ σ. The streams are deterministic, so these pass or fail for
// good; the bounds are 5 standard errors of the estimate (a correct
// implementation fails one with probability < 1e-6), and they catch the
// likely mistakes: a comparison the wrong way round (fraction 1 − p), level
// instead of level/2, a wrong scale or a stream reused across elements.
func corruptStats(t *testing.T, b engine.Backend) {
	const rows, cols = 256, 256
	const n = rows * cols
	g := newGen(777)
	// No 0s or 1s in src, so that every 0 or 1 in dst is noise.
	src := g.uniform(n, 0.05, 0.95)
	const seed = 0x243f6a8885a308d3
	frac := func(x []float32, v float32) float64 {
		c := 0
		for _, e := range x {
			if e == v {
				c++
			}
		}
		return float64(c) / n
	}
	// se is the standard error of a fraction estimated from n draws.
	se := func(p float64) float64 { return math.Sqrt(p * (1 - p) / n) }
	checkFrac := func(t *testing.T, what string, got, p float64) {
		t.Helper()
		if d := math.Abs(got - p); d > 5*se(p) {
			t.Errorf("%s: fraction %.5f, want %.5f ± %.5f (5 standard errors)", what, got, p, 5*se(p))
		}
	}
	run := func(t *testing.T, kind engine.Noise, level float32, stream uint64) []float32 {
		d := newDev(t, b)
		defer d.finish()
		dst := d.out(rows, cols)
		d.must(b.Corrupt(dst, d.in(rows, cols, src), kind, level, seed, stream))
		return d.get(dst)
	}
	for i, p := range []float32{0.1, 0.25, 0.5, 0.9} {
		t.Run(fmt.Sprintf("masking:%g", p), func(t *testing.T) {
			got := run(t, engine.NoiseMasking, p, uint64(10+i))
			checkFrac(t, "zeroed", frac(got, 0), float64(p))
			for k, v := range got {
				if v != 0 && v != src[k] {
					t.Fatalf("element %d is %g, neither 0 nor src %g", k, v, src[k])
				}
			}
		})
	}
	for i, p := range []float32{0.1, 0.3, 0.8} {
		t.Run(fmt.Sprintf("salt_pepper:%g", p), func(t *testing.T) {
			got := run(t, engine.NoiseSaltPepper, p, uint64(20+i))
			checkFrac(t, "pepper (0)", frac(got, 0), float64(p)/2)
			checkFrac(t, "salt (1)", frac(got, 1), float64(p)/2)
			for k, v := range got {
				if v != 0 && v != 1 && v != src[k] {
					t.Fatalf("element %d is %g, neither 0, 1 nor src %g", k, v, src[k])
				}
			}
		})
	}
	for i, sigma := range []float32{0.1, 1, 3} {
		t.Run(fmt.Sprintf("gaussian:%g", sigma), func(t *testing.T) {
			got := run(t, engine.NoiseGaussian, sigma, uint64(30+i))
			s, s2 := 0.0, 0.0
			for k, v := range got {
				r := float64(v) - float64(src[k])
				s += r
				s2 += r * r
			}
			mean := s / n
			std := math.Sqrt(s2/n - mean*mean)
			sg := float64(sigma)
			// Standard errors: σ/√n for the mean, σ/√(2n) for the
			// standard deviation of a normal sample.
			if seMean := sg / math.Sqrt(n); math.Abs(mean) > 5*seMean {
				t.Errorf("residual mean %.5f, want 0 ± %.5f", mean, 5*seMean)
			}
			if seStd := sg / math.Sqrt(2*n); math.Abs(std-sg) > 5*seStd {
				t.Errorf("residual std %.5f, want %g ± %.5f", std, sg, 5*seStd)
			}
		})
	}
}
