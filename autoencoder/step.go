package autoencoder

import (
	"fmt"

	"github.com/aegpu/aegpu/engine"
)

// One training step, in order: the step's random inputs (preStep), the
// forward pass, the loss and its gradient, the backward pass with each
// part's terms, the point where the gradients are complete (reduce),
// clipping, then the optimizer. Everything from the forward pass to
// clipping is the same op sequence every step (no per-step scalar), which
// a Recorder backend captures once and replays.

// preStep draws the step's random inputs into the first n rows: outside
// any recording, as their Philox streams change every step.
func (t *Trainer) preStep(n int) error {
	v := t.ws.rows(n)
	for _, p := range t.parts {
		if err := p.preStep(t, v); err != nil {
			return err
		}
	}
	return nil
}

// forwardBackward runs the forward pass on the first n rows of the
// input, adds the batch loss to the loss accumulator (and the parts'
// terms to theirs) and leaves the gradients in the model's Grads.
func (t *Trainer) forwardBackward(n int) error {
	m, b, v := t.Model, t.Model.Backend, t.ws.rows(n)
	if _, err := m.forward(v, true); err != nil {
		return err
	}
	last := len(m.Layers) - 1
	pred := v.y[last]
	if t.obj.logits {
		pred = v.z[last]
	}
	if err := b.LossGrad(t.obj.loss, t.obj.sum, v.g[last], pred, v.target, float32(n)); err != nil {
		return err
	}
	if d := t.dist; d != nil && n != d.n { // this rank's share of the global batch's mean (dist.go)
		if err := b.Scale(v.g[last], float32(float64(n)/float64(d.n))); err != nil {
			return err
		}
	}
	t.book.reset()
	if err := t.decoderBackward(v); err != nil {
		return err
	}
	if err := t.partGrads(v, afterDecoder); err != nil {
		return err
	}
	if err := t.partGrads(v, beforeEncoder); err != nil {
		return err
	}
	for i := m.Arch.BodyLayers() - 1; i >= 0; i-- {
		if err := t.encoderLayerBackward(v, i); err != nil {
			return err
		}
	}
	return t.partGrads(v, afterBackward)
}

// partGrads runs the parts' terms at a point of the backward pass.
func (t *Trainer) partGrads(v *batchView, at gradPoint) error {
	for _, p := range t.parts {
		if _, err := p.grads(t, v, at, -1); err != nil {
			return err
		}
	}
	return nil
}

// decoderBackward runs the decoder's layers backward, down to the
// gradient of the code (a VAE's sampled code).
func (t *Trainer) decoderBackward(v *batchView) error {
	m := t.Model
	ds, last := m.Arch.DecoderStart(), len(m.Layers)-1
	for i := last; i >= ds; i-- {
		in, dx := v.y[i-1], v.g[i-1]
		if i == ds && m.Arch.VAE {
			in, dx = v.code, v.gcode
		}
		act := m.Layers[i].Act
		if i == last && t.obj.logits {
			act = engine.Linear // σ′ is folded into the loss gradient
		}
		if err := m.backwardNorm(v, &t.book, i, dx, v.g[i], v.y[i], v.z[i], in, act, 0, false); err != nil {
			return err
		}
	}
	return nil
}

// encoderLayerBackward runs encoder layer i backward, after the parts
// added their terms to its output's gradient (or ran it themselves).
func (t *Trainer) encoderLayerBackward(v *batchView, i int) error {
	for _, p := range t.parts {
		done, err := p.grads(t, v, atLayer, i)
		if err != nil || done {
			return err
		}
	}
	in, dx := t.layerInput(v, i)
	return t.Model.backwardNorm(v, &t.book, i, dx, v.g[i], v.y[i], v.z[i], in, t.Model.Layers[i].Act, 0, false)
}

// layerInput is encoder layer i's input and where its gradient goes (none
// for the first layer: the data needs no gradient).
func (t *Trainer) layerInput(v *batchView, i int) (in, dx engine.Matrix) {
	if i == 0 {
		return v.x, engine.Matrix{}
	}
	return v.y[i-1], v.g[i-1]
}

// gradients is the recorded part of a step: forwardBackward, the point
// where the gradients are complete, and the optional clipping.
func (t *Trainer) gradients(n int) error {
	if err := t.forwardBackward(n); err != nil {
		return err
	}
	return t.completeGradients()
}

// completeGradients reduces the gradients and clips them.
func (t *Trainer) completeGradients() error {
	if err := t.reduceGradients(); err != nil {
		return err
	}
	if t.Cfg.ClipNorm > 0 {
		return t.Model.Backend.ClipGradNorm(t.Model.Grads, t.obj.norm, float32(t.Cfg.ClipNorm))
	}
	return nil
}

// reduceGradients is the one point of the step where the gradients of the
// batch are complete, before clipping and the optimizer: where
// data-parallel training sums the replicas' gradients (dist.go). A single
// replica has nothing to do.
func (t *Trainer) reduceGradients() error {
	if t.dist == nil {
		return nil
	}
	return t.allreduceGrads()
}

// step runs one optimizer step on the n rows of the global batch, whose
// share for this rank (all n rows in a single process) is already in the
// input. Full batches replay a recording when the backend can record (a
// CUDA graph: one launch instead of dozens); the optimizer, whose learning
// rate and step count change every step, runs after it.
func (t *Trainer) step(n int, lr float64) error {
	if err := t.deviceStep(); err != nil {
		return err
	}
	if d := t.dist; d != nil {
		d.n = n
		d.lo, n = t.share(n)
		d.local += n
		if n == 0 { // a short last batch left this rank no rows: it adds zeros
			for _, p := range t.parts {
				if jp, ok := p.(jobPart); ok {
					if err := jp.idle(t); err != nil {
						return err
					}
				}
			}
			if err := t.Model.Backend.Fill(t.Model.Grads, 0); err != nil {
				return err
			}
			if err := t.completeGradients(); err != nil {
				return err
			}
			return t.update(lr)
		}
	}
	if err := t.preStep(n); err != nil {
		return err
	}
	if err := t.recordedGradients(n); err != nil {
		return err
	}
	return t.update(lr)
}

// update applies the optimizer to the complete gradients and adds the new
// weights to their average (--ema).
func (t *Trainer) update(lr float64) error {
	if err := t.opt.step(t, lr); err != nil {
		return err
	}
	return t.emaUpdate()
}

// recordedGradients runs gradients, through a recording where it can.
func (t *Trainer) recordedGradients(n int) error {
	rec, ok := t.Model.Backend.(engine.Recorder)
	if !ok || t.globalRows(n) != t.ws.batch || t.NoReplay { // a job's full batches: this rank's fixed share
		return t.gradients(n)
	}
	cur := t.in.cur
	if t.replays[cur] == nil { // a recording binds the input buffer
		r, err := rec.Record(func() error { return t.gradients(n) })
		if err != nil {
			return fmt.Errorf("record the training step: %w", err)
		}
		t.replays[cur] = r
	}
	return t.replays[cur].Run()
}

// optimizer is the optimizer's kind and its moment buffers.
type optimizer struct {
	kind   engine.OptKind
	s1, s2 engine.Matrix // s2 is absent for SGD
}

// step applies the optimizer with learning rate lr as step State.Step+1.
func (o *optimizer) step(t *Trainer, lr float64) error {
	c := t.Cfg
	s := engine.OptStep{Kind: o.kind, LR: float32(lr), Beta1: float32(c.Beta1), Beta2: float32(c.Beta2),
		Eps: float32(c.Eps), Momentum: float32(c.Momentum), WeightDecay: float32(c.WeightDecay),
		Step: int(t.State.Step + 1)}
	if o.kind == engine.SGD && c.Momentum == 0 {
		s.Momentum = 0
	}
	m := t.Model
	return m.Backend.OptimizerStep(s, m.Params, m.Grads, o.s1, o.s2)
}
