package autoencoder

import "github.com/aegpu/aegpu/engine"

// input feeds the training rows to the device batch by batch. On a
// backend with a copy stream the next batch is uploaded into a spare
// buffer while the current step computes (prefetch), and the two buffers
// swap.
type input struct {
	src    TrainSource
	fill   func([]float32) error // src.Next, bound once (a method value per step would allocate)
	cols   int
	nTrain int       // training rows
	host   []float32 // one batch, read from the source

	spare      engine.Matrix // the spare input buffer (absent: no prefetch)
	cur        int           // which of the two buffers is in use
	prefetched bool          // the next batch is already uploaded
	prevMark   engine.Marker // queue point after the previous step
}

// dst is the buffer clean batches are uploaded into: the target of a
// denoising model (its input is a corrupted copy), else the input itself.
func (t *Trainer) dst() *engine.Matrix {
	if !t.ws.target.Empty() {
		return &t.ws.target
	}
	return &t.ws.x
}

// next uploads the epoch's next global batch of n training rows (this
// rank's share of them, skipping the other ranks'): the source writes them
// straight into the input where the backend's memory is the host's.
func (t *Trainer) next(n int) error {
	lo, k := t.share(n)
	if err := t.skipRows(lo); err != nil {
		return err
	}
	if err := t.upload(k); err != nil {
		return err
	}
	return t.skipRows(n - lo - k)
}

// upload uploads the source's next n rows into the input.
func (t *Trainer) upload(n int) error {
	if n == 0 {
		return nil
	}
	dst := t.dst().RowSlice(0, n)
	if fu, ok := t.Model.Backend.(engine.FillUploader); ok {
		return fu.UploadFill(dst, t.in.fill)
	}
	h := t.in.host[:n*t.in.cols]
	if err := t.in.src.Next(h); err != nil {
		return err
	}
	return t.Model.Backend.Upload(dst, h)
}

// prefetch, on a backend with a copy stream, starts copying the next batch
// of the epoch into the spare input buffer while the step just queued
// computes, then swaps the buffers. The copy waits only for the step before
// that one, the last reader of the spare buffer.
func (t *Trainer) prefetch() error {
	in := &t.in
	au, ok := t.Model.Backend.(engine.AsyncUploader)
	if !ok || in.spare.Empty() || t.State.Batch*t.ws.batch >= in.nTrain || t.dist != nil {
		return nil
	}
	mark, err := au.Mark()
	if err != nil {
		return err
	}
	lo := t.State.Batch * t.ws.batch
	n := min(t.ws.batch, in.nTrain-lo)
	if err := in.src.Next(in.host[:n*in.cols]); err != nil {
		return err
	}
	if err := au.UploadAfter(in.spare.RowSlice(0, n), in.host[:n*in.cols], in.prevMark); err != nil {
		return err
	}
	in.prevMark = mark
	dst := t.dst()
	*dst, in.spare = in.spare, *dst
	in.cur ^= 1
	in.prefetched = true
	return nil
}
