package autoencoder

import (
	"fmt"
	"math"

	"github.com/aegpu/aegpu/engine"
)

// VAEConfig holds a variational autoencoder's settings: objective =
// reconstruction + KLBeta·KL/d0 (KL summed over the latent units, per row;
// d0 the input width, so that β = 1 is the ELBO with the reconstruction
// summed over features), β ramped linearly from 0 over KLWarmup epochs.
type VAEConfig struct {
	KLBeta   float64 `json:"kl_beta,omitempty"`
	KLWarmup float64 `json:"kl_warmup_epochs,omitempty"`
}

var vaeKind = variantKind{
	name: VariantVAE,
	settings: func(c *VariantConfig) []setting {
		return []setting{{"kl beta", c.KLBeta != 0}, {"kl warm-up", c.KLWarmup != 0}}
	},
	check: func(c *TrainConfig) error {
		switch {
		case c.KLBeta < 0 || math.IsNaN(c.KLBeta) || math.IsInf(c.KLBeta, 0):
			return fmt.Errorf("kl beta must be ≥ 0, got %v", c.KLBeta)
		case c.KLWarmup < 0 || math.IsNaN(c.KLWarmup):
			return fmt.Errorf("kl warm-up must be ≥ 0 epochs, got %v", c.KLWarmup)
		}
		return nil
	},
	part: newVAEPart,
}

// beta is the KL weight at fractional epoch e (warm-up ramps it from 0).
func (c VAEConfig) beta(e float64) float64 {
	if w := c.KLWarmup; w > 0 && e < w {
		return c.KLBeta * e / w
	}
	return c.KLBeta
}

// vaePart samples the code z = μ + σ·ε (the model's forward pass, given
// ε), and backpropagates the reconstruction and the KL term through the
// heads fc_mu and fc_logvar.
type vaePart struct {
	noPart
	cfg  VAEConfig
	beta engine.Matrix // 1×1: the KL weight β in force
}

func newVAEPart(t *Trainer, _ int) (part, error) {
	p := &vaePart{cfg: t.Cfg.VAEConfig}
	var err error
	if p.beta, err = t.ws.alloc(1, 1); err != nil {
		return nil, err
	}
	return p, t.Model.Backend.Fill(p.beta, float32(p.cfg.beta(0)))
}

// preStep draws ε and sets β for the step's fractional epoch. A rank of
// a job draws its rows' ε where they are in the global batch (dist.go).
func (p *vaePart) preStep(t *Trainer, v *batchView) error {
	b, step := t.Model.Backend, t.State.Step
	eps := t.ws.eps
	if t.dist != nil {
		eps = v.eps
	}
	if err := t.randNormalRows(eps, engine.StepStream(engine.StreamLatent, step), t.rowOffset()); err != nil {
		return err
	}
	nb := float64(t.batchesPerEpoch())
	return b.Fill(p.beta, float32(p.cfg.beta(float64(t.State.Epoch)+float64(t.State.Batch)/nb)))
}

// grads runs the heads' backward pass once the decoder's is done: the
// code's gradient and the KL term's into μ and log σ², then into the
// last body layer's output. The KL term is β/(n·d0)·Σ_i KL_i over the n
// rows of the global batch (a rank's rows: its share; dist.go).
func (p *vaePart) grads(t *Trainer, v *batchView, at gradPoint, _ int) (bool, error) {
	if at != afterDecoder {
		return false, nil
	}
	m, b := t.Model, t.Model.Backend
	mu := m.Arch.CodeLayer()
	lv, d0 := mu+1, m.Arch.Input()
	if err := b.ReparamBackward(v.g[mu], v.g[lv], t.obj.kl, p.beta, v.gcode,
		v.y[mu], v.y[lv], v.eps, float32(1/float64(t.globalRows(v.n)*d0)), 1); err != nil {
		return false, err
	}
	in, dx := t.layerInput(v, mu)
	if err := m.backward(&t.book, mu, dx, v.g[mu], engine.Matrix{}, engine.Matrix{}, in, engine.Linear, 0, false); err != nil {
		return false, err
	}
	return false, m.backward(&t.book, lv, dx, v.g[lv], engine.Matrix{}, engine.Matrix{}, in, engine.Linear, engine.AccumulateDX, false)
}

// metrics reports the epoch's mean KL per row and the β at its end.
func (p *vaePart) metrics(t *Trainer, em *EpochMetrics, e int, val bool) error {
	if val {
		return nil
	}
	kl, err := t.globalScalar(t.obj.kl)
	if err != nil {
		return err
	}
	v := float64(kl) / float64(t.in.nTrain)
	beta := p.cfg.beta(float64(e + 1))
	em.TrainKL, em.KLBeta = &v, &beta
	return nil
}
