package enginetest

import (
	"fmt"
	"math"

	"github.com/aegpu/aegpu/engine"
)

// Dense and DenseBackward under engine.DenseOpt: tied weights (TransW, w
// and dw stored [in×out]), accumulation into dw/db (Accumulate) and into dx
// (AccumulateDX), and an absent db. denseCase and denseBackwardCase (cases.go)
// are the opt = 0 instances of the cases built here.

// denseOptShapes (B, in, out): 1, odd sizes, sizes around the 64- and
// 128-wide tiles of a GPU GEMM (65, 70, 129, 130) on each axis, so that a
// tiled backend runs edge tiles in M, N and K and, with few SMs, both tile
// sizes.
var denseOptShapes = [][3]int{
	{1, 1, 1}, {1, 3, 17}, {2, 70, 5}, {5, 1, 70}, {17, 33, 3},
	{33, 64, 65}, {70, 13, 1}, {129, 65, 31}, {31, 129, 130}, {130, 17, 129},
}

// denseBackwardOpts are the option sets the DenseBackward cases cycle
// through, with whether db is passed.
var denseBackwardOpts = []struct {
	opt    engine.DenseOpt
	withDB bool
}{
	{engine.TransW, true},
	{engine.TransW | engine.Accumulate, true},
	{engine.TransW | engine.Accumulate | engine.AccumulateDX, false},
	{engine.AccumulateDX, true},
	{engine.Accumulate | engine.AccumulateDX, false},
	{engine.TransW, false},
	{0, false},
	{engine.Accumulate, false},
	{engine.TransW | engine.AccumulateDX, true},
}

// denseOptCases: Dense with TransW on every shape (the activations in
// turn), and DenseBackward on every shape with two option sets of
// denseBackwardOpts each (the activations in turn; dx absent in a few).
func denseOptCases(next func() uint64) []opCase {
	var cs []opCase
	for i, s := range denseOptShapes {
		a := acts[i%len(acts)]
		cs = append(cs, denseOptCase(s[0], s[1], s[2], a, a.NeedsPre() || i%2 == 0, engine.TransW, next()))
	}
	for i, s := range denseOptShapes {
		for j := range 2 {
			c := 2*i + j
			o := denseBackwardOpts[c%len(denseBackwardOpts)]
			a := acts[(c+i)%len(acts)]
			withDx := c%7 != 5
			cs = append(cs, denseBackwardOptCase(s[0], s[1], s[2], a, o.opt, withDx, o.withDB, next()))
		}
	}
	// Every option set with a non-linear activation (the GPU folds act′
	// into the bias reduction, skipped without db) and with a linear one.
	for i, o := range denseBackwardOpts {
		s := denseOptShapes[(3*i+2)%len(denseOptShapes)]
		cs = append(cs, denseBackwardOptCase(s[0], s[1], s[2], engine.GELU, o.opt, true, o.withDB, next()))
		cs = append(cs, denseBackwardOptCase(s[0], s[1], s[2], engine.Linear, o.opt, true, o.withDB, next()))
	}
	return cs
}

// transpose returns the [cols×rows] transpose of a [rows×cols] matrix.
func transpose[T float32 | float64](a []T, rows, cols int) []T {
	t := make([]T, len(a))
	for i := range rows {
		for j := range cols {
			t[j*rows+i] = a[i*cols+j]
		}
	}
	return t
}

// optName is the suffix of a case name for the options.
func optName(opt engine.DenseOpt) string {
	s := ""
	if opt&engine.TransW != 0 {
		s += "/tw"
	}
	if opt&engine.Accumulate != 0 {
		s += "/acc"
	}
	if opt&engine.AccumulateDX != 0 {
		s += "/accdx"
	}
	return s
}

// storedW is w [out×in] as the layer stores it: itself, or with TransW its
// transpose [in×out]; rows, cols is the stored shape.
func storedW(w []float32, in, out int, opt engine.DenseOpt) (ws []float32, rows, cols int) {
	if opt&engine.TransW != 0 {
		return transpose(w, out, in), in, out
	}
	return w, out, in
}

// denseOptCase is Dense with opt (0 or TransW). The inputs are drawn as for
// an untied layer, w [out×in]; with TransW the layer is given wᵀ, so the
// reference is the same.
func denseOptCase(B, in, out int, act engine.Act, withZ bool, opt engine.DenseOpt, seed uint64) opCase {
	g := newGen(seed)
	x, w, b := denseInputs(g, B, in, out)
	ws, wr, wc := storedW(w, in, out, opt)
	name := fmt.Sprintf("%s/%dx%dx%d%s", act, B, in, out, optName(opt))
	if withZ {
		name += "/z"
	}
	return opCase{op: "Dense", name: name,
		run: func(d *dev) [][]float32 {
			// w and b share one buffer, as a model's parameters do.
			wb := d.place([2]int{wr, wc}, [2]int{1, out})
			d.setIn(wb[0], ws)
			d.setIn(wb[1], b)
			xm := d.in(B, in, x)
			y := d.out(B, out)
			var z engine.Matrix
			if withZ {
				z = d.out(B, out)
			}
			d.must(d.b.Dense(y, z, xm, wb[0], wb[1], act, opt))
			res := [][]float32{d.get(y)}
			if withZ {
				res = append(res, d.get(z))
			}
			return res
		},
		ref: func() []expect {
			z, y := refDense(B, in, out, to64(x), to64(w), to64(b), act)
			absZ, _ := refDense(B, in, out, abs64(to64(x)), abs64(to64(w)), abs64(to64(b)), engine.Linear)
			// z: a float32 dot product of in terms plus the bias.
			zt := dotTol(in+1, maxAbs(absZ), 0)
			// y = act(z): act is at most 1.13-Lipschitz (GELU's steepest
			// slope), so z's error carries over ×1.13, and evaluating act in
			// float32 (exp, tanh, erf) adds a few ulps: rel 8ε.
			yt := tol{abs: 1.13 * zt.abs, rel: zt.rel + 8*eps32}
			res := []expect{{"y", y, yt}}
			if withZ {
				res = append(res, expect{"z", z, zt})
			}
			return res
		},
	}
}

// denseBackwardOptCase is DenseBackward with opt, dx present or absent and
// db present or absent. With Accumulate, dw and db start from random
// values; with AccumulateDX (and dx present), dx does.
func denseBackwardOptCase(B, in, out int, act engine.Act, opt engine.DenseOpt, withDx, withDB bool, seed uint64) opCase {
	g := newGen(seed)
	x, w, b := denseInputs(g, B, in, out)
	z64, y64 := refDense(B, in, out, to64(x), to64(w), to64(b), act)
	z, y := to32(z64), to32(y64)
	dy := g.uniform(B*out, -1, 1)
	accumulate := opt&engine.Accumulate != 0
	accDX := opt&engine.AccumulateDX != 0 && withDx
	var dw0, db0, dx0 []float32 // dw0 [out×in] as w
	if accumulate {
		dw0, db0 = g.uniform(out*in, -1, 1), g.uniform(out, -1, 1)
	}
	if accDX {
		dx0 = g.uniform(B*in, -1, 1)
	}
	ws, wr, wc := storedW(w, in, out, opt)
	needY := act != engine.Linear && !act.NeedsPre()
	name := fmt.Sprintf("%s/%dx%dx%d%s", act, B, in, out, optName(opt))
	if !withDx {
		name += "/nodx"
	}
	if !withDB {
		name += "/nodb"
	}
	return opCase{op: "DenseBackward", name: name,
		run: func(d *dev) [][]float32 {
			// dw and db share one buffer, as a model's gradients do.
			shapes := [][2]int{{wr, wc}}
			if withDB {
				shapes = append(shapes, [2]int{1, out})
			}
			grads := d.place(shapes...)
			dw := grads[0]
			var db engine.Matrix
			if withDB {
				db = grads[1]
			}
			if accumulate {
				dws, _, _ := storedW(dw0, in, out, opt)
				d.must(d.b.Upload(dw, dws))
				if withDB {
					d.must(d.b.Upload(db, db0))
				}
			}
			xm, wm := d.in(B, in, x), d.in(wr, wc, ws)
			dym := d.inout(B, out, dy)
			var ym, zm, dx engine.Matrix
			if needY {
				ym = d.in(B, out, y)
			}
			if act.NeedsPre() {
				zm = d.in(B, out, z)
			}
			if withDx {
				if accDX {
					dx = d.inout(B, in, dx0)
				} else {
					dx = d.out(B, in)
				}
			}
			d.must(d.b.DenseBackward(dx, dw, db, dym, ym, zm, xm, wm, act, opt))
			res := [][]float32{d.get(dym), d.get(dw)}
			if withDB {
				res = append(res, d.get(db))
			}
			if withDx {
				res = append(res, d.get(dx))
			}
			return res
		},
		ref: func() []expect {
			dy64, x64, w64 := to64(dy), to64(x), to64(w)
			dz, dx, dw, db := refDenseBackward(B, in, out, dy64, to64(y), to64(z), x64, w64, act)
			adz, ady := abs64(dz), abs64(dy64)
			// dz = dy·act′ with act′ evaluated in float32 from the float32
			// y or z: a few roundings (rel 8ε), and 1 − y² or y(1 − y)
			// lose up to ε·|dy| absolute to cancellation.
			dzt := tol{abs: 2 * eps32 * maxAbs(dy64), rel: 8 * eps32}
			// Each dz fed to the products below is off by ≤ 8ε|dz| + 2ε|dy|.
			absDW := matTN(out, in, B, adz, abs64(x64))
			errDW := matTN(out, in, B, ady, abs64(x64))
			absDB := make([]float64, out)
			errDB := make([]float64, out)
			for i := range B {
				for j := range out {
					absDB[j] += adz[i*out+j]
					errDB[j] += ady[i*out+j]
				}
			}
			if accumulate {
				for i := range dw {
					dw[i] += float64(dw0[i])
					absDW[i] += math.Abs(float64(dw0[i]))
				}
				for j := range db {
					db[j] += float64(db0[j])
					absDB[j] += math.Abs(float64(db0[j]))
				}
			}
			if opt&engine.TransW != 0 {
				dw = transpose(dw, out, in) // as stored, [in×out]
			}
			// dw: float32 sums over the batch (B terms, +1 for dw0).
			dwt := dotTol(B+1, maxAbs(absDW), 8*eps32*maxAbs(absDW)+2*eps32*maxAbs(errDW))
			res := []expect{{"dz (in dy)", dz, dzt}, {"dw", dw, dwt}}
			if withDB {
				dbt := dotTol(B+1, maxAbs(absDB), 8*eps32*maxAbs(absDB)+2*eps32*maxAbs(errDB))
				res = append(res, expect{"db", db, dbt})
			}
			if withDx {
				// dx: float32 sums over out terms (+1 for dx0).
				absDX := matNN(B, in, out, adz, abs64(w64))
				errDX := matNN(B, in, out, ady, abs64(w64))
				k := out
				if accDX {
					k++
					for i := range dx {
						dx[i] += float64(dx0[i])
						absDX[i] += math.Abs(float64(dx0[i]))
					}
				}
				res = append(res, expect{"dx", dx, dotTol(k, maxAbs(absDX), 8*eps32*maxAbs(absDX)+2*eps32*maxAbs(errDX))})
			}
			return res
		},
	}
}
