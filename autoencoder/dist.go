package autoencoder

import (
	"context"
	"fmt"

	"github.com/aegpu/aegpu/engine"
)

// Collective is the communicator of a data-parallel job (MPI's world):
// what the trainer needs from it.
type Collective interface {
	Rank() int
	Size() int
	// AllreduceSum replaces buf with its elementwise sum over the ranks.
	AllreduceSum(buf []float32) error
}

// Data-parallel training. --batch stays the global batch: every rank
// visits the same seeded order of the training rows, and of each global
// batch of n rows rank r computes a contiguous share of k_r rows (share).
// The step's loss is the mean over the global batch,
//
//	L = 1/(n·D) Σ_{i∈B} ℓ_i        (D: the row width; ℓ_i the row's summed loss)
//
// LossGrad on a rank's k_r rows yields the gradient of its own mean,
// ∇ 1/(k_r·D) Σ_{i∈B_r} ℓ_i; the trainer scales it by k_r/n, so that it is
// ∇ 1/(n·D) Σ_{i∈B_r} ℓ_i. Every later op of the backward pass is linear in
// the output gradient and the weight and bias gradients are sums over the
// rows, so the sum of the ranks' gradients (one MPI_Allreduce over the
// flat gradient buffer, at reduceGradients) is ∇L, the single process's
// gradient, up to the order of the summation. The L2 term's gradient λ·w
// is added by rank 0 alone. Every rank then applies the same optimizer
// step to the same weights, so the replicas stay equal.
//
// The epoch's accumulators (Σ k_r·loss_r, the penalty's) are per rank and
// summed when read at the end of an epoch; validation splits the
// validation rows the same way and sums the ranks' loss sums. A single
// process (no Collective, or one of size 1) runs none of this: its step
// is the same op sequence as before, bit for bit.
type distState struct {
	c     Collective
	rank  int
	size  int
	host  []float32 // the gradients, on the host for the all-reduce
	n     int       // rows of the current global batch
	skip  []float32 // scratch for sources that cannot skip rows
	local int       // rows this rank trained on in this epoch (progress)
	// ctx is Train's; stop is set when the last all-reduce found a rank
	// whose ctx was cancelled: one more float rides on the gradients.
	ctx  context.Context
	stop bool
}

// SetCollective makes the trainer one rank of a data-parallel job (nil,
// or a job of one rank: a single process). Call it before Train, on every
// rank, with the same run.
func (t *Trainer) SetCollective(c Collective) error {
	if c == nil || c.Size() <= 1 {
		t.dist = nil
		return nil
	}
	if v := t.Cfg.Variant(); v != VariantPlain {
		return fmt.Errorf("distributed training supports the plain autoencoder (with --l2) so far, not %s: its step has per-batch terms that are not split across ranks yet", v)
	}
	if _, ok := t.Model.Backend.(engine.Recorder); ok {
		return fmt.Errorf("distributed training runs on the CPU backend so far (the GPU all-reduce over NCCL is not done yet): use --device cpu")
	}
	t.dist = &distState{c: c, rank: c.Rank(), size: c.Size(), host: make([]float32, t.Model.Grads.Len()+1)}
	return nil
}

// share is this rank's part of a global batch of n rows: k rows from lo.
// The first n mod size ranks take one row more, so rank 0 always has rows.
func (t *Trainer) share(n int) (lo, k int) {
	d := t.dist
	if d == nil {
		return 0, n
	}
	q, rem := n/d.size, n%d.size
	lo, k = d.rank*q+min(d.rank, rem), q
	if d.rank < rem {
		k++
	}
	return lo, k
}

// rankRows is share for the validation rows (the same rule).
func (t *Trainer) rankRows(n int) (lo, hi int) {
	lo, k := t.share(n)
	return lo, lo + k
}

// skipper is a TrainSource that can pass over rows without reading them.
type skipper interface{ Skip(rows int) error }

// skipRows passes over the next rows of the epoch (other ranks' rows).
func (t *Trainer) skipRows(rows int) error {
	if rows == 0 {
		return nil
	}
	if s, ok := t.in.src.(skipper); ok {
		return s.Skip(rows)
	}
	d := t.dist
	for rows > 0 {
		k := min(rows, t.ws.batch)
		d.skip = growF32(d.skip, k*t.in.cols)
		if err := t.in.src.Next(d.skip[:k*t.in.cols]); err != nil {
			return err
		}
		rows -= k
	}
	return nil
}

// allreduceGrads sums the ranks' gradients in place.
func (t *Trainer) allreduceGrads() error {
	d, b, g := t.dist, t.Model.Backend, t.Model.Grads
	grads := d.host[:g.Len()]
	if err := b.Download(grads, g); err != nil {
		return err
	}
	d.host[len(grads)] = 0
	if d.ctx != nil && d.ctx.Err() != nil {
		d.host[len(grads)] = 1 // this rank was asked to stop
	}
	if err := d.c.AllreduceSum(d.host); err != nil {
		return fmt.Errorf("all-reduce the gradients: %w", err)
	}
	d.stop = d.stop || d.host[len(grads)] > 0
	return b.Upload(g, grads)
}

// globalScalar reads a 1×1 accumulator, summed over the ranks.
func (t *Trainer) globalScalar(m engine.Matrix) (float32, error) {
	v, err := t.readScalar(m)
	if err != nil || t.dist == nil {
		return v, err
	}
	buf := []float32{v}
	if err := t.dist.c.AllreduceSum(buf); err != nil {
		return 0, fmt.Errorf("all-reduce the epoch's sums: %w", err)
	}
	return buf[0], nil
}

// ownsGlobalTerms reports whether this rank adds the step's terms that do
// not depend on the rows (L2's gradient): rank 0, or a single process.
func (t *Trainer) ownsGlobalTerms() bool { return t.dist == nil || t.dist.rank == 0 }

// stopRequested reports whether training stops before the next step: ctx
// is cancelled, or in a job, any rank's ctx was when the last step's
// gradients were summed (the ranks agree on the step).
func (t *Trainer) stopRequested(ctx context.Context) bool {
	d := t.dist
	if d == nil {
		return ctx.Err() != nil
	}
	d.ctx = ctx
	return d.stop
}
