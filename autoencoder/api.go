package autoencoder

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/aegpu/aegpu/dataset"
	"github.com/aegpu/aegpu/engine"
)

// Options configures an Autoencoder made by New. Zero fields take the
// defaults of `aegpu train`.
type Options struct {
	// Layers are the encoder widths from the input to the latent code; the
	// decoder mirrors them. Layers[0] = 0 takes the data's width at Fit.
	Layers []int
	// Activations by name: Hidden (default relu), Latent (default linear;
	// sigmoid for a sparse model with the KL penalty), Output (default
	// auto: sigmoid when the scaled data lies in [0,1], else linear).
	Hidden, Latent, Output string
	// Tied decoder weights (not for VAEs).
	Tied bool
	// Norm is the hidden layers' normalization: "" or "none", or "layer"
	// (Linear → LayerNorm → activation; aegpu train --norm).
	Norm string
	// Train holds the training settings and the variant (Train.Kind and
	// its fields). Start from DefaultTrainConfig() to change training
	// settings; a Train whose Epochs and Batch are both 0 is taken as
	// DefaultTrainConfig() plus its VariantConfig.
	Train TrainConfig
	// Scale is the feature scaling fitted at Fit: none, minmax, global,
	// standard or auto (the default).
	Scale string
	// Backend runs the model; when nil, Device ("auto", "cpu", "cuda",
	// "cuda:N"; default auto) is opened with engine.Open, which needs the
	// backends linked in: import _ "github.com/aegpu/aegpu/backends".
	Backend engine.Backend
	Device  string
	// Dir, when set, receives checkpoints during Fit (a model directory
	// that `aegpu` commands and Load read). Empty: no files are written.
	// A model already in Dir is replaced, as a whole, by Fit's first
	// checkpoint; Dir is locked while Fit runs.
	Dir string
	// OnEpoch is called after every epoch of Fit.
	OnEpoch func(EpochMetrics)
}

// Autoencoder is the library's scikit-learn-shaped face: New, Fit,
// Transform, InverseTransform, Score, Save, Load. Data are row-major
// float32 slices of whole rows in the data's own units (the fitted scaler
// is applied and inverted inside). An Autoencoder is not safe for
// concurrent use.
type Autoencoder struct {
	opts    Options
	backend engine.Backend
	owned   bool // backend opened by New/Load, closed by Close
	model   *Model
	config  Config
	pred    *Predictor
	metrics []EpochMetrics
}

// New checks the options and opens the device; the model is built by Fit.
func New(opts Options) (*Autoencoder, error) {
	if opts.Train.Epochs == 0 && opts.Train.Batch == 0 {
		variant := opts.Train.VariantConfig
		opts.Train = DefaultTrainConfig()
		opts.Train.VariantConfig = variant
	}
	if err := opts.Train.Validate(); err != nil {
		return nil, err
	}
	if len(opts.Layers) < 2 {
		return nil, fmt.Errorf("options: Layers needs at least an input and a latent width, e.g. {0, 64, 8}")
	}
	for _, s := range []*string{&opts.Hidden, &opts.Output, &opts.Scale} {
		if *s == "" {
			*s = map[*string]string{&opts.Hidden: "relu", &opts.Output: "auto", &opts.Scale: "auto"}[s]
		}
	}
	a := &Autoencoder{opts: opts, backend: opts.Backend}
	if a.backend == nil {
		dev := opts.Device
		if dev == "" {
			dev = "auto"
		}
		b, _, err := engine.Open(dev)
		if err != nil {
			return nil, err
		}
		a.backend, a.owned = b, true
	}
	return a, nil
}

// Fit trains a new model on X (rows × cols). Cancelling ctx stops
// training after the current step (Fit returns ErrInterrupted, wrapped,
// and the model keeps the weights reached so far; with Dir set, a
// checkpoint that `aegpu train --resume` continues). Fit may be called
// again: it starts over.
func (a *Autoencoder) Fit(ctx context.Context, X []float32, cols int) error {
	if cols <= 0 || len(X) == 0 || len(X)%cols != 0 {
		return fmt.Errorf("fit: X must hold whole rows of %d values, got %d values", cols, len(X))
	}
	for i, v := range X {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return fmt.Errorf("fit: X row %d column %d is %v", i/cols, i%cols, v)
		}
	}
	a.release()
	data := &dataset.Table{Rows: len(X) / cols, Cols: cols, Data: X, Shape: []int{len(X) / cols, cols}}
	o := a.opts
	layers := append([]int(nil), o.Layers...)
	if layers[0] == 0 {
		layers[0] = cols
	}
	arch := Arch{Layers: layers, Tied: o.Tied, VAE: o.Train.Variant() == "vae"}
	var err error
	if arch.Norm, err = ParseNorm(o.Norm); err != nil {
		return fmt.Errorf("options.Norm: %w", err)
	}
	if arch.Hidden, err = engine.ParseAct(o.Hidden); err != nil {
		return fmt.Errorf("options.Hidden: %w", err)
	}
	latent := o.Latent
	if latent == "" {
		latent = "linear"
		if o.Train.Variant() == "sparse" && o.Train.SparsityBeta > 0 && len(o.Train.SparseLayers) == 0 {
			latent = "sigmoid"
		}
	}
	if arch.Latent, err = engine.ParseAct(latent); err != nil {
		return fmt.Errorf("options.Latent: %w", err)
	}
	scale := o.Scale
	if scale == "auto" {
		scale = AutoScale(data)
	}
	if o.Output == "auto" {
		arch.Output = AutoOutput(scale, data)
	} else if arch.Output, err = engine.ParseAct(o.Output); err != nil {
		return fmt.Errorf("options.Output: %w", err)
	}
	run, err := NewRun(FitOptions{Data: data, Source: "X", Arch: arch, Train: o.Train, Scale: scale,
		Dir: o.Dir, Replace: true, Backend: a.backend, OnEpoch: o.OnEpoch})
	if err != nil {
		return err
	}
	defer func() { // the model stays; the trainer's buffers and the directory go
		run.Trainer.Free()
		run.release()
	}()
	a.model, a.config = run.Trainer.Model, run.Config
	trainErr := run.Train(ctx)
	a.metrics = run.Trainer.State.Metrics
	if trainErr != nil && !IsInterrupted(trainErr) {
		a.release()
		return trainErr
	}
	if a.pred, err = NewPredictor(a.model, a.config, 1024); err != nil {
		return err
	}
	if trainErr != nil {
		return fmt.Errorf("fit: %w", trainErr)
	}
	return nil
}

// errNotFitted is returned by methods that need a trained model.
var errNotFitted = errors.New("the autoencoder has no model yet: call Fit or Load first")

func (a *Autoencoder) ready(X []float32) (int, error) {
	if a.pred == nil {
		return 0, errNotFitted
	}
	d := a.model.Arch.Input()
	if len(X)%d != 0 {
		return 0, fmt.Errorf("X has %d values, not a whole number of rows of the model's %d inputs", len(X), d)
	}
	return d, nil
}

// Transform returns the latent codes of X's rows (rows × latent; a VAE's μ).
func (a *Autoencoder) Transform(X []float32) ([]float32, error) {
	d, err := a.ready(X)
	if err != nil {
		return nil, err
	}
	return a.pred.Encode(X, d)
}

// InverseTransform decodes latent codes Z (rows × latent) into rows in the
// data's units.
func (a *Autoencoder) InverseTransform(Z []float32) ([]float32, error) {
	if a.pred == nil {
		return nil, errNotFitted
	}
	return a.pred.Decode(Z)
}

// Reconstruct returns InverseTransform(Transform(X)).
func (a *Autoencoder) Reconstruct(X []float32) ([]float32, error) {
	d, err := a.ready(X)
	if err != nil {
		return nil, err
	}
	r, _, err := a.pred.Reconstruct(X, d)
	return r, err
}

// Score returns each row's reconstruction error (mean squared error in the
// model's scaled space, as during training): the anomaly score.
func (a *Autoencoder) Score(X []float32) ([]float32, error) {
	d, err := a.ready(X)
	if err != nil {
		return nil, err
	}
	_, e, err := a.pred.Reconstruct(X, d)
	return e, err
}

// Metrics are the per-epoch figures of the last Fit.
func (a *Autoencoder) Metrics() []EpochMetrics { return a.metrics }

// Model is the trained model (nil before Fit or Load).
func (a *Autoencoder) Model() *Model { return a.model }

// Config is the model's configuration (as its config.json).
func (a *Autoencoder) Config() Config { return a.config }

// Save writes the model directory dir (config.json, model.safetensors and
// their checkpoint.json), which Load and the aegpu commands read; a model
// already in dir is replaced as a unit.
func (a *Autoencoder) Save(dir string) error {
	if a.model == nil {
		return errNotFitted
	}
	return SaveModel(dir, a.model, a.config)
}

// Load opens a model directory written by Save, Fit with Dir, or aegpu
// train, on the device ("auto", "cpu", "cuda", …; backends must be linked
// in, see Options.Backend).
func Load(dir, device string) (*Autoencoder, error) {
	if device == "" {
		device = "auto"
	}
	b, _, err := engine.Open(device)
	if err != nil {
		return nil, err
	}
	m, cfg, err := LoadModel(dir, b)
	if err != nil {
		b.Close()
		return nil, err
	}
	p, err := NewPredictor(m, cfg, 1024)
	if err != nil {
		m.Free()
		b.Close()
		return nil, err
	}
	return &Autoencoder{backend: b, owned: true, model: m, config: cfg, pred: p,
		opts: Options{Layers: cfg.Layers, Train: cfg.Train}}, nil
}

func (a *Autoencoder) release() {
	if a.pred != nil {
		a.pred.Free()
		a.pred = nil
	}
	if a.model != nil {
		a.model.Free()
		a.model = nil
	}
}

// Close frees the model and, if New or Load opened it, the device.
func (a *Autoencoder) Close() error {
	a.release()
	if a.owned && a.backend != nil {
		err := a.backend.Close()
		a.backend = nil
		return err
	}
	return nil
}

// AutoScale is the scaling `--scale auto` picks: global (pixels/255) for
// image data (rows with a 2-D or 3-D shape) outside [0,1], else none. For
// a header-only table (Data nil: data streamed from disk, not read yet)
// image data is scaled globally, which is harmless when it already lies in
// [0,1].
func AutoScale(data *dataset.Table) string {
	if len(data.Shape) >= 3 && (data.Data == nil || !InUnitRange(data.Data)) {
		return dataset.ScaleGlobal
	}
	return dataset.ScaleNone
}

// AutoOutput is the output activation `--output auto` picks: sigmoid when
// the data, scaled as scale says, lies in [0,1], else linear (also for an
// unscaled header-only table, whose range is unknown).
func AutoOutput(scale string, data *dataset.Table) engine.Act {
	if scale == dataset.ScaleMinMax || scale == dataset.ScaleGlobal || (scale == dataset.ScaleNone && data.Data != nil && InUnitRange(data.Data)) {
		return engine.Sigmoid
	}
	return engine.Linear
}
