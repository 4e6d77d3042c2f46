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
	job    *sparseJob      // a data-parallel job's KL term (dist.go)
}

// sparseJob is what the KL term needs on a rank of a data-parallel job:
// the global batch's ρ̂, all-reduced once per step, and the buffers that
// add its per-unit gradient to every row of the rank's share.
type sparseJob struct {
	host  []float32       // Σ_r k_r/n·ρ̂_r of every penalized layer, for the all-reduce
	rho   []engine.Matrix // [1×D] per layer: the global ρ̂
	grad  []engine.Matrix // [1×D] per layer: β·(−ρ/ρ̂_j + (1−ρ)/(1−ρ̂_j))
	ones  engine.Matrix   // [batch×1] ones
	zero  engine.Matrix   // [1×maxD] zeros
	bcast engine.Matrix   // [batch×maxD] a gradient row repeated over the rows
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
	if t.dist != nil {
		return false, s.jobGrads(t, v, at, i)
	}
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

// join allocates the KL term's buffers for a data-parallel job.
func (s *sparsePart) join(t *Trainer) error {
	if s.cfg.SparsityBeta == 0 {
		return nil
	}
	j := &sparseJob{}
	var err error
	maxD, size := 0, 0
	for _, l := range s.layers {
		d := t.Model.Layers[l].Out
		maxD, size = max(maxD, d), size+d
		var r, g engine.Matrix
		if r, err = t.ws.alloc(1, d); err != nil {
			return err
		}
		if g, err = t.ws.alloc(1, d); err != nil {
			return err
		}
		j.rho, j.grad = append(j.rho, r), append(j.grad, g)
	}
	j.host = make([]float32, size)
	if j.ones, err = t.ws.alloc(t.ws.batch, 1); err != nil {
		return err
	}
	if j.zero, err = t.ws.alloc(1, maxD); err != nil {
		return err
	}
	if j.bcast, err = t.ws.alloc(t.ws.batch, maxD); err != nil {
		return err
	}
	s.job = j
	return t.Model.Backend.Fill(j.ones, 1)
}

// idle joins the step's all-reduce of ρ̂ with no rows.
func (s *sparsePart) idle(t *Trainer) error {
	if s.job == nil {
		return nil
	}
	return s.reduceRho(t, nil)
}

// reduceRho sets the job's ρ̂ of every penalized layer to the global
// batch's: Σ_r k_r/n·ρ̂_r over the ranks (v nil: this rank has no rows).
func (s *sparsePart) reduceRho(t *Trainer, v *batchView) error {
	j, b := s.job, t.Model.Backend
	if dev := t.dist.dev; dev != nil { // on the device, inside the recorded step
		for q, l := range s.layers {
			if v == nil {
				if err := b.Fill(j.rho[q], 0); err != nil {
					return err
				}
			} else {
				if err := b.ColMean(j.rho[q], v.y[l]); err != nil {
					return err
				}
				if err := b.Scale(j.rho[q], float32(float64(v.n)/float64(t.dist.n))); err != nil {
					return err
				}
			}
			if err := dev.AllReduceSum(j.rho[q]); err != nil {
				return fmt.Errorf("all-reduce the sparse layers' mean activations: %w", err)
			}
		}
		return nil
	}
	off := 0
	for q, l := range s.layers {
		h := j.host[off : off+j.rho[q].Len()]
		off += len(h)
		if v == nil {
			clear(h)
			continue
		}
		if err := b.ColMean(s.rowTmp[q], v.y[l]); err != nil {
			return err
		}
		if err := b.Download(h, s.rowTmp[q]); err != nil {
			return err
		}
		w := float64(v.n) / float64(t.dist.n)
		for i, x := range h {
			h[i] = float32(float64(x) * w)
		}
	}
	if err := t.allreduce(j.host, "the sparse layers' mean activations"); err != nil {
		return err
	}
	off = 0
	for q := range s.layers {
		n := j.rho[q].Len()
		if err := b.Upload(j.rho[q], j.host[off:off+n]); err != nil {
			return err
		}
		off += n
	}
	return nil
}

// jobGrads is grads on a rank of a data-parallel job (dist.go): the L1
// term is a mean of per-row terms, given l1·k/n for its share; the KL
// term's per-unit gradient is formed from the global ρ̂ (the Sparsity op
// on that one row), and 1/n of it added to every row of the share.
func (s *sparsePart) jobGrads(t *Trainer, v *batchView, at gradPoint, i int) error {
	if at == beforeEncoder && s.job != nil {
		return s.reduceRho(t, v)
	}
	if at != atLayer {
		return nil
	}
	b, c := t.Model.Backend, s.cfg
	k, n := v.n, t.dist.n
	for q, l := range s.layers {
		if l != i {
			continue
		}
		if c.SparsityL1 > 0 {
			// acc += n·(l1·k/n)/k·Σ|h| = l1·Σ_{rank's rows}|h|
			if err := b.Sparsity(t.obj.pen, v.g[i], s.rho[q], v.y[i],
				float32(c.SparsityL1*float64(k)/float64(n)), 0, float32(c.SparsityTarget), float32(n)); err != nil {
				return err
			}
		}
		if s.job == nil {
			return nil
		}
		j := s.job
		d := j.rho[q].Cols
		if err := b.Fill(j.grad[q], 0); err != nil {
			return err
		}
		// On the one row ρ̂: grad = β·(−ρ/ρ̂ + (1−ρ)/(1−ρ̂)), acc += k·β·KL(ρ‖ρ̂).
		if err := b.Sparsity(t.obj.pen, j.grad[q], s.rho[q], j.rho[q],
			0, float32(c.SparsityBeta), float32(c.SparsityTarget), float32(k)); err != nil {
			return err
		}
		// bcast = ones·gradᵀ: the row repeated on each of the k rows.
		bc := j.bcast.View(0, k, d)
		if err := b.Dense(bc, engine.Matrix{}, rowsOf(j.ones, k), j.grad[q].Reshape(d, 1), j.zero.View(0, 1, d), engine.Linear, 0); err != nil {
			return err
		}
		return b.Axpy(float32(1/float64(n)), bc, v.g[i])
	}
	return nil
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
		if err := t.allreduce(v, "the validation activations"); err != nil { // the ranks' rows (dist.go)
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
