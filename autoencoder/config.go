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
	// Warmup is a number of epochs (fractions allowed) over which the
	// rate rises linearly to the schedule's, step by step; the cosine
	// schedule then falls over the steps after it. 0: none.
	Warmup float64 `json:"warmup,omitempty"`
	// EMA, when in (0, 1), keeps an exponential moving average of the
	// weights with this decay per step (ema.go): validation, the saved
	// model and the finished run use the average. 0: off.
	EMA float64 `json:"ema,omitempty"`
	// TimeBudget, when > 0, stops the run (stop reason "time") after the
	// epoch past which another would end more than 5% beyond this many
	// seconds of training and validation (Budget). 0: none.
	TimeBudget float64 `json:"time_budget,omitempty"`
	// Init is the weight initialisation (InitPyTorch, InitKaiming,
	// InitXavier, InitMixed); "" is InitPyTorch, the runs before it was a
	// setting.
	Init     string  `json:"init,omitempty"`
	ClipNorm float64 `json:"clip_norm"` // 0: no clipping
	Seed     uint64  `json:"seed"`
	ValSplit float64 `json:"val_split"` // fraction held out for validation
	Patience int     `json:"patience"`  // epochs without improvement; 0: off
	Shuffle  bool    `json:"shuffle"`
	// VariantConfig: the variant (Kind, Noise) and its settings.
	VariantConfig

	// Precision of the matrix products (engine.ParsePrecision): "fp32"
	// (also ""), "tf32" or "bf16" on a GPU with tensor cores. The caller applies
	// it to the backend (engine.SetPrecision); the trainer only records it.
	Precision string `json:"precision,omitempty"`
}

// DefaultTrainConfig is what the CLI uses when a flag is not given: Adam
// at 3e-3 after a one-epoch linear warm-up, falling by a cosine to 1e-5,
// batch 128, nn.Linear's init. It was chosen by measurement over MNIST,
// Fashion-MNIST, the breast-cancer table and a synthetic low-rank table
// (docs/recipe-study.md): at the same epochs its held-out error is below
// LegacyTrainConfig's on every one of them.
func DefaultTrainConfig() TrainConfig {
	c := LegacyTrainConfig()
	c.Batch, c.LR, c.Schedule, c.MinLR, c.Warmup = 128, 3e-3, "cosine", 1e-5, 1
	return c
}

// LegacyTrainConfig is aegpu's first default recipe: Adam at 1e-3, a
// constant rate, batch 256, nn.Linear's init. The pinned runs, the CPU–GPU
// parity runs and the speed benchmark (whose PyTorch reference trains so)
// use it.
func LegacyTrainConfig() TrainConfig {
	return TrainConfig{
		Epochs: 10, Batch: 256, Loss: "mse", Optimizer: "adam", LR: 1e-3,
		Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, Momentum: 0.9,
		Schedule: "constant", StepSize: 10, Gamma: 0.1,
		Seed: 1, ValSplit: 0.1, Shuffle: true,
	}
}

// Validate checks the settings and says which one is wrong, by its field
// name: every number must be finite and in its range (the rates, weights
// and ε within float32's, as the kernels compute in float32), so that no
// setting can turn training into NaN or leave config.json unwritable.
func (c TrainConfig) Validate() error {
	for _, f := range []struct {
		name string
		v    float64
		in   interval
	}{
		{"LR", c.LR, interval{lo: 0, hi: maxF32, loOpen: true}},
		{"Beta1", c.Beta1, interval{lo: 0, hi: 1, hiOpen: true}},
		{"Beta2", c.Beta2, interval{lo: 0, hi: 1, hiOpen: true}},
		{"Eps", c.Eps, interval{lo: 0, hi: 1, loOpen: true}},
		{"Momentum", c.Momentum, interval{lo: 0, hi: 1, hiOpen: true}},
		{"WeightDecay", c.WeightDecay, interval{lo: 0, hi: maxF32}},
		{"Gamma", c.Gamma, interval{lo: 0, hi: maxF32}},
		{"MinLR", c.MinLR, interval{lo: 0, hi: maxF32}},
		{"ClipNorm", c.ClipNorm, interval{lo: 0, hi: maxF32}},
		{"ValSplit", c.ValSplit, interval{lo: 0, hi: 1, hiOpen: true}},
		{"L2", c.L2, interval{lo: 0, hi: maxF32}},
		{"SparsityL1", c.SparsityL1, interval{lo: 0, hi: maxF32}},
		{"SparsityBeta", c.SparsityBeta, interval{lo: 0, hi: maxF32}},
		{"SparsityTarget", c.SparsityTarget, interval{lo: 0, hi: 1}},
		{"Contractive", c.Contractive, interval{lo: 0, hi: maxF32}},
		{"KLBeta", c.KLBeta, interval{lo: 0, hi: maxF32}},
		{"KLWarmup", c.KLWarmup, interval{lo: 0, hi: maxF32}},
		{"EMA", c.EMA, interval{lo: 0, hi: 1, hiOpen: true}},
		{"TimeBudget", c.TimeBudget, interval{lo: 0, hi: maxF32}},
	} {
		if !f.in.contains(f.v) {
			return fmt.Errorf("TrainConfig.%s is %v: must be a number in %s", f.name, f.v, f.in)
		}
	}
	for _, f := range []struct {
		name   string
		v      int
		lo, hi int
	}{
		{"Epochs", c.Epochs, 1, math.MaxInt},
		{"Batch", c.Batch, 1, math.MaxInt},
		{"Patience", c.Patience, 0, math.MaxInt},
		{"StepSize", c.StepSize, 0, math.MaxInt},
		{"Projections", c.Projections, 0, maxProjections},
	} {
		if f.v < f.lo || f.v > f.hi {
			if f.hi == math.MaxInt {
				return fmt.Errorf("TrainConfig.%s is %d: must be ≥ %d", f.name, f.v, f.lo)
			}
			return fmt.Errorf("TrainConfig.%s is %d: must be in %d..%d", f.name, f.v, f.lo, f.hi)
		}
	}
	if w := (interval{lo: 0, hi: float64(c.Epochs)}); !w.contains(c.Warmup) {
		return fmt.Errorf("TrainConfig.Warmup is %v: must be a number in %s (the warm-up is part of the run's epochs)", c.Warmup, w)
	}
	if c.Schedule == "cosine" && c.MinLR > c.LR {
		return fmt.Errorf("TrainConfig.MinLR %v is above LR %v: the cosine schedule falls from LR to MinLR", c.MinLR, c.LR)
	}
	if _, err := engine.ParseOpt(c.Optimizer); err != nil {
		return err
	}
	if _, err := engine.ParsePrecision(c.Precision); err != nil {
		return err
	}
	if c.Noise != "" {
		if _, _, err := engine.ParseNoise(c.Noise); err != nil {
			return err
		}
	}
	if err := c.validateVariant(); err != nil {
		return err
	}
	if _, err := parseInit(c.Init); err != nil {
		return err
	}
	if c.Loss != "mse" && c.Loss != "bce" {
		return fmt.Errorf("unknown loss %q (want mse or bce)", c.Loss)
	}
	switch c.Schedule {
	case "constant", "cosine":
	case "step":
		if c.StepSize < 1 || !(c.Gamma > 0) {
			return fmt.Errorf("the step schedule needs StepSize ≥ 1 and Gamma > 0, got %d and %v", c.StepSize, c.Gamma)
		}
	default:
		return fmt.Errorf("unknown lr schedule %q (want constant, cosine or step)", c.Schedule)
	}
	return nil
}

// maxF32 is the largest float32: rates and weights above it become +Inf in
// the kernels.
const maxF32 = math.MaxFloat32

// maxProjections bounds TrainConfig.Projections (0 means 1).
const maxProjections = 64

// interval is a range of numbers: [lo, hi], with either end open.
type interval struct {
	lo, hi         float64
	loOpen, hiOpen bool
}

// contains reports whether v is in the interval (NaN never is).
func (in interval) contains(v float64) bool {
	return (v > in.lo || !in.loOpen && v == in.lo) && (v < in.hi || !in.hiOpen && v == in.hi)
}

// String writes the interval as in mathematics, e.g. [0, 1) or (0, 3.4e+38].
func (in interval) String() string {
	l, r := "[", "]"
	if in.loOpen {
		l = "("
	}
	if in.hiOpen {
		r = ")"
	}
	return fmt.Sprintf("%s%.3g, %.3g%s", l, in.lo, in.hi, r)
}

// CheckImageShape checks an image shape ([H W] or [H W C], nil for none)
// against the data's width: its product must be cols.
func CheckImageShape(shape []int, cols int) error {
	if shape == nil {
		return nil
	}
	if len(shape) != 2 && len(shape) != 3 {
		return fmt.Errorf("image shape %v: want [H W] or [H W C]", shape)
	}
	n := 1
	for _, d := range shape {
		if d < 1 || d > cols {
			return fmt.Errorf("image shape %v: each dimension must be in 1..%d (the data's columns)", shape, cols)
		}
		n *= d
		if n > cols {
			break
		}
	}
	if n != cols {
		return fmt.Errorf("image shape %v has %d values per image (at least), but the data has %d columns", shape, n, cols)
	}
	return nil
}

// lrAt is the learning rate for optimizer step t (0-based) in epoch e
// (0-based) of a run with total steps, perEpoch of them an epoch.
func (c TrainConfig) lrAt(t int64, e int, total, perEpoch int64) float64 {
	w := c.warmupSteps(perEpoch)
	lr := c.LR
	switch c.Schedule {
	case "cosine":
		if total-w > 1 && t >= w {
			frac := float64(t-w) / float64(total-w)
			lr = c.MinLR + (c.LR-c.MinLR)*0.5*(1+math.Cos(math.Pi*frac))
		}
	case "step":
		lr = c.LR * math.Pow(c.Gamma, float64(e/c.StepSize))
	}
	if t < w {
		lr *= float64(t+1) / float64(w)
	}
	return lr
}

// warmupSteps is the number of warm-up steps: Warmup epochs of perEpoch
// steps, rounded.
func (c TrainConfig) warmupSteps(perEpoch int64) int64 {
	return int64(math.Round(c.Warmup * float64(perEpoch)))
}

// Config is a model directory's config.json: everything needed to rebuild
// the model and use it on new data.
type Config struct {
	Format  int            `json:"format"`
	Version string         `json:"aegpu_version"`
	Variant Variant        `json:"variant"`
	Layers  []int          `json:"layers"`
	Hidden  string         `json:"hidden_activation"`
	Latent  string         `json:"latent_activation"`
	Output  string         `json:"output_activation"`
	Params  int            `json:"parameters"`
	Scaler  dataset.Scaler `json:"scaler"`
	Tied    bool           `json:"tied,omitempty"`
	// Norm is the hidden layers' normalization ("layer"; absent: none, as
	// in every config written before --norm existed).
	Norm       string      `json:"norm,omitempty"`
	ImageShape []int       `json:"image_shape,omitempty"`
	Train      TrainConfig `json:"train"`
	Data       DataInfo    `json:"data"`
	// EncoderOnly: the model has no decoder (an import of an encoder-only
	// export); it encodes and nothing else, and Output is empty.
	EncoderOnly bool `json:"encoder_only,omitempty"`
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
	// Streamed runs read .npy files in chunks of ChunkRows rows instead of
	// loading them (aegpu train --stream).
	Streamed bool `json:"streamed,omitempty"`
	// Columns are the feature columns selected from Parquet/Arrow input
	// (FitOptions.Columns; empty: every numeric column).
	Columns   []string `json:"columns,omitempty"`
	Paths     []string `json:"paths,omitempty"`
	ChunkRows int      `json:"chunk_rows,omitempty"`
}

// FormatVersion is the model directory format written by this version.
const FormatVersion = 1

// Arch returns the architecture described by c.
func (c Config) Arch() (Arch, error) {
	a := Arch{Layers: c.Layers, Tied: c.Tied, VAE: c.Variant == "vae", EncoderOnly: c.EncoderOnly}
	var err error
	if a.Norm, err = ParseNorm(c.Norm); err != nil {
		return a, fmt.Errorf("norm: %w", err)
	}
	if a.Hidden, err = engine.ParseAct(c.Hidden); err != nil {
		return a, fmt.Errorf("hidden_activation: %w", err)
	}
	if a.Latent, err = engine.ParseAct(c.Latent); err != nil {
		return a, fmt.Errorf("latent_activation: %w", err)
	}
	if !c.EncoderOnly || c.Output != "" { // an encoder-only model has no output layer
		if a.Output, err = engine.ParseAct(c.Output); err != nil {
			return a, fmt.Errorf("output_activation: %w", err)
		}
	}
	return a, a.Validate()
}

// NewConfig is the config.json of a model of architecture a trained with
// train on data, scaled by scaler: the one place a Config is built.
func NewConfig(a Arch, train TrainConfig, scaler dataset.Scaler, data DataInfo) Config {
	c := Config{Format: FormatVersion, Version: Version, Variant: train.Variant(), Scaler: scaler, Train: train, Data: data}
	c.SetArch(a)
	return c
}

// SetArch records a in c.
func (c *Config) SetArch(a Arch) {
	c.Layers = append([]int(nil), a.Layers...)
	c.Hidden, c.Latent, c.Output = a.Hidden.String(), a.Latent.String(), a.Output.String()
	c.Tied, c.EncoderOnly = a.Tied, a.EncoderOnly
	c.Norm = string(a.Norm)
	if a.EncoderOnly {
		c.Output = ""
	}
	c.Params = a.NumParams()
}

func (c Config) marshal() ([]byte, error) {
	b, err := json.MarshalIndent(c, "", "  ")
	return append(b, '\n'), err
}
