package autoencoder

import (
	"fmt"
	"math"

	"github.com/aegpu/aegpu/engine"
)

// SparseConfig holds a sparse autoencoder's settings: an L1 penalty
// SparsityL1·mean_i Σ_j |h_ij| and the KL sparsity penalty
// SparsityBeta·Σ_j KL(ρ ‖ ρ̂_j) with ρ = SparsityTarget (MATLAB's
// SparsityRegularization and SparsityProportion) on the outputs of the
// encoder layers SparseLayers (1-based; empty: the latent layer).
type SparseConfig struct {
	SparsityL1     float64 `json:"sparsity_l1,omitempty"`
	SparsityBeta   float64 `json:"sparsity_beta,omitempty"`
	SparsityTarget float64 `json:"sparsity_target,omitempty"`
	SparseLayers   []int   `json:"sparse_layers,omitempty"`
}

var sparseKind = variantKind{
	name: VariantSparse,
	settings: func(c *VariantConfig) []setting {
		return []setting{{"sparsity l1", c.SparsityL1 != 0}, {"sparsity beta", c.SparsityBeta != 0}, {"sparse layers", len(c.SparseLayers) > 0}}
	},
	check: func(c *TrainConfig) error { return c.SparseConfig.check() },
	part:  newSparsePart,
}

func (c SparseConfig) check() error {
	switch {
	case c.SparsityL1 < 0 || c.SparsityBeta < 0 || math.IsNaN(c.SparsityL1) || math.IsNaN(c.SparsityBeta):
		return fmt.Errorf("sparsity l1 and beta must be ≥ 0, got %v and %v", c.SparsityL1, c.SparsityBeta)
	case c.SparsityL1 == 0 && c.SparsityBeta == 0:
		return fmt.Errorf("a sparse autoencoder needs an L1 weight or a KL sparsity beta > 0")
	case c.SparsityBeta > 0 && !(c.SparsityTarget > 0 && c.SparsityTarget < 1):
		return fmt.Errorf("sparsity target ρ must be in (0, 1), got %v", c.SparsityTarget)
	}
	for _, l := range c.SparseLayers {
		if l < 1 {
			return fmt.Errorf("sparse layers are 1-based encoder layer numbers, got %d", l)
		}
	}
	return nil
}

// sparsePart adds the sparsity penalty to the gradients of the penalized
// layers' outputs, and measures their mean activations on the validation
// rows.
type sparsePart struct {
	noPart
	cfg    SparseConfig
	layers []int           // layer indices whose outputs are penalized
	rho    []engine.Matrix // [1×D] per layer: the batch's mean activations
	actSum []engine.Matrix // [1×D] per layer: validation Σ of column means
	rowTmp []engine.Matrix // [1×D] per layer
}

func newSparsePart(t *Trainer, _ int) (part, error) {
	m := t.Model
	s := &sparsePart{cfg: t.Cfg.SparseConfig}
	var err error
	if s.layers, err = sparseLayers(m, s.cfg.SparseLayers); err != nil {
		return nil, err
	}
	for _, l := range s.layers {
		L := m.Layers[l]
		if s.cfg.SparsityBeta > 0 && L.Act != engine.Sigmoid {
			return nil, &KLActivationError{Layer: L.Name, Act: L.Act}
		}
		var bufs [3]engine.Matrix
		for i := range bufs {
			if bufs[i], err = t.ws.alloc(1, L.Out); err != nil {
				return nil, err
			}
		}
		s.rho, s.actSum, s.rowTmp = append(s.rho, bufs[0]), append(s.actSum, bufs[1]), append(s.rowTmp, bufs[2])
	}
	return s, nil
}

// sparseLayers resolves the configured sparse layers (1-based; none: the
// latent layer) to layer indices.
func sparseLayers(m *Model, layers []int) ([]int, error) {
	k := m.Arch.DecoderStart() // encoder layers
	if len(layers) == 0 {
		return []int{k - 1}, nil
	}
	var out []int
	for _, l := range layers {
		if l > k {
			return nil, fmt.Errorf("sparse layer %d: the encoder has %d layers (1..%d)", l, k, k)
		}
		out = append(out, l-1)
	}
	return out, nil
}

// grads adds the penalty's gradient to ∂L/∂h_i of a penalized layer i.
func (s *sparsePart) grads(t *Trainer, v *batchView, at gradPoint, i int) (bool, error) {
	if at != atLayer {
		return false, nil
	}
	for j, l := range s.layers {
		if l == i {
			c := s.cfg
			return false, t.Model.Backend.Sparsity(t.obj.pen, v.g[i], s.rho[j], v.y[i],
				float32(c.SparsityL1), float32(c.SparsityBeta), float32(c.SparsityTarget), float32(v.n))
		}
	}
	return false, nil
}

func (s *sparsePart) validate(t *Trainer, v *batchView, at valPoint, _ int) error {
	b := t.Model.Backend
	for j, l := range s.layers {
		switch at {
		case valStart:
			if err := b.Fill(s.actSum[j], 0); err != nil {
				return err
			}
		case valBatch:
			if err := b.ColMean(s.rowTmp[j], v.y[l]); err != nil {
				return err
			}
			if err := b.Axpy(float32(v.n), s.rowTmp[j], s.actSum[j]); err != nil {
				return err
			}
		}
	}
	return nil
}

// metrics reports each penalized layer's mean activation per unit on the
// validation rows, and their mean.
func (s *sparsePart) metrics(t *Trainer, em *EpochMetrics, _ int, val bool) error {
	if !val || t.nVal == 0 {
		return nil
	}
	em.MeanActivation = map[string][]float64{}
	var all []float64
	for j, l := range s.layers {
		v := make([]float32, s.actSum[j].Len())
		if err := t.Model.Backend.Download(v, s.actSum[j]); err != nil {
			return err
		}
		m := make([]float64, len(v))
		for k, x := range v {
			m[k] = float64(x) / float64(t.nVal)
		}
		em.MeanActivation[t.Model.Layers[l].Name] = m
		all = append(all, m...)
	}
	avg := meanOf(all)
	em.MeanActivationAvg = &avg
	return nil
}

// meanOf is the mean of v (NaN when empty).
func meanOf(v []float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	s := 0.0
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}
