package autoencoder

import (
	"fmt"
	"math"
	"strings"

	"github.com/aegpu/aegpu/engine"
)

// Variant names a kind of autoencoder.
type Variant string

// The variants aegpu trains.
const (
	VariantPlain       Variant = "plain"
	VariantDenoising   Variant = "denoising"
	VariantSparse      Variant = "sparse"
	VariantContractive Variant = "contractive"
	VariantVAE         Variant = "vae"
)

// VariantConfig says what kind of autoencoder a run trains: the variant
// and the settings of each variant, one nested struct per variant. It is
// embedded in TrainConfig, so its fields are TrainConfig's (and
// config.json's "train" object's).
type VariantConfig struct {
	// Noise makes a denoising autoencoder: the input is corrupted each
	// step ("gaussian:0.3", "masking:0.25", "salt_pepper:0.1"), the target
	// is the clean row. Empty: a plain autoencoder.
	Noise string `json:"noise,omitempty"`
	// Kind is the variant (empty: plain, or denoising when Noise is set).
	// Noise may be combined with any variant.
	Kind Variant `json:"variant,omitempty"`
	// L2 adds ½·L2·Σw² over the weights (not the biases) to the objective,
	// as MATLAB's L2WeightRegularization; any variant.
	L2 float64 `json:"l2,omitempty"`

	SparseConfig
	ContractiveConfig
	VAEConfig
}

// variantKind is one registered variant: its name, its own settings, and
// how it joins the training step.
type variantKind struct {
	name Variant
	// settings lists the variant's own settings and whether each is set;
	// another variant's settings are an error.
	settings func(c *VariantConfig) []setting
	// check validates the settings of a run of this variant.
	check func(c *TrainConfig) error
	// part builds the variant's part of the training step for batches of
	// up to batch rows (nil: the plain step is all it needs).
	part func(t *Trainer, batch int) (part, error)
}

// setting is one variant setting, by its name in messages.
type setting struct {
	name string
	set  bool
}

// registry lists the variants in the order users see them. Adding a
// variant is one file (its config, its part, its variantKind) plus its
// line here.
var registry = []*variantKind{&plainKind, &denoisingKind, &sparseKind, &contractiveKind, &vaeKind}

// Variants are the names of the kinds of autoencoder aegpu trains.
var Variants = func() []string {
	var out []string
	for _, k := range registry {
		out = append(out, string(k.name))
	}
	return out
}()

func kindOf(v Variant) *variantKind {
	for _, k := range registry {
		if k.name == v {
			return k
		}
	}
	return nil
}

var plainKind = variantKind{name: VariantPlain}

// Variant names the kind of autoencoder the settings train.
func (c TrainConfig) Variant() Variant {
	if c.Kind != "" {
		return c.Kind
	}
	if n, _, _ := engine.ParseNoise(c.Noise); c.Noise != "" && n != engine.NoiseNone {
		return VariantDenoising
	}
	return VariantPlain
}

// validateVariant checks that each variant's settings come with it and
// are in range for it.
func (c TrainConfig) validateVariant() error {
	v := c.Variant()
	kind := kindOf(v)
	if kind == nil {
		return fmt.Errorf("unknown variant %q (want %s)", v, strings.Join(Variants, ", "))
	}
	for _, k := range registry {
		if k == kind || k.settings == nil {
			continue
		}
		for _, s := range k.settings(&c.VariantConfig) {
			if s.set {
				return fmt.Errorf("%s is a setting of %s, not of a %s autoencoder", s.name, k.name, v)
			}
		}
	}
	if c.L2 < 0 || math.IsNaN(c.L2) {
		return fmt.Errorf("l2 must be ≥ 0, got %v", c.L2)
	}
	if kind.check != nil {
		return kind.check(&c)
	}
	return nil
}

// penalized reports whether the objective has a penalty term (reported as
// train_penalty): a sparse or contractive model's, or L2.
func (c TrainConfig) penalized() bool {
	v := c.Variant()
	return v == VariantSparse || v == VariantContractive || c.L2 > 0
}

// A part is what a variant (or a regularizer such as L2) adds to the plain
// training step. Each is allocated once per trainer, so that a step stays
// a fixed op sequence a backend can record.
type part interface {
	// preStep draws the step's random inputs. It runs outside any
	// recording: the Philox streams change every step.
	preStep(t *Trainer, v *batchView) error
	// grads adds the part's term to the loss and the gradients at a point
	// of the backward pass (layer: the encoder layer at atLayer). At
	// atLayer, done reports that the part ran that layer's backward itself.
	grads(t *Trainer, v *batchView, at gradPoint, layer int) (done bool, err error)
	// validate adds to the part's validation figures at a point of
	// Validate (row: the validation batch's first row).
	validate(t *Trainer, v *batchView, at valPoint, row int) error
	// metrics adds the part's figures of epoch e (0-based) to em: its
	// training figures, or with val its validation ones.
	metrics(t *Trainer, em *EpochMetrics, e int, val bool) error
}

// gradPoint is a point of the backward pass where parts add their terms.
type gradPoint int

const (
	afterDecoder  gradPoint = iota // the decoder's layers are done (a VAE's heads)
	beforeEncoder                  // the encoder's layers start (tangent penalties)
	atLayer                        // before encoder layer i's backward (activation penalties)
	afterBackward                  // all layers are done (weight penalties)
)

// valPoint is a point of Validate where parts collect their figures.
type valPoint int

const (
	valStart valPoint = iota // before the first batch
	valInput                 // a batch is uploaded, before the forward pass
	valBatch                 // after a batch's forward pass and loss
	valEnd                   // after the last batch
)

// noPart gives a part the hooks it does not need.
type noPart struct{}

func (noPart) preStep(*Trainer, *batchView) error                       { return nil }
func (noPart) grads(*Trainer, *batchView, gradPoint, int) (bool, error) { return false, nil }
func (noPart) validate(*Trainer, *batchView, valPoint, int) error       { return nil }
func (noPart) metrics(*Trainer, *EpochMetrics, int, bool) error         { return nil }

// newParts builds the parts of the trainer's step, in the order their
// hooks run: the input noise, the variant's part, L2.
func (t *Trainer) newParts(batch int) error {
	if t.Cfg.noisy() {
		p, err := newDenoiser(t)
		if err != nil {
			return err
		}
		t.parts = append(t.parts, p)
	}
	if k := kindOf(t.Cfg.Variant()); k.part != nil {
		p, err := k.part(t, batch)
		if err != nil {
			return err
		}
		if p != nil {
			t.parts = append(t.parts, p)
		}
	}
	if t.Cfg.L2 > 0 {
		t.parts = append(t.parts, l2Part{})
	}
	return nil
}
