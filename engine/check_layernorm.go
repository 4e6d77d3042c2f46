package engine

import "math"

// CheckLayerNorm validates LayerNorm's arguments.
func CheckLayerNorm(y, mean, rstd, x, gamma, beta Matrix, eps float32) error {
	const op = "LayerNorm"
	for _, p := range []arg{{"y", y}, {"mean", mean}, {"rstd", rstd}, {"x", x}, {"gamma", gamma}, {"beta", beta}} {
		if err := present(op, p.n, p.m); err != nil {
			return err
		}
	}
	if x.Cols == 0 || x.Rows == 0 {
		return shapeErr(op, "x is %s: want at least one row and one column", x.Shape())
	}
	if err := same(op, "y", y, "x", x); err != nil {
		return err
	}
	if mean.Len() != x.Rows || rstd.Len() != x.Rows {
		return shapeErr(op, "mean and rstd have %d and %d elements, want one per row (%d)", mean.Len(), rstd.Len(), x.Rows)
	}
	if gamma.Len() != x.Cols || beta.Len() != x.Cols {
		return shapeErr(op, "gamma and beta have %d and %d elements, want one per column (%d)", gamma.Len(), beta.Len(), x.Cols)
	}
	for _, m := range []Matrix{x, gamma, beta} {
		if overlaps(y, m) || overlaps(mean, m) || overlaps(rstd, m) {
			return shapeErr(op, "y, mean and rstd may not alias x, gamma or beta")
		}
	}
	if overlaps(y, mean) || overlaps(y, rstd) || overlaps(mean, rstd) {
		return shapeErr(op, "y, mean and rstd may not alias each other")
	}
	if !(eps > 0) || math.IsInf(float64(eps), 0) {
		return shapeErr(op, "eps is %v: want a finite number > 0", eps)
	}
	return nil
}

// CheckLayerNormBackward validates LayerNormBackward's arguments (dx may
// be absent).
func CheckLayerNormBackward(dx, dgamma, dbeta, dy, x, mean, rstd, gamma Matrix) error {
	const op = "LayerNormBackward"
	for _, p := range []arg{{"dgamma", dgamma}, {"dbeta", dbeta}, {"dy", dy}, {"x", x}, {"mean", mean}, {"rstd", rstd}, {"gamma", gamma}} {
		if err := present(op, p.n, p.m); err != nil {
			return err
		}
	}
	if x.Cols == 0 || x.Rows == 0 {
		return shapeErr(op, "x is %s: want at least one row and one column", x.Shape())
	}
	if err := same(op, "dy", dy, "x", x); err != nil {
		return err
	}
	if mean.Len() != x.Rows || rstd.Len() != x.Rows {
		return shapeErr(op, "mean and rstd have %d and %d elements, want one per row (%d)", mean.Len(), rstd.Len(), x.Rows)
	}
	if gamma.Len() != x.Cols || dgamma.Len() != x.Cols || dbeta.Len() != x.Cols {
		return shapeErr(op, "gamma, dgamma and dbeta have %d, %d and %d elements, want one per column (%d)", gamma.Len(), dgamma.Len(), dbeta.Len(), x.Cols)
	}
	ins := []Matrix{dy, x, mean, rstd, gamma}
	outs := []Matrix{dgamma, dbeta}
	if !dx.Empty() {
		if err := present(op, "dx", dx); err != nil {
			return err
		}
		if err := same(op, "dx", dx, "x", x); err != nil {
			return err
		}
		outs = append(outs, dx)
	}
	for i, o := range outs {
		for _, m := range ins {
			if overlaps(o, m) {
				return shapeErr(op, "dx, dgamma and dbeta may not alias dy, x, mean, rstd or gamma")
			}
		}
		for _, p := range outs[i+1:] {
			if overlaps(o, p) {
				return shapeErr(op, "dx, dgamma and dbeta may not alias each other")
			}
		}
	}
	return nil
}
