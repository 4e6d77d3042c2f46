package engine

import (
	"fmt"
	"math"
)

// Shape checks shared by every backend, so that the CPU and the GPU reject
// the same calls with the same messages. Backends call them first thing.

// ShapeError reports an operation called with matrices of the wrong shape.
type ShapeError struct {
	Op, Msg string
}

func (e *ShapeError) Error() string { return "engine." + e.Op + ": " + e.Msg }

type arg struct {
	n string
	m Matrix
}

func shapeErr(op, format string, args ...any) error {
	return &ShapeError{Op: op, Msg: fmt.Sprintf(format, args...)}
}

// MaxElems bounds a matrix's element count (Rows·Cols) so that neither it,
// nor Off+Len, nor its size in bytes can overflow an int on any platform
// (2^60 elements on 64-bit, 2^28 on 32-bit).
const MaxElems = math.MaxInt >> 3

func present(op, name string, m Matrix) error {
	if m.Empty() {
		return shapeErr(op, "%s is absent", name)
	}
	if m.Rows < 0 || m.Cols < 0 || m.Off < 0 || (m.Cols > 0 && m.Rows > MaxElems/m.Cols) || m.Off+m.Len() > m.Buf.Len() {
		return shapeErr(op, "%s %s at offset %d lies outside its buffer of %d elements", name, m.Shape(), m.Off, m.Buf.Len())
	}
	return nil
}

func same(op, an string, a Matrix, bn string, b Matrix) error {
	if a.Rows != b.Rows || a.Cols != b.Cols {
		return shapeErr(op, "%s is %s but %s is %s", an, a.Shape(), bn, b.Shape())
	}
	return nil
}

func scalar(op, name string, m Matrix) error {
	if err := present(op, name, m); err != nil {
		return err
	}
	if m.Len() != 1 {
		return shapeErr(op, "%s must be 1×1, is %s", name, m.Shape())
	}
	return nil
}

func overlaps(a, b Matrix) bool {
	if a.Empty() || b.Empty() || a.Buf != b.Buf {
		return false
	}
	return a.Off < b.Off+b.Len() && b.Off < a.Off+a.Len()
}

// CheckDense validates Dense's arguments.
func CheckDense(y, z, x, w, b Matrix, act Act, opt DenseOpt) error {
	const op = "Dense"
	for _, p := range []arg{{"y", y}, {"x", x}, {"w", w}, {"b", b}} {
		if err := present(op, p.n, p.m); err != nil {
			return err
		}
	}
	if err := checkOpt(op, opt, TransW); err != nil {
		return err
	}
	out, in := denseShape(w, opt)
	if x.Cols != in {
		return shapeErr(op, "x is %s but w is %s%s: x's columns must equal the layer's input width %d", x.Shape(), w.Shape(), transNote(opt), in)
	}
	if b.Len() != out {
		return shapeErr(op, "b has %d elements but the layer has %d outputs (w is %s%s)", b.Len(), out, w.Shape(), transNote(opt))
	}
	if y.Rows != x.Rows || y.Cols != out {
		return shapeErr(op, "y is %s, want [%d×%d]", y.Shape(), x.Rows, out)
	}
	if act.NeedsPre() && z.Empty() {
		return shapeErr(op, "%s needs the pre-activation z", act)
	}
	if !z.Empty() {
		if err := present(op, "z", z); err != nil {
			return err
		}
		if err := same(op, "z", z, "y", y); err != nil {
			return err
		}
	}
	if overlaps(y, x) || overlaps(z, x) || overlaps(y, z) || overlaps(y, w) || overlaps(y, b) || overlaps(z, w) || overlaps(z, b) {
		return shapeErr(op, "y and z may not alias each other or any input")
	}
	if act < Linear || act > GELU {
		return shapeErr(op, "unknown activation %d", int(act))
	}
	return nil
}

// denseShape is a Dense layer's (out, in) for weight w stored as opt says.
func denseShape(w Matrix, opt DenseOpt) (out, in int) {
	if opt&TransW != 0 {
		return w.Cols, w.Rows
	}
	return w.Rows, w.Cols
}

func transNote(opt DenseOpt) string {
	if opt&TransW != 0 {
		return " (transposed)"
	}
	return ""
}

// checkOpt rejects flags outside allowed.
func checkOpt(op string, opt, allowed DenseOpt) error {
	if opt&^allowed != 0 {
		return shapeErr(op, "unsupported option bits %#x", uint8(opt&^allowed))
	}
	return nil
}

// CheckDenseBackward validates DenseBackward's arguments.
func CheckDenseBackward(dx, dw, db, dy, y, z, x, w Matrix, act Act, opt DenseOpt) error {
	const op = "DenseBackward"
	for _, p := range []arg{{"dw", dw}, {"dy", dy}, {"x", x}, {"w", w}} {
		if err := present(op, p.n, p.m); err != nil {
			return err
		}
	}
	if err := checkOpt(op, opt, TransW|Accumulate|AccumulateDX); err != nil {
		return err
	}
	out, in := denseShape(w, opt)
	if x.Cols != in {
		return shapeErr(op, "x is %s but w is %s%s: x's columns must equal the layer's input width %d", x.Shape(), w.Shape(), transNote(opt), in)
	}
	if dy.Rows != x.Rows || dy.Cols != out {
		return shapeErr(op, "dy is %s, want [%d×%d]", dy.Shape(), x.Rows, out)
	}
	if err := same(op, "dw", dw, "w", w); err != nil {
		return err
	}
	if !db.Empty() {
		if err := present(op, "db", db); err != nil {
			return err
		}
		if db.Len() != out {
			return shapeErr(op, "db has %d elements but the layer has %d outputs", db.Len(), out)
		}
	}
	if act.NeedsPre() {
		if err := present(op, "z", z); err != nil {
			return shapeErr(op, "%s needs the pre-activation z", act)
		}
		if err := same(op, "z", z, "dy", dy); err != nil {
			return err
		}
	} else if act != Linear {
		if err := present(op, "y", y); err != nil {
			return shapeErr(op, "%s needs the output y", act)
		}
		if err := same(op, "y", y, "dy", dy); err != nil {
			return err
		}
	}
	if !dx.Empty() {
		if err := present(op, "dx", dx); err != nil {
			return err
		}
		if err := same(op, "dx", dx, "x", x); err != nil {
			return err
		}
		if overlaps(dx, dy) || overlaps(dx, w) || overlaps(dx, dw) {
			return shapeErr(op, "dx may not alias dy, w or dw")
		}
	}
	for _, m := range []Matrix{dy, x, w, y, z} {
		if overlaps(dw, m) || overlaps(db, m) {
			return shapeErr(op, "dw and db may not alias dy, x, w, y or z")
		}
	}
	if overlaps(dw, db) {
		return shapeErr(op, "dw and db may not alias each other")
	}
	if act < Linear || act > GELU {
		return shapeErr(op, "unknown activation %d", int(act))
	}
	return nil
}

// CheckLoss validates LossGrad's (and, with acc and grad absent, RowLoss's)
// arguments.
func CheckLoss(op string, kind Loss, pred, target Matrix) error {
	if err := present(op, "pred", pred); err != nil {
		return err
	}
	if err := present(op, "target", target); err != nil {
		return err
	}
	if err := same(op, "pred", pred, "target", target); err != nil {
		return err
	}
	if kind < MSE || kind > MAE {
		return shapeErr(op, "unknown loss %d", int(kind))
	}
	if pred.Len() == 0 {
		return shapeErr(op, "empty batch")
	}
	return nil
}

// CheckLossGrad validates LossGrad's arguments.
func CheckLossGrad(kind Loss, acc, grad, pred, target Matrix) error {
	const op = "LossGrad"
	if err := CheckLoss(op, kind, pred, target); err != nil {
		return err
	}
	if err := scalar(op, "acc", acc); err != nil {
		return err
	}
	if err := present(op, "grad", grad); err != nil {
		return err
	}
	if err := same(op, "grad", grad, "pred", pred); err != nil {
		return err
	}
	if overlaps(grad, pred) || overlaps(grad, target) || overlaps(acc, grad) || overlaps(acc, pred) || overlaps(acc, target) {
		return shapeErr(op, "grad and acc may not alias pred, target or each other")
	}
	return nil
}

// CheckRowLoss validates RowLoss's arguments.
func CheckRowLoss(kind Loss, out, pred, target Matrix) error {
	const op = "RowLoss"
	if err := CheckLoss(op, kind, pred, target); err != nil {
		return err
	}
	if err := present(op, "out", out); err != nil {
		return err
	}
	if out.Len() != pred.Rows {
		return shapeErr(op, "out has %d elements, want one per row (%d)", out.Len(), pred.Rows)
	}
	return nil
}

// CheckOptimizer validates OptimizerStep's arguments.
func CheckOptimizer(o OptStep, params, grads, s1, s2 Matrix) error {
	const op = "OptimizerStep"
	if err := present(op, "params", params); err != nil {
		return err
	}
	if err := present(op, "grads", grads); err != nil {
		return err
	}
	if params.Len() != grads.Len() {
		return shapeErr(op, "params has %d elements but grads has %d", params.Len(), grads.Len())
	}
	// A fixed array, not an appended slice, so that the check allocates
	// nothing: backends call it on every optimizer step.
	var needed [2]arg
	need := needed[:0]
	switch o.Kind {
	case SGD:
		if o.Momentum != 0 {
			need = append(need, arg{"state1", s1})
		}
	case Adam, AdamW:
		need = append(need, arg{"state1", s1}, arg{"state2", s2})
		if o.Step < 1 {
			return shapeErr(op, "Adam step count must be ≥ 1, got %d", o.Step)
		}
	default:
		return shapeErr(op, "unknown optimizer %d", int(o.Kind))
	}
	if overlaps(params, grads) {
		return shapeErr(op, "params and grads may not alias")
	}
	for _, p := range need {
		if err := present(op, p.n, p.m); err != nil {
			return err
		}
		if p.m.Len() != params.Len() {
			return shapeErr(op, "%s has %d elements but params has %d", p.n, p.m.Len(), params.Len())
		}
		if overlaps(p.m, params) || overlaps(p.m, grads) {
			return shapeErr(op, "%s may not alias params or grads", p.n)
		}
	}
	return nil
}

// CheckUnary validates an elementwise op on one matrix.
func CheckUnary(op string, x Matrix) error { return present(op, "x", x) }

// CheckBinary validates an elementwise op on two matrices with equal length.
func CheckBinary(op string, a, b Matrix) error {
	if err := present(op, "first operand", a); err != nil {
		return err
	}
	if err := present(op, "second operand", b); err != nil {
		return err
	}
	if a.Len() != b.Len() {
		return shapeErr(op, "operands have %d and %d elements", a.Len(), b.Len())
	}
	if overlaps(a, b) && a.Off != b.Off {
		return shapeErr(op, "operands overlap partially")
	}
	return nil
}

// CheckClipGradNorm validates ClipGradNorm's arguments.
func CheckClipGradNorm(grads, norm Matrix, maxNorm float32) error {
	const op = "ClipGradNorm"
	if err := present(op, "grads", grads); err != nil {
		return err
	}
	if err := scalar(op, "norm", norm); err != nil {
		return err
	}
	if overlaps(grads, norm) {
		return shapeErr(op, "norm may not alias grads")
	}
	if !(maxNorm > 0) {
		return shapeErr(op, "maxNorm must be positive, got %v", maxNorm)
	}
	return nil
}

// CheckScalarOut validates a reduction into a 1×1 matrix.
func CheckScalarOut(op string, acc, x Matrix) error {
	if err := scalar(op, "acc", acc); err != nil {
		return err
	}
	return present(op, "x", x)
}

// CheckColMean validates ColMean's arguments.
func CheckColMean(out, x Matrix) error {
	const op = "ColMean"
	if err := present(op, "x", x); err != nil {
		return err
	}
	if err := present(op, "out", out); err != nil {
		return err
	}
	if out.Len() != x.Cols {
		return shapeErr(op, "out has %d elements, want one per column (%d)", out.Len(), x.Cols)
	}
	if x.Rows == 0 {
		return shapeErr(op, "x has no rows")
	}
	return nil
}

// CheckTransfer validates Upload/Download.
func CheckTransfer(op string, m Matrix, n int) error {
	if err := present(op, "matrix", m); err != nil {
		return err
	}
	if n != m.Len() {
		return shapeErr(op, "host slice has %d elements, matrix %s has %d", n, m.Shape(), m.Len())
	}
	return nil
}

// CheckCorrupt validates Corrupt's arguments.
func CheckCorrupt(dst, src Matrix, kind Noise, level float32) error {
	const op = "Corrupt"
	if err := CheckBinary(op, dst, src); err != nil {
		return err
	}
	if kind < NoiseNone || kind > NoiseSaltPepper {
		return shapeErr(op, "unknown noise %d", int(kind))
	}
	if !(level >= 0) || (kind != NoiseGaussian && level > 1) {
		return shapeErr(op, "bad %s level %v", kind, level)
	}
	return nil
}

// Checks of the variant regularizers' ops (sparse, contractive, variational).

// checkAct rejects an unknown activation.
func checkAct(op string, act Act) error {
	if act < Linear || act > GELU {
		return shapeErr(op, "unknown activation %d", int(act))
	}
	return nil
}

// actInputs checks that the input act′ and act″ are computed from (z when
// act.NeedsPre(), y for the other nonlinear activations) is present with
// ref's shape, and returns it (absent for Linear, which needs neither).
func actInputs(op string, act Act, y, z Matrix, refName string, ref Matrix) (Matrix, error) {
	if err := checkAct(op, act); err != nil {
		return Matrix{}, err
	}
	switch {
	case act.NeedsPre():
		if z.Empty() {
			return Matrix{}, shapeErr(op, "%s needs the pre-activation z", act)
		}
		if err := present(op, "z", z); err != nil {
			return Matrix{}, err
		}
		return z, same(op, "z", z, refName, ref)
	case act != Linear:
		if y.Empty() {
			return Matrix{}, shapeErr(op, "%s needs the output y", act)
		}
		if err := present(op, "y", y); err != nil {
			return Matrix{}, err
		}
		return y, same(op, "y", y, refName, ref)
	}
	return Matrix{}, nil
}

// sameOrDisjoint reports whether a and b are the same view or do not overlap.
func sameOrDisjoint(a, b Matrix) bool {
	return !overlaps(a, b) || (a.Off == b.Off && a.Rows == b.Rows && a.Cols == b.Cols)
}

// finiteNonNeg reports whether v is a finite number ≥ 0.
func finiteNonNeg(v float32) bool { return v >= 0 && v <= math.MaxFloat32 }

// CheckSparsity validates Sparsity's arguments.
func CheckSparsity(acc, dh, rho, h Matrix, l1, beta, target float32) error {
	const op = "Sparsity"
	for _, p := range []arg{{"h", h}, {"dh", dh}, {"rho", rho}} {
		if err := present(op, p.n, p.m); err != nil {
			return err
		}
	}
	if err := scalar(op, "acc", acc); err != nil {
		return err
	}
	if err := same(op, "dh", dh, "h", h); err != nil {
		return err
	}
	if rho.Len() != h.Cols {
		return shapeErr(op, "rho has %d elements, want one per column of h (%d)", rho.Len(), h.Cols)
	}
	if h.Rows == 0 {
		return shapeErr(op, "h has no rows (empty batch)")
	}
	if overlaps(dh, h) || overlaps(dh, rho) || overlaps(dh, acc) || overlaps(rho, h) || overlaps(rho, acc) || overlaps(acc, h) {
		return shapeErr(op, "dh, rho and acc may not alias h or each other")
	}
	if !finiteNonNeg(l1) {
		return shapeErr(op, "l1 must be finite and ≥ 0, got %v", l1)
	}
	if !finiteNonNeg(beta) {
		return shapeErr(op, "beta must be finite and ≥ 0, got %v", beta)
	}
	if beta > 0 && !(target > 0 && target < 1) {
		return shapeErr(op, "target must be in (0, 1) when beta > 0, got %v", target)
	}
	return nil
}

// CheckContractiveExact validates ContractiveExact's arguments.
func CheckContractiveExact(acc, dy, dw, db, y, z, w Matrix, act Act, lambda float32) error {
	const op = "ContractiveExact"
	for _, p := range []arg{{"dy", dy}, {"dw", dw}, {"w", w}} {
		if err := present(op, p.n, p.m); err != nil {
			return err
		}
	}
	if err := scalar(op, "acc", acc); err != nil {
		return err
	}
	if w.Rows != dy.Cols {
		return shapeErr(op, "w is %s but dy is %s: w must have one row per unit (%d)", w.Shape(), dy.Shape(), dy.Cols)
	}
	if err := same(op, "dw", dw, "w", w); err != nil {
		return err
	}
	if !db.Empty() {
		if err := present(op, "db", db); err != nil {
			return err
		}
		if db.Len() != dy.Cols {
			return shapeErr(op, "db has %d elements, want one per unit (%d)", db.Len(), dy.Cols)
		}
	}
	in, err := actInputs(op, act, y, z, "dy", dy)
	if err != nil {
		return err
	}
	if dy.Rows == 0 {
		return shapeErr(op, "dy has no rows (empty batch)")
	}
	outs := [...]Matrix{dy, dw, db, acc}
	for i, o := range outs {
		if overlaps(o, in) || overlaps(o, w) {
			return shapeErr(op, "dy, dw, db and acc may not alias y, z or w")
		}
		for _, o2 := range outs[i+1:] {
			if overlaps(o, o2) {
				return shapeErr(op, "dy, dw, db and acc may not alias each other")
			}
		}
	}
	if !finiteNonNeg(lambda) {
		return shapeErr(op, "lambda must be finite and ≥ 0, got %v", lambda)
	}
	return nil
}

// CheckActJVP validates ActJVP's arguments.
func CheckActJVP(u, s, y, z Matrix, act Act) error {
	const op = "ActJVP"
	if err := present(op, "u", u); err != nil {
		return err
	}
	if err := present(op, "s", s); err != nil {
		return err
	}
	if err := same(op, "u", u, "s", s); err != nil {
		return err
	}
	in, err := actInputs(op, act, y, z, "s", s)
	if err != nil {
		return err
	}
	if !sameOrDisjoint(u, s) {
		return shapeErr(op, "u may equal s but not overlap it partially")
	}
	if overlaps(u, in) {
		return shapeErr(op, "u may not alias y or z")
	}
	return nil
}

// CheckActJVPBackward validates ActJVPBackward's arguments.
func CheckActJVPBackward(ds, dzExtra, du, s, y, z Matrix, act Act) error {
	const op = "ActJVPBackward"
	for _, p := range []arg{{"ds", ds}, {"dzExtra", dzExtra}, {"du", du}, {"s", s}} {
		if err := present(op, p.n, p.m); err != nil {
			return err
		}
	}
	for _, p := range []arg{{"ds", ds}, {"dzExtra", dzExtra}, {"s", s}} {
		if err := same(op, p.n, p.m, "du", du); err != nil {
			return err
		}
	}
	in, err := actInputs(op, act, y, z, "du", du)
	if err != nil {
		return err
	}
	if !sameOrDisjoint(ds, du) {
		return shapeErr(op, "ds may equal du but not overlap it partially")
	}
	if overlaps(ds, s) || overlaps(ds, in) || overlaps(ds, dzExtra) {
		return shapeErr(op, "ds may not alias s, y, z or dzExtra")
	}
	if overlaps(dzExtra, du) || overlaps(dzExtra, s) || overlaps(dzExtra, in) {
		return shapeErr(op, "dzExtra may not alias du, s, y or z")
	}
	return nil
}

// CheckActBackward validates ActBackward's arguments.
func CheckActBackward(dy, extra, y, z Matrix, act Act) error {
	const op = "ActBackward"
	if err := present(op, "dy", dy); err != nil {
		return err
	}
	if !extra.Empty() {
		if err := present(op, "extra", extra); err != nil {
			return err
		}
		if err := same(op, "extra", extra, "dy", dy); err != nil {
			return err
		}
	}
	in, err := actInputs(op, act, y, z, "dy", dy)
	if err != nil {
		return err
	}
	if overlaps(dy, extra) || overlaps(dy, in) {
		return shapeErr(op, "dy may not alias extra, y or z")
	}
	return nil
}

// CheckReparameterize validates Reparameterize's arguments.
func CheckReparameterize(z, mu, logvar, eps Matrix) error {
	const op = "Reparameterize"
	for _, p := range []arg{{"z", z}, {"mu", mu}, {"logvar", logvar}, {"eps", eps}} {
		if err := present(op, p.n, p.m); err != nil {
			return err
		}
		if err := same(op, p.n, p.m, "mu", mu); err != nil {
			return err
		}
	}
	if overlaps(z, mu) || overlaps(z, logvar) || overlaps(z, eps) {
		return shapeErr(op, "z may not alias mu, logvar or eps")
	}
	return nil
}

// CheckReparamBackward validates ReparamBackward's arguments.
func CheckReparamBackward(dmu, dlogvar, acc, beta, dz, mu, logvar, eps Matrix) error {
	const op = "ReparamBackward"
	for _, p := range []arg{{"dmu", dmu}, {"dlogvar", dlogvar}, {"dz", dz}, {"mu", mu}, {"logvar", logvar}, {"eps", eps}} {
		if err := present(op, p.n, p.m); err != nil {
			return err
		}
		if err := same(op, p.n, p.m, "mu", mu); err != nil {
			return err
		}
	}
	if err := scalar(op, "acc", acc); err != nil {
		return err
	}
	if err := scalar(op, "beta", beta); err != nil {
		return err
	}
	outs := [...]Matrix{dmu, dlogvar, acc}
	for i, o := range outs {
		for _, in := range [...]Matrix{beta, dz, mu, logvar, eps} {
			if overlaps(o, in) {
				return shapeErr(op, "dmu, dlogvar and acc may not alias beta, dz, mu, logvar or eps")
			}
		}
		for _, o2 := range outs[i+1:] {
			if overlaps(o, o2) {
				return shapeErr(op, "dmu, dlogvar and acc may not alias each other")
			}
		}
	}
	return nil
}
