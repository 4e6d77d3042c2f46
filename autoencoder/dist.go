package autoencoder

import (
	"context"
	"fmt"
	"math"

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
//
// The variants. Their terms are of three kinds.
//
//   - Per-row draws (a denoising model's corruption, a VAE's ε, the
//     contractive estimator's projections): element e of the global
//     batch's buffer is element e of the step's Philox stream, so rank r
//     draws its rows from element lo_r·cols on (engine.DrawsAt: the
//     single process's values, and only the rank's own rows drawn).
//     Validation noise is drawn per validation batch of the single
//     process, so a rank's validation rows are cut at those batches'
//     bounds (Validate) and drawn from their position in them.
//   - Means over the batch of per-row terms: the VAE's KL (scale
//     1/(n·d0) of Σ_i KL_i), the contractive penalty (λ/n·Σ_i ‖J_i‖²,
//     exact or estimated) and the sparse L1 term (l1/n·Σ_i |h_i|). Each is
//     Σ_i over the rows of a term of row i alone, so the rank's gradient
//     of 1/n·Σ_{i∈B_r} is its share and the all-reduce sums the shares,
//     exactly as for the loss. The ops that divide by their own row count
//     k_r are given the weight scaled by k_r/n (λ·k_r/n, l1·k_r/n), the
//     others the global n; their penalty sums (Σ over the rank's rows) add
//     up over the ranks to the single process's.
//   - The sparse KL term β·Σ_j KL(ρ‖ρ̂_j) is not a sum over rows: ρ̂_j is
//     the mean activation over the whole batch. Its gradient on row i,
//     β/n·(−ρ/ρ̂_j + (1−ρ)/(1−ρ̂_j)), needs the global ρ̂, which is one more
//     all-reduce per step (of Σ_r k_r/n·ρ̂_r, before the encoder's
//     backward pass); each rank then adds 1/n of the per-unit term to its
//     rows, and k_r/n of the penalty, so the ranks' sums are the single
//     process's again.
//
// On a backend that sums on its device (engine.AllReducer: the CUDA
// backend joined to an NCCL communicator) the gradients, and the sparse
// KL term's ρ̂, are summed there instead, by AllReduceSum at the same
// points: ops of the step, so a recorded step (a CUDA graph) holds the
// sums and a replay runs them without the host. The stop flag, a host
// value no recording can carry, then goes over the Collective on its own,
// one float per step (deviceStep), which also polls the device sums'
// asynchronous error; the ranks still stop after the same step. The
// epoch's sums and validation stay on the host.
//
// Every rank calls the collectives in the same order; a rank left without
// rows by a short batch joins them with zeros (jobPart.idle).
type distState struct {
	c    Collective
	rank int
	size int
	host []float32 // the gradients and the stop flag, on the host for MPI's all-reduce (CPU); the stop flag alone (device sums)
	// dev sums on the device instead (the GPU over NCCL): the gradients,
	// inside the recorded step; the stop flag then goes over MPI alone.
	dev   engine.AllReducer
	n     int       // rows of the current global batch
	lo    int       // this rank's first row in it
	skip  []float32 // scratch for sources that cannot skip rows
	local int       // rows this rank trained on in this epoch (progress)
	draws engine.DrawsAt
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
	b := t.Model.Backend
	d := &distState{c: c, rank: c.Rank(), size: c.Size()}
	if ar, ok := b.(engine.AllReducer); ok && ar.Ranks() > 0 {
		if ar.Ranks() != c.Size() {
			return fmt.Errorf("the backend sums over %d ranks but the job has %d", ar.Ranks(), c.Size())
		}
		d.dev = ar
		d.host = make([]float32, 1) // the stop flag (deviceStep)
	} else if _, ok := b.(engine.Recorder); ok {
		return fmt.Errorf("distributed training on %s needs the backend joined to the job's NCCL communicator: use --device cpu to train over MPI on the CPU", b.Info())
	} else {
		d.host = make([]float32, t.Model.Grads.Len()+1)
	}
	draws, ok := b.(engine.DrawsAt)
	if !ok && t.drawsPerRow() {
		return fmt.Errorf("distributed training of a %s autoencoder needs a backend that draws from any position of a stream (the CPU and CUDA backends): use --device cpu", t.Cfg.Variant())
	}
	d.draws = draws
	t.dist = d
	for _, p := range t.parts {
		if jp, ok := p.(jobPart); ok {
			if err := jp.join(t); err != nil {
				t.dist = nil
				return err
			}
		}
	}
	return nil
}

// A jobPart is a part with collectives of its own in a data-parallel job.
type jobPart interface {
	// join readies the part for the job of t.dist (SetCollective).
	join(t *Trainer) error
	// idle takes part in the step's collectives for a rank that has no
	// rows of the batch.
	idle(t *Trainer) error
}

// drawsPerRow reports whether the step draws random numbers per row.
func (t *Trainer) drawsPerRow() bool {
	return t.Cfg.noisy() || t.Model.Arch.VAE || !t.tangentProjections().Empty()
}

// globalRows is the number of rows of the step's global batch, of which
// this rank holds k (a single process: all k).
func (t *Trainer) globalRows(k int) int {
	if t.dist == nil {
		return k
	}
	return t.dist.n
}

// rowOffset is this rank's first row in the step's global batch (0 in a
// single process).
func (t *Trainer) rowOffset() int {
	if t.dist == nil {
		return 0
	}
	return t.dist.lo
}

// randNormalRows fills dst, the rows from row on of a buffer that one
// process fills whole with RandNormal(seed, stream, 0, 1), with their
// values there.
func (t *Trainer) randNormalRows(dst engine.Matrix, stream uint64, row int) error {
	if row == 0 {
		return t.Model.Backend.RandNormal(dst, t.Cfg.Seed, stream, 0, 1)
	}
	if t.dist == nil || t.dist.draws == nil {
		return fmt.Errorf("a draw from row %d needs engine.DrawsAt", row)
	}
	return t.dist.draws.RandNormalAt(dst, t.Cfg.Seed, stream, uint64(row)*uint64(dst.Cols), 0, 1)
}

// corruptRows is Corrupt on the rows from row on of a batch that one
// process corrupts whole, drawing what it draws for them.
func (t *Trainer) corruptRows(dst, src engine.Matrix, kind engine.Noise, level float32, stream uint64, row int) error {
	if row == 0 {
		return t.Model.Backend.Corrupt(dst, src, kind, level, t.Cfg.Seed, stream)
	}
	if t.dist == nil || t.dist.draws == nil {
		return fmt.Errorf("a draw from row %d needs engine.DrawsAt", row)
	}
	return t.dist.draws.CorruptAt(dst, src, kind, level, t.Cfg.Seed, stream, uint64(row)*uint64(dst.Cols))
}

// allreduce sums buf over the ranks (nothing in a single process).
func (t *Trainer) allreduce(buf []float32, what string) error {
	if t.dist == nil {
		return nil
	}
	if err := t.dist.c.AllreduceSum(buf); err != nil {
		return fmt.Errorf("all-reduce %s: %w", what, err)
	}
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

// allreduceGrads sums the ranks' gradients in place: on the device when
// the backend sums itself (an op of the recorded step), else on the host
// over MPI, with the stop flag riding on the gradients.
func (t *Trainer) allreduceGrads() error {
	d, b, g := t.dist, t.Model.Backend, t.Model.Grads
	if d.dev != nil {
		if err := d.dev.AllReduceSum(g); err != nil {
			return fmt.Errorf("all-reduce the gradients: %w", err)
		}
		return nil
	}
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

// deviceStep is the host's part of a step of a job that sums on the device
// (dist.dev): the stop flag, one float over MPI (the device's sums run in
// a recording, where no host value can join them), and the poll of the
// device sums' asynchronous error (a rank that died or stalled). It runs
// every step on every rank, so the ranks agree on the step they stop
// after, as on the CPU.
func (t *Trainer) deviceStep() error {
	d := t.dist
	if d == nil || d.dev == nil {
		return nil
	}
	if err := d.dev.CollectiveError(); err != nil {
		return err
	}
	flag := d.host[:1] // on the device path host holds only the stop flag
	flag[0] = 0
	if d.ctx != nil && d.ctx.Err() != nil {
		flag[0] = 1 // this rank was asked to stop
	}
	if err := d.c.AllreduceSum(flag); err != nil {
		return fmt.Errorf("all-reduce the stop flag: %w", err)
	}
	d.stop = d.stop || flag[0] > 0
	return nil
}

// globalScalar reads a 1×1 accumulator, summed over the ranks.
func (t *Trainer) globalScalar(m engine.Matrix) (float32, error) {
	v, err := t.readScalar(m)
	if err != nil || t.dist == nil {
		return v, err
	}
	if d := t.dist; d.dev != nil { // the device's sums completed with the read
		if err := d.dev.CollectiveError(); err != nil {
			return 0, err
		}
	}
	buf := []float32{v}
	if err := t.allreduce(buf, "the epoch's sums"); err != nil {
		return 0, err
	}
	return buf[0], nil
}

// rootValue returns rank 0's v on every rank of job, bit for bit: its 64
// bits go as four 16-bit words in float32s that only rank 0 fills, so the
// job's float32 sum carries them exactly.
func rootValue(job Collective, v float64) (float64, error) {
	buf := make([]float32, 4)
	if job.Rank() == 0 {
		bits := math.Float64bits(v)
		for i := range buf {
			buf[i] = float32(bits >> (16 * i) & 0xffff)
		}
	}
	if err := job.AllreduceSum(buf); err != nil {
		return 0, err
	}
	var bits uint64
	for i, w := range buf {
		bits |= uint64(w) << (16 * i)
	}
	return math.Float64frombits(bits), nil
}

// agreeTimeStop makes a time budget's stop the job's: each rank's clock
// differs, so rank 0's decides for all, through one all-reduce at the end
// of every epoch of a budgeted run.
func (t *Trainer) agreeTimeStop() error {
	d, st := t.dist, &t.State
	if d == nil || t.Cfg.TimeBudget <= 0 {
		return nil
	}
	mine, vote := st.Finished && st.StopReason == "time", 0.0
	if mine {
		vote = 1
	}
	v, err := rootValue(d.c, vote)
	if err != nil {
		return err
	}
	switch {
	case v > 0 && !st.Finished:
		st.StopReason, st.Finished = "time", true
	case v == 0 && mine:
		st.StopReason, st.Finished = "", false
	}
	return nil
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
