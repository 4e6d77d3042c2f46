package autoencoder

import (
	"encoding/json"
	"fmt"
	"math"

	"github.com/aegpu/aegpu/dataset"
	"github.com/aegpu/aegpu/engine"
)

// TrainConfig holds every setting of a training run.
type TrainConfig struct {
	Epochs      int     `json:"epochs"`
	Batch       int     `json:"batch"`
	Loss        string  `json:"loss"`      // mse, bce
	Optimizer   string  `json:"optimizer"` // adam, adamw, sgd
	LR          float64 `json:"lr"`
	Beta1       float64 `json:"beta1"`
	Beta2       float64 `json:"beta2"`
	Eps         float64 `json:"eps"`
	Momentum    float64 `json:"momentum"`
	WeightDecay float64 `json:"weight_decay"`
	Schedule    string  `json:"schedule"`  // constant, cosine, step
	StepSize    int     `json:"step_size"` // epochs between decays (step)
	Gamma       float64 `json:"gamma"`     // decay factor (step)
	MinLR       float64 `json:"min_lr"`    // floor (cosine)
	ClipNorm    float64 `json:"clip_norm"` // 0: no clipping
	Seed        uint64  `json:"seed"`
	ValSplit    float64 `json:"val_split"` // fraction held out for validation
	Patience    int     `json:"patience"`  // epochs without improvement; 0: off
	Shuffle     bool    `json:"shuffle"`
	// Noise makes a denoising autoencoder: the input is corrupted each
	// step ("gaussian:0.3", "masking:0.25", "salt_pepper:0.1"), the target
	// is the clean row. Empty: a plain autoencoder.
	Noise string `json:"noise,omitempty"`
}

// DefaultTrainConfig is what the CLI uses when a flag is not given.
func DefaultTrainConfig() TrainConfig {
	return TrainConfig{
		Epochs: 10, Batch: 256, Loss: "mse", Optimizer: "adam", LR: 1e-3,
		Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, Momentum: 0.9,
		Schedule: "constant", StepSize: 10, Gamma: 0.1,
		Seed: 1, ValSplit: 0.1, Shuffle: true,
	}
}

// Validate checks the settings and says which one is wrong.
func (c TrainConfig) Validate() error {
	switch {
	case c.Epochs < 1:
		return fmt.Errorf("epochs must be ≥ 1, got %d", c.Epochs)
	case c.Batch < 1:
		return fmt.Errorf("batch must be ≥ 1, got %d", c.Batch)
	case !(c.LR > 0) || math.IsInf(c.LR, 0):
		return fmt.Errorf("learning rate must be a positive number, got %v", c.LR)
	case c.ValSplit < 0 || c.ValSplit >= 1:
		return fmt.Errorf("validation split must be in [0, 1), got %v", c.ValSplit)
	case c.Patience < 0:
		return fmt.Errorf("patience must be ≥ 0, got %d", c.Patience)
	case c.ClipNorm < 0:
		return fmt.Errorf("clip norm must be ≥ 0, got %v", c.ClipNorm)
	case c.WeightDecay < 0:
		return fmt.Errorf("weight decay must be ≥ 0, got %v", c.WeightDecay)
	case c.Beta1 < 0 || c.Beta1 >= 1 || c.Beta2 < 0 || c.Beta2 >= 1:
		return fmt.Errorf("betas must be in [0, 1), got %v, %v", c.Beta1, c.Beta2)
	case c.Momentum < 0 || c.Momentum >= 1:
		return fmt.Errorf("momentum must be in [0, 1), got %v", c.Momentum)
	}
	if _, err := engine.ParseOpt(c.Optimizer); err != nil {
		return err
	}
	if c.Noise != "" {
		if _, _, err := engine.ParseNoise(c.Noise); err != nil {
			return err
		}
	}
	if c.Loss != "mse" && c.Loss != "bce" {
		return fmt.Errorf("unknown loss %q (want mse or bce)", c.Loss)
	}
	switch c.Schedule {
	case "constant", "cosine":
	case "step":
		if c.StepSize < 1 || !(c.Gamma > 0) {
			return fmt.Errorf("step schedule needs step size ≥ 1 and gamma > 0, got %d and %v", c.StepSize, c.Gamma)
		}
	default:
		return fmt.Errorf("unknown lr schedule %q (want constant, cosine or step)", c.Schedule)
	}
	return nil
}

// Variant names the kind of autoencoder the settings train.
func (c TrainConfig) Variant() string {
	if n, _, _ := engine.ParseNoise(c.Noise); c.Noise != "" && n != engine.NoiseNone {
		return "denoising"
	}
	return "plain"
}

// lrAt is the learning rate for optimizer step t (0-based) in epoch e
// (0-based) of a run with total steps.
func (c TrainConfig) lrAt(t int64, e int, total int64) float64 {
	switch c.Schedule {
	case "cosine":
		if total <= 1 {
			return c.LR
		}
		frac := float64(t) / float64(total)
		return c.MinLR + (c.LR-c.MinLR)*0.5*(1+math.Cos(math.Pi*frac))
	case "step":
		return c.LR * math.Pow(c.Gamma, float64(e/c.StepSize))
	}
	return c.LR
}

// Config is a model directory's config.json: everything needed to rebuild
// the model and use it on new data.
type Config struct {
	Format     int            `json:"format"`
	Version    string         `json:"aegpu_version"`
	Variant    string         `json:"variant"`
	Layers     []int          `json:"layers"`
	Hidden     string         `json:"hidden_activation"`
	Latent     string         `json:"latent_activation"`
	Output     string         `json:"output_activation"`
	Params     int            `json:"parameters"`
	Scaler     dataset.Scaler `json:"scaler"`
	ImageShape []int          `json:"image_shape,omitempty"`
	Train      TrainConfig    `json:"train"`
	Data       DataInfo       `json:"data"`
}

// DataInfo identifies the training data, so a resume can check it is given
// the same data.
type DataInfo struct {
	Source      string `json:"source"`
	Rows        int    `json:"rows"`
	Cols        int    `json:"cols"`
	Fingerprint string `json:"fingerprint"`
	TrainRows   int    `json:"train_rows"`
	ValRows     int    `json:"val_rows"`
}

// FormatVersion is the model directory format written by this version.
const FormatVersion = 1

// Arch returns the architecture described by c.
func (c Config) Arch() (Arch, error) {
	a := Arch{Layers: c.Layers}
	var err error
	if a.Hidden, err = engine.ParseAct(c.Hidden); err != nil {
		return a, fmt.Errorf("hidden_activation: %w", err)
	}
	if a.Latent, err = engine.ParseAct(c.Latent); err != nil {
		return a, fmt.Errorf("latent_activation: %w", err)
	}
	if a.Output, err = engine.ParseAct(c.Output); err != nil {
		return a, fmt.Errorf("output_activation: %w", err)
	}
	return a, a.Validate()
}

// SetArch records a in c.
func (c *Config) SetArch(a Arch) {
	c.Layers = append([]int(nil), a.Layers...)
	c.Hidden, c.Latent, c.Output = a.Hidden.String(), a.Latent.String(), a.Output.String()
	c.Params = a.NumParams()
}

func (c Config) marshal() ([]byte, error) {
	b, err := json.MarshalIndent(c, "", "  ")
	return append(b, '\n'), err
}
