package cpu_fallback

import (
	"math"

	"github.com/aegpu/aegpu/engine"
)

// Elementwise losses l(p, t) and their derivatives ∂l/∂p, in float64 (the
// engine's conventions, PyTorch's formulas):
//
//	mse:        (p − t)²                                   2(p − t)
//	bce:        −[t·max(log p, −100) + (1−t)·max(log(1−p), −100)]
//	                                                       (p − t) / max(p(1−p), 1e-12)
//	bce_logits: max(p, 0) − p·t + log(1 + e^−|p|)          σ(p) − t
//	mae:        |p − t|                                    sign(p − t), 0 at 0
//
// The bce derivative's clamp is PyTorch's BCELoss backward (EPSILON 1e-12),
// which keeps it finite where p is exactly 0 or 1.

func lossMSE(p, t float64) float64 { d := p - t; return d * d }

func lossBCE(p, t float64) float64 {
	lp := max(math.Log(p), -100)
	l1p := max(math.Log(1-p), -100)
	return -(t*lp + (1-t)*l1p)
}

func gradBCE(p, t float64) float64 { return (p - t) / max(p*(1-p), 1e-12) }

func lossLogits(z, t float64) float64 { return max(z, 0) - z*t + math.Log1p(math.Exp(-math.Abs(z))) }

func sigmoid64(z float64) float64 {
	if z >= 0 {
		return 1 / (1 + math.Exp(-z))
	}
	e := math.Exp(z)
	return e / (1 + e)
}

func sign(d float64) float64 {
	switch {
	case d > 0:
		return 1
	case d < 0:
		return -1
	}
	return d // 0, or NaN
}

// lossJob evaluates a loss over chunks of elements (LossGrad) or over
// blocks of rows (RowLoss).
type lossJob struct {
	kind       engine.Loss
	pred, targ []float32
	grad       []float32 // LossGrad: ∂L/∂pred
	gscale     float64   // 1/N
	n          int
	part       []float64 // per-chunk Σ l (LossGrad)
	out        []float32 // RowLoss: per-row mean
	d          int       // RowLoss: columns
	rowsPer    int
}

// lossChunk returns Σ l over pred/targ and, when grad is non-nil, writes
// gscale·∂l/∂p into it.
func lossChunk(kind engine.Loss, pred, targ, grad []float32, gscale float64) float64 {
	targ = targ[:len(pred)]
	s := 0.0
	switch kind {
	case engine.MSE:
		for i, pv := range pred {
			d := float64(pv) - float64(targ[i])
			s += d * d
			if grad != nil {
				grad[i] = float32(2 * d * gscale)
			}
		}
	case engine.BCE:
		for i, pv := range pred {
			p, t := float64(pv), float64(targ[i])
			s += lossBCE(p, t)
			if grad != nil {
				grad[i] = float32(gradBCE(p, t) * gscale)
			}
		}
	case engine.BCEWithLogits:
		for i, pv := range pred {
			z, t := float64(pv), float64(targ[i])
			s += lossLogits(z, t)
			if grad != nil {
				grad[i] = float32((sigmoid64(z) - t) * gscale)
			}
		}
	case engine.MAE:
		for i, pv := range pred {
			d := float64(pv) - float64(targ[i])
			s += math.Abs(d)
			if grad != nil {
				grad[i] = float32(sign(d) * gscale)
			}
		}
	}
	return s
}

func (l *lossJob) do(i int) {
	if l.out != nil { // RowLoss
		for r := i * l.rowsPer; r < min(len(l.out), (i+1)*l.rowsPer); r++ {
			row := l.pred[r*l.d : (r+1)*l.d]
			l.out[r] = float32(lossChunk(l.kind, row, l.targ[r*l.d:], nil, 0) / float64(l.d))
		}
		return
	}
	lo, hi := i*chunk, min(l.n, (i+1)*chunk)
	l.part[i] = lossChunk(l.kind, l.pred[lo:hi], l.targ[lo:hi], l.grad[lo:hi], l.gscale)
}

// LossGrad computes the mean loss L over all N elements of pred and target
// [B×D], adds weight·L to acc [1×1], and writes ∂L/∂pred into grad [B×D],
// in one pass. The sum is float64 per chunk, chunks added in order.
func (b *Backend) LossGrad(kind engine.Loss, acc, grad, pred, target engine.Matrix, weight float32) error {
	if err := engine.CheckLossGrad(kind, acc, grad, pred, target); err != nil {
		return err
	}
	s, err := b.slices(acc, grad, pred, target)
	if err != nil {
		return err
	}
	n := pred.Len()
	l := &b.loss
	*l = lossJob{kind: kind, pred: s[2], targ: s[3], grad: s[1], gscale: 1 / float64(n), n: n}
	tasks := ceilDiv(n, chunk)
	b.scratch.part = grow64(b.scratch.part, tasks)
	l.part = b.scratch.part
	b.pool.run(tasks, l)
	L := sumParts(l.part) / float64(n)
	s[0][0] = float32(float64(s[0][0]) + float64(weight)*L)
	return nil
}

// RowLoss writes each row's mean elementwise loss into out [B×1].
func (b *Backend) RowLoss(kind engine.Loss, out, pred, target engine.Matrix) error {
	if err := engine.CheckRowLoss(kind, out, pred, target); err != nil {
		return err
	}
	s, err := b.slices(out, pred, target)
	if err != nil {
		return err
	}
	d := pred.Cols
	l := &b.loss
	*l = lossJob{kind: kind, pred: s[1], targ: s[2], out: s[0], d: d, rowsPer: max(1, chunk/max(d, 1))}
	b.pool.run(ceilDiv(pred.Rows, l.rowsPer), l)
	return nil
}
