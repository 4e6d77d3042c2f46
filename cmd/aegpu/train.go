package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/aegpu/aegpu/autoencoder"
	"github.com/aegpu/aegpu/dataset"
	"github.com/aegpu/aegpu/engine"
)

func trainCommand() *cli.Command {
	d := autoencoder.DefaultTrainConfig()
	return &cli.Command{
		Name:  "train",
		Usage: "train an autoencoder and save it to a model directory",
		Description: `Trains an MLP autoencoder on --data (.npy, .csv or IDX; without --data, on
the 10 000 MNIST test digits built into the binary) and writes a model
directory: config.json, model.safetensors (PyTorch names), optimizer state,
state.json, metrics.jsonl and checkpoint.json (every file's SHA-256: 'aegpu
verify' checks them). A checkpoint is saved after every epoch, as a unit: a
kill at any instant leaves the previous checkpoint or the new one. --out is
created by the first checkpoint (--force: replaced then, as a whole) and
locked while a run writes it. Ctrl-C finishes the current step, saves, and
exits with status 130; under mpirun, SIGINT or SIGTERM reaching any rank
stops every rank after the same step, and rank 0 saves.

Under mpirun or srun the ranks train one model together (--distributed):
under Slurm give the step a PMI and end it when a task dies, e.g. srun
--mpi=pmix --kill-on-bad-exit=1 (Open MPI) or --mpi=pmi2 (MPICH).

Continue an interrupted (or finished) run with --resume DIR, giving the same
--data; --epochs may be raised, other settings come from DIR.

Variants: --variant denoising (--noise), sparse (--sparsity-beta/--l1),
contractive (--contractive-lambda), vae (--kl-beta, --kl-warmup); --tied and
--l2 for any but the VAE. --stream trains on .npy, Parquet or Arrow files larger
than memory.

Examples:
  aegpu train                                       # built-in MNIST, 784,512,256,32
  aegpu train --data x.npy --layers 20,12,4 --scale standard --out model
  aegpu train --variant vae --loss bce --kl-warmup 2 --out vae
  aegpu train --data 'big/*.npy' --stream --out big-ae
  aegpu train --resume model --epochs 30`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "data", Usage: "training data `FILE` (.npy, .csv, IDX .gz, .parquet, .arrow); default: the built-in MNIST test digits, or with --resume the data the run was trained on"},
			&cli.StringFlag{Name: "layers", Usage: "encoder widths from input to latent, e.g. 784,512,256,32 (the decoder mirrors them); default: D,512,256,32 for D > 512 columns, else D,⌈3D/4⌉,⌈D/2⌉"},
			&cli.StringFlag{Name: "variant", Value: "plain", Usage: "plain, denoising (with --noise), sparse, contractive or vae"},
			&cli.StringFlag{Name: "noise", Usage: "input corruption of a denoising autoencoder: gaussian:σ, masking:p, salt_pepper:p (implies --variant denoising; may be added to sparse, contractive and vae too)"},
			&cli.BoolFlag{Name: "tied", Usage: "tie the decoder's weights to the encoder's (transposed); not for vae"},
			&cli.Float64Flag{Name: "l2", Usage: "L2 weight regularization: adds ½·λ·Σw² over the weights (not biases) to the objective"},
			&cli.Float64Flag{Name: "l1", Usage: "sparse: L1 penalty weight on the sparse layers' activations (mean over rows of Σ|h|)"},
			&cli.Float64Flag{Name: "sparsity-beta", Value: 1, Usage: "sparse: weight β of the KL sparsity penalty on sigmoid units (0: off)"},
			&cli.Float64Flag{Name: "sparsity-target", Value: 0.05, Usage: "sparse: target mean activation ρ of each unit"},
			&cli.StringFlag{Name: "sparse-layers", Usage: "sparse: encoder layers (1-based, e.g. 1,2) whose outputs are penalized; default: the latent layer"},
			&cli.Float64Flag{Name: "contractive-lambda", Value: 0.01, Usage: "contractive: weight λ of the penalty λ·‖J_f(x)‖²_F on the encoder's Jacobian"},
			&cli.IntFlag{Name: "projections", Value: 1, Usage: "contractive, encoders of 2+ layers: random projections per row of the unbiased ‖J‖² estimator (one-layer encoders are exact)"},
			&cli.Float64Flag{Name: "kl-beta", Value: 1, Usage: "vae: weight β of the KL term (objective = reconstruction + β·KL/d, d the input width)"},
			&cli.Float64Flag{Name: "kl-warmup", Usage: "vae: epochs over which β ramps linearly from 0"},
			&cli.StringFlag{Name: "hidden", Value: "relu", Usage: "hidden activation: relu, leaky_relu, tanh, sigmoid, gelu, linear"},
			&cli.StringFlag{Name: "norm", Value: "none", Usage: "normalization of the hidden layers: none, or layer for Linear → LayerNorm (learned gain and bias, eps 1e-5, as nn.LayerNorm) → activation in each hidden layer of the encoder and decoder (not the code's layer or the output); with --hidden relu, leaky_relu or linear; not with --variant contractive"},
			&cli.StringFlag{Name: "latent-act", Value: "linear", Usage: "activation of the latent code"},
			&cli.StringFlag{Name: "output", Value: "auto", Usage: "output activation: auto (sigmoid when the scaled data lies in [0,1], else linear), sigmoid, linear, …"},
			&cli.StringFlag{Name: "loss", Value: d.Loss, Usage: "reconstruction loss: mse, bce (needs a sigmoid output and data in [0,1])"},
			&cli.StringFlag{Name: "epochs", Value: strconv.Itoa(d.Epochs), Usage: "passes over the training data, or auto: as many as fit --time or --samples (the schedule and warm-up span them)"},
			&cli.DurationFlag{Name: "time", Usage: "a time budget (e.g. 10m, 1h30m; implies --epochs auto): an epoch is timed first on a model of its own, the run gets the epochs that fit, and stops after the epoch past which the next would end over the budget"},
			&cli.StringFlag{Name: "samples", Usage: "a budget of training rows visited in all (e.g. 50M; K, M, G: 10³, 10⁶, 10⁹; implies --epochs auto): ⌈samples / training rows⌉ epochs"},
			&cli.IntFlag{Name: "batch", Value: d.Batch, Usage: "samples per optimizer step"},
			&cli.StringFlag{Name: "optimizer", Value: d.Optimizer, Usage: "adam, adamw, sgd (with --momentum)"},
			&cli.StringFlag{Name: "lr", Value: strconv.FormatFloat(d.LR, 'g', -1, 64), Usage: "learning rate, or auto: a range test on a model of its own (300 steps, the rate growing from 1e-7 to 10) picks the rate where the smoothed loss falls fastest, prints the curve, and the run trains at it"},
			&cli.StringFlag{Name: "lr-plot", Usage: "with --lr auto: draw the range test's curve into this `PNG` file"},
			&cli.Float64Flag{Name: "weight-decay", Value: d.WeightDecay, Usage: "L2 penalty (adam, sgd) or decoupled decay (adamw)"},
			&cli.Float64Flag{Name: "momentum", Value: d.Momentum, Usage: "SGD momentum (0 for plain SGD)"},
			&cli.Float64Flag{Name: "beta1", Value: d.Beta1, Usage: "Adam β1"},
			&cli.Float64Flag{Name: "beta2", Value: d.Beta2, Usage: "Adam β2"},
			&cli.Float64Flag{Name: "eps", Value: d.Eps, Usage: "Adam ε"},
			&cli.StringFlag{Name: "schedule", Value: d.Schedule, Usage: "learning-rate schedule: constant, cosine (to --min-lr over the run), step (×--gamma every --step-size epochs)"},
			&cli.Float64Flag{Name: "min-lr", Value: d.MinLR, Usage: "final learning rate of the cosine schedule"},
			&cli.Float64Flag{Name: "warmup", Value: d.Warmup, Usage: "`EPOCHS` (fractions allowed) over which the learning rate rises linearly to the schedule's, step by step; cosine then falls over the rest"},
			&cli.Float64Flag{Name: "ema", Usage: "keep an exponential moving average of the weights with this `DECAY` per step (e.g. 0.999; bias-corrected, so early epochs are not pulled toward the initial weights): validation, model.safetensors, best.safetensors and the finished model use the average; the raw weights train on and are kept for --resume (0: off)"},
			&cli.StringFlag{Name: "init", Value: initDefault(d.Init), Usage: "weight initialisation: pytorch (nn.Linear's: uniform ±1/√fan_in, biases too), kaiming (uniform ±gain·√(3/fan_in) with the gain of the layer's activation, biases 0), xavier (uniform ±gain·√(6/(fan_in+fan_out)), biases 0), mixed (kaiming for the layers followed by relu, leaky_relu or gelu, pytorch for the others)"},
			&cli.IntFlag{Name: "step-size", Value: d.StepSize, Usage: "epochs between decays of the step schedule"},
			&cli.Float64Flag{Name: "gamma", Value: d.Gamma, Usage: "decay factor of the step schedule"},
			&cli.Float64Flag{Name: "clip-norm", Usage: "clip the global gradient norm to this value (0: off)"},
			&cli.StringFlag{Name: "precision", Usage: "arithmetic of the matrix products: fp32 (default), or tf32 / bf16 on a GPU with tensor cores (compute capability ≥ 8.0): operands rounded to 10 (tf32) or 7 (bf16) mantissa bits, fp32 accumulation, weights, gradients and optimizer; recorded in config.json (a resumed run keeps its precision unless this is given)"},
			&cli.Uint64Flag{Name: "seed", Value: d.Seed, Usage: "seed of every random choice (init, split, shuffling); same seed, same run"},
			&cli.Float64Flag{Name: "val-split", Value: d.ValSplit, Usage: "fraction of rows held out for validation (0: none)"},
			&cli.IntFlag{Name: "patience", Usage: "stop after this many epochs without a better validation loss, keeping the best weights (0: off)"},
			&cli.BoolFlag{Name: "no-shuffle", Usage: "visit training rows in file order"},
			&cli.StringFlag{Name: "scale", Value: "auto", Usage: "feature scaling fitted on the training rows and stored with the model: none, minmax (each feature to [0,1]), global (all values together to [0,1], e.g. pixels/255), standard (zero mean, unit variance), auto (global for images outside [0,1], else none)"},
			&cli.StringFlag{Name: "nan", Value: "error", Usage: "rows with NaN/Inf: error, skip, zero"},
			columnsFlag,
			&cli.StringFlag{Name: "image-shape", Usage: "HxW of image rows, recorded for image tools (IDX data sets it)"},
			comparePCAFlag,
			&cli.StringFlag{Name: "images", Usage: "after training, draw validation rows as a PNG grid (inputs, [noisy inputs,] reconstructions) to `FILE`"},
			&cli.StringFlag{Name: "out", Aliases: []string{"o"}, Value: "aegpu-model", Usage: "model `DIR` to create"},
			&cli.BoolFlag{Name: "force", Usage: "replace a model already in --out: the directory is replaced as a whole once the new run's first checkpoint is complete (until then it keeps the old model)"},
			&cli.StringFlag{Name: "resume", Usage: "continue the run saved in model `DIR`"},
			&cli.BoolFlag{Name: "stream", Usage: "train on data larger than memory (uncompressed .npy, Parquet or Arrow): read --data (a file or glob) in chunks, shuffling the chunk order and the rows inside each chunk every epoch (Parquet row groups stay whole: their chunks are read in order)"},
			&cli.IntFlag{Name: "chunk-rows", Value: 65536, Usage: "with --stream: rows per chunk (memory ≈ 2 chunks + validation rows, at most 50 000)"},
			deviceFlag,
			distributedFlag,
			mpiTimeoutFlag,
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "print nothing but errors"},
			&cli.BoolFlag{Name: "json", Usage: "print a JSON summary on stdout at the end"},
		},
		Action: runTrain,
	}
}

// loadData reads the data chooseData picks into memory and says which.
func loadData(c *cli.Context, quiet bool, modelDir string) (*dataset.Table, dataChoice, error) {
	d, err := chooseData(c, modelDir)
	if err != nil {
		return nil, d, err
	}
	t, err := d.load(c, quiet)
	return t, d, err
}

// defaultLayers is the architecture used when --layers is not given.
func defaultLayers(d int) []int {
	if d > 512 {
		return []int{d, 512, 256, 32}
	}
	return []int{d, max((3*d+3)/4, 1), max((d+1)/2, 1)}
}

func parseImageShape(s string) ([]int, error) {
	if s == "" {
		return nil, nil
	}
	parts := strings.Split(strings.ToLower(s), "x")
	var out []int
	for _, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("--image-shape %q: want HxW such as 28x28", s)
		}
		out = append(out, n)
	}
	if len(out) != 2 && len(out) != 3 {
		return nil, fmt.Errorf("--image-shape %q: want HxW or HxWxC", s)
	}
	return out, nil
}

// lrOf is --lr's rate, or the default's with --lr auto (until the range
// test replaces it); flagcheck has refused anything else.
func lrOf(c *cli.Context) float64 {
	lr, auto, err := parseLR(c)
	if auto || err != nil {
		return autoencoder.DefaultTrainConfig().LR
	}
	return lr
}

// initDefault names the default initialisation ("" is nn.Linear's).
func initDefault(s string) string {
	if s == "" {
		return autoencoder.InitPyTorch
	}
	return s
}

func trainConfig(c *cli.Context) autoencoder.TrainConfig {
	cfg := autoencoder.TrainConfig{
		Epochs: epochsOf(c), Batch: c.Int("batch"), Loss: c.String("loss"),
		Optimizer: c.String("optimizer"), LR: lrOf(c), Beta1: c.Float64("beta1"),
		Beta2: c.Float64("beta2"), Eps: c.Float64("eps"), Momentum: c.Float64("momentum"),
		WeightDecay: c.Float64("weight-decay"), Schedule: c.String("schedule"),
		StepSize: c.Int("step-size"), Gamma: c.Float64("gamma"), MinLR: c.Float64("min-lr"),
		ClipNorm: c.Float64("clip-norm"), Seed: c.Uint64("seed"), ValSplit: c.Float64("val-split"),
		Patience: c.Int("patience"), Shuffle: !c.Bool("no-shuffle"), Precision: c.String("precision"),
		Warmup: c.Float64("warmup"), Init: c.String("init"), EMA: c.Float64("ema"),
	}
	if cfg.Init == autoencoder.InitPyTorch {
		cfg.Init = "" // as config.json has always recorded nn.Linear's initialisation
	}
	if !c.IsSet("warmup") { // the default warm-up: one epoch, at most a tenth of the run
		cfg.Warmup = min(cfg.Warmup, float64(cfg.Epochs)/10)
	}
	cfg.Noise, cfg.L2 = c.String("noise"), c.Float64("l2")
	return cfg
}

// variantConfig sets the variant and its settings from the flags.
func variantConfig(c *cli.Context, cfg *autoencoder.TrainConfig) error {
	v := c.String("variant")
	if v == "plain" && c.String("noise") != "" {
		v = "denoising"
	}
	cfg.Kind = autoencoder.Variant(v)
	only := map[string][]string{
		"sparse":      {"l1", "sparsity-beta", "sparsity-target", "sparse-layers"},
		"contractive": {"contractive-lambda", "projections"},
		"vae":         {"kl-beta", "kl-warmup"},
	}
	for owner, flags := range only {
		for _, f := range flags {
			if c.IsSet(f) && v != owner {
				return fmt.Errorf("--%s is a setting of --variant %s (this run is %s)", f, owner, v)
			}
		}
	}
	switch v {
	case "sparse":
		cfg.SparsityL1, cfg.SparsityBeta, cfg.SparsityTarget = c.Float64("l1"), c.Float64("sparsity-beta"), c.Float64("sparsity-target")
		if s := c.String("sparse-layers"); s != "" {
			for _, f := range strings.Split(s, ",") {
				n, err := strconv.Atoi(strings.TrimSpace(f))
				if err != nil {
					return fmt.Errorf("--sparse-layers %q: %q is not a layer number", s, f)
				}
				cfg.SparseLayers = append(cfg.SparseLayers, n)
			}
		}
	case "contractive":
		cfg.Contractive, cfg.Projections = c.Float64("contractive-lambda"), c.Int("projections")
	case "vae":
		cfg.KLBeta, cfg.KLWarmup = c.Float64("kl-beta"), c.Float64("kl-warmup")
	}
	return nil
}

// newTrainRun builds a fresh run from the flags.
// job, when not nil, is the data-parallel job whose ranks open the run at
// once (autoencoder.RunSpec.Job: a streamed run's pass split over them,
// rank 0's measurements for all).
func newTrainRun(c *cli.Context, data *dataset.Table, source string, b engine.Backend, rep *reporter, stream []string, out string, job autoencoder.Collective) (*autoencoder.Run, error) {
	layers := defaultLayers(data.Cols)
	if s := c.String("layers"); s != "" {
		var err error
		if layers, err = autoencoder.ParseLayers(s); err != nil {
			return nil, err
		}
	}
	cfg := trainConfig(c)
	if err := variantConfig(c, &cfg); err != nil {
		return nil, err
	}
	epochs := cfg.Epochs
	a := autoencoder.Arch{Layers: layers, Tied: c.Bool("tied"), VAE: cfg.Kind == "vae"}
	var err error
	if a.Norm, err = autoencoder.ParseNorm(c.String("norm")); err != nil {
		return nil, fmt.Errorf("--norm: %w", err)
	}
	if a.Hidden, err = engine.ParseAct(c.String("hidden")); err != nil {
		return nil, fmt.Errorf("--hidden: %w", err)
	}
	latent := c.String("latent-act")
	switch {
	case cfg.Kind == "sparse" && !c.IsSet("latent-act") && cfg.SparsityBeta > 0 && len(cfg.SparseLayers) == 0:
		latent = "sigmoid" // the KL sparsity penalty is defined on units in (0,1)
		rep.printf("latent activation: sigmoid (the KL sparsity penalty needs units in (0,1))\n")
	case cfg.Kind == "vae" && latent != "linear":
		return nil, fmt.Errorf("--latent-act %s: a VAE's code is the linear μ/log σ² heads' sample; leave --latent-act out", latent)
	}
	if a.Latent, err = engine.ParseAct(latent); err != nil {
		return nil, fmt.Errorf("--latent-act: %w", err)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	scale := c.String("scale")
	if scale == "auto" {
		if scale = autoencoder.AutoScale(data); scale == dataset.ScaleGlobal {
			rep.printf("scaling: global (image data, values mapped together onto [0,1]); --scale none to keep them\n")
		}
	}
	if o := c.String("output"); o == "auto" {
		a.Output = autoencoder.AutoOutput(scale, data)
		switch {
		case data.Data == nil && a.Output == engine.Linear:
			rep.printf("output activation: linear (--stream cannot check the data lies in [0,1] before training; --output sigmoid if it does)\n")
		default:
			rep.printf("output activation: %s (data %s in [0,1])\n", a.Output, map[bool]string{true: "lies", false: "does not lie"}[a.Output == engine.Sigmoid])
		}
	} else if a.Output, err = engine.ParseAct(o); err != nil {
		return nil, fmt.Errorf("--output: %w", err)
	}
	img, err := parseImageShape(c.String("image-shape"))
	if err != nil {
		return nil, err
	}
	if err := checkImageShapeFlag(c.String("image-shape"), img, data.Cols); err != nil {
		return nil, err
	}
	if img == nil && len(data.Shape) == 3 {
		img = data.Shape[1:]
	}
	opts := autoencoder.FitOptions{
		Data: data, Source: source, Arch: a, Train: cfg, Scale: scale, ImageShape: img,
		Columns: columnsOf(c), Dir: out, Replace: c.Bool("force"), Backend: b, OnProgress: rep.progress,
		OnEpoch: func(m autoencoder.EpochMetrics) { rep.epoch(m, epochs) },
	}
	if _, auto, _ := parseLR(c); auto {
		opts.LRFind = &autoencoder.LRFindOptions{}
	}
	budget, err := budgetOf(c)
	if err != nil {
		return nil, err
	}
	opts.Budget = budget
	var run *autoencoder.Run
	if stream != nil {
		if c.Int("chunk-rows") < 1 {
			return nil, fmt.Errorf("--chunk-rows must be ≥ 1")
		}
		split, share := "", ""
		if job != nil {
			split, share = fmt.Sprintf(", split over the %d ranks", job.Size()), " (rank 0's share)"
		}
		rep.printf("streaming %s in chunks of %d rows: one pass to fit the scaler and hold out validation rows%s…\n", source, c.Int("chunk-rows"), split)
		run, err = autoencoder.OpenRun(autoencoder.RunSpec{Fit: opts, Paths: stream, ChunkRows: c.Int("chunk-rows"), Job: job})
		if err == nil {
			rows, secs := run.StreamPass()
			rep.printf("the pass read %d rows in %.1fs%s\n", rows, secs, share)
		}
	} else {
		run, err = autoencoder.OpenRun(autoencoder.RunSpec{Fit: opts, Job: job})
	}
	if err != nil {
		return nil, err
	}
	epochs = run.Config.Train.Epochs // a budget's (the OnEpoch lines count to it)
	if run.LRRange != nil {
		if err := reportLRRange(rep, run.LRRange, c.String("lr-plot")); err != nil {
			run.Close()
			return nil, err
		}
	}
	switch {
	case budget != nil && budget.Samples > 0:
		rep.printf("budget: %d samples → %s\n", budget.Samples, plural(epochs, "epoch"))
	case budget != nil:
		rep.printf("budget: %s, an epoch timed at %.2fs → %s (the run stops early if epochs turn out slower)\n",
			time.Duration(budget.Seconds*float64(time.Second)), run.BudgetEpochSeconds, plural(epochs, "epoch"))
	}
	return run, nil
}

// applyPrecision sets the backend's precision from a --precision value
// (engine.SetPrecision: the CPU backend, or a GPU before compute capability
// 8.0, refuses tf32 and bf16 with the reason).
func applyPrecision(b engine.Backend, s string, rep *reporter) error {
	p, err := engine.ParsePrecision(s)
	if err != nil {
		return fmt.Errorf("--precision: %w", err)
	}
	if err := engine.SetPrecision(b, p); err != nil {
		return err
	}
	if p != engine.FP32 && rep != nil {
		rep.printf("precision: %s (tensor cores; fp32 accumulation and weights)\n", p)
	}
	return nil
}

// outError explains an error about the model directory dir in terms of
// the flags.
func outError(err error, dir string) error {
	if errors.Is(err, autoencoder.ErrHoldsModel) {
		return fmt.Errorf("%s already holds a model: continue it with --resume %s, or pass --force to replace it", dir, dir)
	}
	return err
}

func runTrain(c *cli.Context) (err error) {
	quiet := c.Bool("quiet")
	comm, err := startDistributed(c.String("distributed"))
	if err != nil {
		return err
	}
	rank := 0
	if comm != nil {
		defer comm.Finalize()
		defer func() {
			if err != nil {
				abortJob(comm, err)
			}
		}()
		if rank = comm.Rank(); rank != 0 {
			quiet = true // rank 0 reports and writes
		}
	}
	rep := newReporter(os.Stderr, quiet)
	resume := c.String("resume")
	if resume == "" && rank == 0 {
		// Before reading any data; checked again, under the directory's
		// lock, when the run starts.
		if err := autoencoder.CheckNewDir(c.String("out"), c.Bool("force")); err != nil {
			return outError(err, c.String("out"))
		}
	}
	choice, err := chooseData(c, resume)
	if err != nil {
		return err
	}
	if resume != "" && !choice.Streamed { // a streamed run resumes streaming, on whatever data is given
		if cfg, err := autoencoder.ReadConfig(resume); err == nil && cfg.Data.Streamed {
			choice.Streamed = true
		}
	}
	var data *dataset.Table
	var source string
	var stream []string
	if c.Bool("stream") || choice.Streamed {
		if data, stream, err = streamHeader(c, choice, quiet); err != nil {
			return err
		}
		choice.announce(quiet, data.Rows, data.Cols)
		source = strings.Join(stream, ",")
	} else {
		if data, err = choice.load(c, quiet); err != nil {
			return err
		}
		source = choice.Name()
	}
	// The ranks open the run together (only rank 0 writes it; of a
	// resumed run, rank 0 first takes and repairs the directory, which the
	// others then read): they split a streamed run's preparing pass, and
	// take rank 0's measurements (a time budget's epoch, --lr auto's pick).
	var job autoencoder.Collective
	if comm != nil {
		job = comm
	}
	spec, err := rankDevice(c.String("device"), comm)
	if err != nil {
		return err
	}
	b, err := openDeviceSpec(spec, quiet)
	if err != nil {
		return err
	}
	defer b.Close()
	if c.IsSet("precision") { // before anything is written
		if err := applyPrecision(b, c.String("precision"), rep); err != nil {
			return err
		}
	}

	var run *autoencoder.Run
	if dir := resume; dir != "" {
		epochs := 0
		if c.IsSet("epochs") {
			epochs = epochsOf(c)
		}
		rs := autoencoder.RunSpec{Resume: dir, Epochs: epochs, Paths: stream, Follower: rank != 0, Job: job,
			Fit: autoencoder.FitOptions{Data: data, Backend: b, OnProgress: rep.progress}}
		if stream != nil {
			rs.Fit.Data = nil // the data is read from the paths
		}
		var r *autoencoder.Run
		r, err = autoencoder.OpenRun(rs)
		if err == nil {
			r.Trainer.OnEpoch = func(m autoencoder.EpochMetrics) { rep.epoch(m, r.Config.Train.Epochs) }
			st := r.Trainer.State
			if st.Finished {
				rep.printf("%s already finished (%s after %s); raise --epochs to train further\n", dir, st.StopReason, plural(st.Epoch, "epoch"))
			} else {
				rep.printf("resuming %s at epoch %d, batch %d (step %d)\n", dir, st.Epoch+1, st.Batch, st.Step)
			}
		}
		run = r
	} else {
		out := c.String("out")
		if rank != 0 {
			out = "" // rank 0 writes the model directory
		}
		run, err = newTrainRun(c, data, source, b, rep, stream, out, job)
		err = outError(err, c.String("out"))
	}
	if err != nil {
		return err
	}
	defer run.Close()
	if comm != nil {
		how, err := joinGPUs(comm, b, c.Duration("mpi-timeout"))
		if err != nil {
			return err
		}
		if err := run.Trainer.SetCollective(comm); err != nil {
			return err
		}
		rep.printf("distributed: %d ranks started by %s (%s, %s)%s; each computes its share of every batch of %d rows\n",
			comm.Size(), comm.Launch.Launcher, comm.Lib.Version, comm.Lib.Path, how, run.Config.Train.Batch)
	}
	if run.Cleaned > 0 {
		rep.printf("removed %d file(s) (%.1f MB) that killed runs left in %s\n", run.Cleaned, float64(run.CleanedBytes)/1e6, run.Dir)
	}
	if p := run.Config.Train.Precision; !c.IsSet("precision") && p != "" { // a resumed run's own
		if err := applyPrecision(b, p, rep); err != nil {
			return fmt.Errorf("%s was trained with precision %s: %w", run.Dir, p, err)
		}
	}
	cfg := run.Config
	norm := ""
	if run.Trainer.Model.Arch.Norm == autoencoder.NormLayer {
		norm = ", LayerNorm"
	}
	rep.printf("model %s (%s%s, %d parameters), %s loss, %s lr %g, batch %d, %s; %d training rows, %d validation rows\n",
		cfg.Variant, run.Trainer.Model.Arch, norm, cfg.Params, cfg.Train.Loss, cfg.Train.Optimizer, cfg.Train.LR, cfg.Train.Batch, plural(cfg.Train.Epochs, "epoch"), cfg.Data.TrainRows, cfg.Data.ValRows)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if comm != nil {
		watchCollectives(comm, c.Duration("mpi-timeout"))
	}
	err = run.Train(ctx)
	rep.clear()
	st := run.Trainer.State
	switch {
	case autoencoder.IsInterrupted(err):
		ee := &exitError{code: 130, err: fmt.Errorf("%w at epoch %d, step %d; checkpoint saved in %s — continue with: %s train --resume %s",
			err, st.Epoch+1, st.Step, run.Dir, selfName(), run.Dir)}
		if comm != nil {
			// Every rank stopped after the same step and rank 0 saved.
			// Rank 0 says so before any rank exits: a launcher ends the
			// job at the first exit with a non-zero status.
			if rank == 0 {
				fmt.Fprintln(os.Stderr, "aegpu:", ee.err)
			}
			ee.reported = true
			if err := comm.Barrier(); err != nil {
				return err
			}
		}
		return ee
	case err != nil:
		var nanErr *autoencoder.NaNError
		if errors.As(err, &nanErr) {
			return &exitError{code: 1, err: fmt.Errorf("%s — retrain with a lower --lr (this run: %g) or with --clip-norm (e.g. 1)", nanErr.Detail(), cfg.Train.LR)}
		}
		return err
	}
	if rank != 0 {
		return nil // rank 0 reports and writes the outputs
	}
	summary := map[string]any{
		"model_dir": run.Dir, "device": b.Info().String(), "epochs": st.Epoch, "steps": st.Step,
		"stop_reason": st.StopReason, "train_seconds": st.TrainSeconds, "parameters": cfg.Params,
	}
	if n := len(st.Metrics); n > 0 {
		last := st.Metrics[n-1]
		summary["train_loss"] = last.TrainLoss
		summary["samples_per_sec"] = last.SamplesPerSec
		if last.ValLoss != nil {
			summary["val_loss"] = *last.ValLoss
		}
		if st.BestEpoch > 0 {
			summary["best_epoch"], summary["best_val_loss"] = st.BestEpoch, st.BestVal
		}
	}
	if stream != nil && (c.Bool("compare-pca") || c.String("images") != "") {
		rep.printf("--compare-pca and --images need the data in memory: skipped with --stream\n")
	} else if c.Bool("compare-pca") && !c.Bool("quiet") {
		if err := trainPCAComparison(run, data); err != nil {
			return err
		}
	}
	if path := c.String("images"); path != "" && stream == nil {
		what, err := trainImages(path, run, data)
		if err != nil {
			return err
		}
		rep.printf("wrote %s: %s (validation rows)\n", path, what)
	}
	if st.StopReason == "early_stopping" {
		rep.printf("early stopping: no better validation loss for %s; kept the weights of epoch %d (val %.5f)\n", plural(cfg.Train.Patience, "epoch"), st.BestEpoch, st.BestVal)
	}
	rep.printf("saved %s (%s, %s); next: %s encode --model %s --out codes.npy (the training data's latent codes; --data for other data)\n",
		run.Dir, autoencoder.ConfigFile, autoencoder.WeightsFile, selfName(), run.Dir)
	if c.Bool("json") {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(summary)
	}
	return nil
}

// trainImages draws the run's first validation rows (or first rows, with
// no validation split) with the trained model.
func trainImages(path string, run *autoencoder.Run, data *dataset.Table) (string, error) {
	cfg := run.Config
	_, val := autoencoder.Split(data.Rows, cfg.Train.ValSplit, cfg.Train.Seed)
	if len(val) == 0 {
		val = []int{0, 1, 2, 3, 4, 5, 6, 7}[:min(gridColumns, data.Rows)]
	}
	rows := data.Gather(val[:min(gridColumns, len(val))])
	p, err := autoencoder.NewPredictor(run.Trainer.Model, cfg, gridColumns)
	if err != nil {
		return "", err
	}
	defer p.Free()
	return writeImageGrid(path, p, rows, data.Cols, cfg.Train.Seed)
}

// streamHeader opens the data with a dataset.Reader to learn its width and row shape
// (a header-only table: no values) for a --stream run.
func streamHeader(c *cli.Context, d dataChoice, quiet bool) (*dataset.Table, []string, error) {
	if d.Builtin() {
		return nil, nil, fmt.Errorf("--stream needs --data (.npy, Parquet or Arrow files: a file or a glob)")
	}
	st, err := dataset.OpenReader(d.Paths, dataset.ReaderOptions{Columns: columnsOf(c)})
	if err != nil {
		return nil, nil, err
	}
	defer st.Close()
	if st.Rows() < 0 {
		return nil, nil, fmt.Errorf("--stream reads uncompressed .npy, Parquet and Arrow files (random access); %s is not one", d.Name())
	}
	noteSkipped(quiet, d.Name(), st.Skipped())
	shape := append([]int{int(st.Rows())}, st.Shape()...)
	if len(st.Shape()) == 1 {
		shape = []int{int(st.Rows()), st.Cols()}
	}
	return &dataset.Table{Rows: int(st.Rows()), Cols: st.Cols(), Shape: shape}, st.Files(), nil
}
