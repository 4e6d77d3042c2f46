package autoencoder

import (
	"math"

	"github.com/aegpu/aegpu/engine"
)

// Weight averaging (TrainConfig.EMA = d > 0). After every optimizer step
// t (1-based) the accumulator takes the step's weights θ_t,
//
//	acc_t = d·acc_{t−1} + (1−d)·θ_t,   acc_0 = 0     (engine EMA: one op)
//
// and the average is acc_t/(1−d^t), Adam's bias correction: a weighted
// mean of the weights visited so far, with weights ∝ d^(t−i), whatever t
// (no pull toward the initial weights early in a run). The average is
// what validation sees, what model.safetensors and best.safetensors hold
// and what a finished run's Model keeps; the raw weights train on, and a
// checkpoint keeps them and acc (in optimizer.safetensors, tensors
// "params" and "ema") so that a resumed run continues bit for bit.
type emaState struct {
	decay float64
	acc   engine.Matrix // [1×P] the accumulator
	raw   engine.Matrix // [1×P] the raw weights while Params hold the average
	in    bool          // Params hold the average; the raw weights are in raw
}

// allocEMA allocates the accumulator (zero) and the raw weights' buffer.
func (t *Trainer) allocEMA() error {
	if t.Cfg.EMA == 0 {
		return nil
	}
	p := t.Model.Params.Len()
	e := &emaState{decay: t.Cfg.EMA}
	var err error
	if e.acc, err = t.ws.allocRaw(1, p); err != nil {
		return err
	}
	if e.raw, err = t.ws.allocRaw(1, p); err != nil {
		return err
	}
	t.ema = e
	return t.Model.Backend.Fill(e.acc, 0)
}

// emaUpdate adds the weights of the step just taken to the accumulator.
func (t *Trainer) emaUpdate() error {
	if t.ema == nil {
		return nil
	}
	return t.Model.Backend.EMA(t.ema.acc, t.Model.Params, float32(t.ema.decay))
}

// emaCorrection is 1/(1−d^t) after t steps, in float32 as the scale op
// applies it.
func emaCorrection(d float64, t int64) float32 {
	return float32(1 / (1 - math.Pow(d, float64(t))))
}

// useAverage puts the averaged weights in Params, keeping the raw ones,
// unless they are there already or no step has been taken.
func (t *Trainer) useAverage() error {
	e := t.ema
	if e == nil || e.in || t.State.Step == 0 {
		return nil
	}
	b := t.Model.Backend
	if err := b.Copy(e.raw, t.Model.Params); err != nil {
		return err
	}
	if err := b.Copy(t.Model.Params, e.acc); err != nil {
		return err
	}
	e.in = true
	return b.Scale(t.Model.Params, emaCorrection(e.decay, t.State.Step))
}

// useRaw puts the raw weights back in Params, to train on.
func (t *Trainer) useRaw() error {
	e := t.ema
	if e == nil || !e.in {
		return nil
	}
	e.in = false
	return t.Model.Backend.Copy(t.Model.Params, e.raw)
}

// rawParams is the buffer holding the raw weights.
func (t *Trainer) rawParams() engine.Matrix {
	if t.ema != nil && t.ema.in {
		return t.ema.raw
	}
	return t.Model.Params
}
