package main

import (
	"cmp"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/aegpu/aegpu/autoencoder"
	"github.com/aegpu/aegpu/dataset"
	"github.com/aegpu/aegpu/engine"
	"github.com/aegpu/aegpu/internal/safetensors"
)

func exportCommand() *cli.Command {
	return &cli.Command{
		Name:  "export",
		Usage: "write a model's weights as a PyTorch-named safetensors file (e.g. the encoder, for pretraining), or the model as an ONNX graph",
		Description: `Writes the model's weights with PyTorch nn.Sequential names (encoder.0.weight
[out, in], encoder.0.bias, …; a VAE's fc_mu and fc_logvar) to --out. A tied
model's decoder weights are written out as its encoder's transposed, so the
file loads with load_state_dict into the modules --print-pytorch shows.
--encoder-only leaves the decoder out (an encoder-only model, made by
importing such a file, is always exported so). The metadata records the
layers, activations and the input scaler (inputs must be scaled as it says:
(x − offset) · scale); aegpu import reads them back.

--print-pytorch prints Python code that defines the modules the file holds
(no decoder with --encoder-only), loads the file into them (safetensors'
load_file) and reads the input scaler from its metadata.

--format onnx (the default for an --out ending in .onnx) writes a standard
ONNX model (opset 17, or --opset up to 21; float32; the batch dimension
dynamic) that ONNX runtimes run: input x (rows in the data's units) →
outputs reconstruction (what aegpu reconstruct writes) and code (what aegpu
encode writes; a VAE's mu and logvar, its decoder reading mu).
--encoder-only: x → code; --decoder-only: input code → reconstruction. The
scaler is in the graph: (x − offset) · scale first, its inverse
y / scale + offset last; --no-scaler leaves it out (inputs and outputs in
the model's scaled space). The model's doc_string states what the graph
computes.

Examples:
  aegpu export --model mnist-ae --encoder-only --out encoder.safetensors --print-pytorch
  aegpu export --model mnist-ae --out mnist-ae.onnx`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "model", Aliases: []string{"m"}, Required: true, Usage: "model `DIR`"},
			&cli.StringFlag{Name: "out", Aliases: []string{"o"}, Required: true, Usage: "output `FILE` (.safetensors or .onnx)"},
			&cli.StringFlag{Name: "format", Usage: "safetensors or onnx (default: by --out's extension)"},
			&cli.BoolFlag{Name: "encoder-only", Usage: "only the encoder (and a VAE's heads)"},
			&cli.BoolFlag{Name: "decoder-only", Usage: "onnx: only the decoder (codes in, reconstructions out)"},
			&cli.BoolFlag{Name: "no-scaler", Usage: "onnx: leave the input scaler and its inverse out of the graph"},
			&cli.IntFlag{Name: "opset", Value: autoencoder.ONNXOpsetDefault, Usage: "onnx: the ONNX opset to write (17 to 21)"},
			&cli.BoolFlag{Name: "print-pytorch", Usage: "safetensors: print the PyTorch modules the file loads into and the code that loads it"},
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "print nothing but errors"},
		},
		Action: runExport,
	}
}

// exportFormat is export's --format, or the one --out's extension names.
func exportFormat(c *cli.Context) (string, error) {
	format, ext := c.String("format"), strings.ToLower(filepath.Ext(c.String("out")))
	switch {
	case format == "" && ext == ".onnx":
		format = "onnx"
	case format == "":
		format = "safetensors"
	case format != "onnx" && format != "safetensors":
		return "", fmt.Errorf("--format %s: want safetensors or onnx", format)
	}
	var only []string
	for _, f := range []string{"decoder-only", "no-scaler", "opset"} {
		if c.IsSet(f) && format != "onnx" {
			only = append(only, "--"+f)
		}
	}
	if len(only) > 0 {
		return "", fmt.Errorf("%s: only for ONNX exports (--format onnx, or an --out ending in .onnx)", strings.Join(only, ", "))
	}
	if c.Bool("print-pytorch") && format == "onnx" {
		return "", fmt.Errorf("--print-pytorch is for safetensors exports; an ONNX file's doc_string says what it computes")
	}
	if c.Bool("encoder-only") && c.Bool("decoder-only") {
		return "", fmt.Errorf("--encoder-only and --decoder-only: give one (neither exports the whole model)")
	}
	return format, nil
}

func runExport(c *cli.Context) error {
	format, err := exportFormat(c)
	if err != nil {
		return err
	}
	var outs outputSet
	defer outs.abort()
	tmp, err := outs.add(c, "out", "."+format)
	if err != nil {
		return err
	}
	m, cfg, done, err := openModel(c, "cpu")
	if err != nil {
		return err
	}
	defer done()
	if format == "onnx" {
		return exportONNX(c, m, cfg, tmp, &outs)
	}
	return exportSafetensors(c, m, cfg, tmp, &outs)
}

// exportONNX writes the ONNX export to tmp and commits it.
func exportONNX(c *cli.Context, m *autoencoder.Model, cfg autoencoder.Config, tmp string, outs *outputSet) error {
	opts := autoencoder.ONNXOptions{NoScaler: c.Bool("no-scaler"), Opset: c.Int("opset")}
	switch {
	case c.Bool("encoder-only") || m.Arch.EncoderOnly && !c.Bool("decoder-only"):
		opts.Part = autoencoder.ONNXEncoder
	case c.Bool("decoder-only"):
		opts.Part = autoencoder.ONNXDecoder
	}
	if m.Arch.EncoderOnly && opts.Part == autoencoder.ONNXDecoder {
		return &autoencoder.EncoderOnlyError{Model: c.String("model"), Source: cfg.Data.Source, Op: "export a decoder",
			Hint: "export its encoder (--encoder-only), or the decoder of the model it was exported from"}
	}
	if err := m.WriteONNX(tmp, cfg, opts); err != nil {
		return err
	}
	if err := outs.commit(); err != nil {
		return err
	}
	if !c.Bool("quiet") {
		scaler := "the input scaler in the graph"
		if opts.NoScaler || cfg.Scaler.Kind == "" || cfg.Scaler.Kind == dataset.ScaleNone {
			scaler = "no scaling in the graph"
		}
		fmt.Fprintf(os.Stderr, "wrote %s: ONNX opset %d, %s of %s, %s\n", c.String("out"), opts.Opset, opts.Part, m.Arch, scaler)
	}
	return nil
}

// exportSafetensors writes the safetensors export to tmp and commits it.
func exportSafetensors(c *cli.Context, m *autoencoder.Model, cfg autoencoder.Config, tmp string, outs *outputSet) error {
	out := c.String("out")
	enc := c.Bool("encoder-only") || m.Arch.EncoderOnly // an encoder-only model has nothing else
	ts, err := m.ExportTensors(enc)
	if err != nil {
		return err
	}
	if err := safetensors.WriteFile(tmp, ts, autoencoder.ExportMetadata(cfg, enc)); err != nil {
		return err
	}
	if err := outs.commit(); err != nil {
		return err
	}
	if c.Bool("print-pytorch") {
		a := m.Arch
		a.Tied = false // the export holds the decoder weights
		a.EncoderOnly = enc
		fmt.Print(autoencoder.PyTorchLoadCode(a, out, cfg.Scaler))
	}
	if !c.Bool("quiet") {
		n := 0
		for _, t := range ts {
			n += len(t.Data)
		}
		fmt.Fprintf(os.Stderr, "wrote %s: %d tensors, %d parameters (%s)\n", out, len(ts), n, map[bool]string{true: "encoder", false: "encoder and decoder"}[enc])
	}
	return nil
}

func importCommand() *cli.Command {
	return &cli.Command{
		Name:  "import",
		Usage: "make a model directory from PyTorch-saved safetensors weights",
		Description: `Reads a safetensors state dict of an nn.Sequential autoencoder (encoder.N /
decoder.N Linear layers, as aegpu export writes and as
safetensors.torch.save_file(model.state_dict()) writes for the modules
Arch.PyTorch prints; F32, F64, F16 or BF16) and writes a model directory that
encode, reconstruct, score and generate use. The layer widths are read from
the weights.

A file without decoder.N tensors (aegpu export --encoder-only, or an
encoder's state dict) makes an encoder-only model: aegpu encode and export
use it; reconstruct, score, denoise, generate and train --resume need a
decoder and refuse it.

The activations and the input scaler are read from the metadata of a file
aegpu export wrote; the flags override them, and give them for files from
elsewhere (the hidden activation decides the nn.Sequential indices). Inputs
of such files are used unscaled unless --scaler-from names an aegpu model
directory whose scaler to copy.

Example:
  aegpu import --weights torch_ae.safetensors --hidden relu --output sigmoid --out imported
  aegpu encode --model imported --data x.npy --out codes.npy
  aegpu export --model mnist-ae --encoder-only --out enc.safetensors
  aegpu import --weights enc.safetensors --out mnist-enc   # encodes as mnist-ae`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "weights", Aliases: []string{"w"}, Required: true, Usage: "safetensors `FILE`"},
			&cli.StringFlag{Name: "out", Aliases: []string{"o"}, Required: true, Usage: "model `DIR` to create"},
			&cli.StringFlag{Name: "hidden", Value: "relu", Usage: "hidden activation (default: the file's aegpu metadata, else relu)"},
			&cli.StringFlag{Name: "latent-act", Value: "linear", Usage: "latent activation (default: the file's aegpu metadata, else linear)"},
			&cli.StringFlag{Name: "output", Value: "sigmoid", Usage: "output activation (default: the file's aegpu metadata, else sigmoid; unused without a decoder)"},
			&cli.StringFlag{Name: "scaler-from", Usage: "copy the input scaler of this aegpu model `DIR` (default: the file's aegpu metadata, else none)"},
			&cli.StringFlag{Name: "image-shape", Usage: "HxW of image rows"},
			&cli.BoolFlag{Name: "force", Usage: "overwrite a model already in --out"},
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "print nothing but errors"},
		},
		Action: runImport,
	}
}

func runImport(c *cli.Context) error {
	out, src := c.String("out"), c.String("weights")
	if _, err := os.Stat(filepath.Join(out, autoencoder.ConfigFile)); err == nil && !c.Bool("force") {
		return fmt.Errorf("%s already holds a model; pass --force to overwrite it", out)
	}
	f, err := safetensors.ReadFile(src)
	if err != nil {
		return err
	}
	layers, vae, err := autoencoder.InferLayers(f.Tensors)
	if err != nil {
		return fmt.Errorf("%s: %w", src, err)
	}
	info, err := autoencoder.ReadExportInfo(f.Metadata)
	if err != nil {
		return fmt.Errorf("%s: %w", src, err)
	}
	encOnly := !autoencoder.HasDecoder(f.Tensors)
	if encOnly && info.Part == "encoder+decoder" {
		return fmt.Errorf("%s: its metadata says it holds the encoder and the decoder, but it has no decoder.N tensors", src)
	}
	quiet := c.Bool("quiet")
	img, err := parseImageShape(c.String("image-shape"))
	if err != nil {
		return err
	}
	if err := checkImageShapeFlag(c.String("image-shape"), img, layers[0]); err != nil {
		return err
	}
	a := autoencoder.Arch{Layers: layers, VAE: vae, EncoderOnly: encOnly}
	// --norm layer's nn.LayerNorm modules: recorded in the metadata, or
	// seen as 1-D encoder.N.weight / decoder.N.weight tensors.
	if a.Norm, err = autoencoder.ParseNorm(info.Norm); err != nil {
		return fmt.Errorf("%s: metadata aegpu_norm: %w", src, err)
	}
	if a.Norm == autoencoder.NormNone {
		a.Norm = autoencoder.InferNorm(f.Tensors)
	}
	for _, p := range []struct {
		flag, recorded string
		dst            *engine.Act
	}{{"hidden", info.Hidden, &a.Hidden}, {"latent-act", info.Latent, &a.Latent}, {"output", info.Output, &a.Output}} {
		if p.flag == "output" && encOnly {
			continue // no decoder, no output layer
		}
		name := c.String(p.flag)
		if !c.IsSet(p.flag) && p.recorded != "" {
			name = p.recorded
		} else if p.recorded != "" && name != p.recorded && !quiet {
			fmt.Fprintf(os.Stderr, "--%s %s overrides the %s activation %s records\n", p.flag, name, p.recorded, src)
		}
		if *p.dst, err = engine.ParseAct(name); err != nil {
			return fmt.Errorf("--%s: %w", p.flag, err)
		}
	}
	if vae {
		a.Latent = engine.Linear
	}
	scaler, scalerFrom := dataset.Scaler{Kind: dataset.ScaleNone}, "none"
	if d := c.String("scaler-from"); d != "" {
		sc, err := autoencoder.ReadConfig(d)
		if err != nil {
			return err
		}
		scaler, scalerFrom = sc.Scaler, d
	} else if info.Scaler != nil {
		scaler, scalerFrom = *info.Scaler, "the file's metadata"
	}
	b, _, err := engine.Open("cpu")
	if err != nil {
		return err
	}
	defer b.Close()
	cfg, err := autoencoder.Import(out, f.Tensors, a, scaler, src, b)
	if err != nil {
		return err
	}
	if img != nil {
		cfg.ImageShape = img
		if err := autoencoder.WriteConfig(out, cfg); err != nil {
			return err
		}
	}
	if !quiet {
		kind, note := cfg.Variant, ""
		if encOnly {
			kind, note = "encoder-only "+kind, " (no decoder: it encodes only)"
		}
		fmt.Fprintf(os.Stderr, "wrote %s: %s %s, %d parameters%s; input scaler %s (%s)\n", out, kind, a, a.NumParams(), note, cmp.Or(scaler.Kind, dataset.ScaleNone), scalerFrom)
	}
	return nil
}

// encoderOnlyCommands are the commands that can use an encoder-only model
// (an import of an encoder-only export): the others need its decoder.
var encoderOnlyCommands = []string{"encode", "export"}

// checkEncoderOnly refuses an encoder-only model to a command that needs
// the decoder; openModel calls it.
func checkEncoderOnly(c *cli.Context, cfg autoencoder.Config) error {
	if !cfg.EncoderOnly || c.Command == nil || slices.Contains(encoderOnlyCommands, c.Command.Name) {
		return nil
	}
	op := c.Command.Name
	switch op {
	case "score":
		op = "score rows"
	case "generate":
		op = "generate rows"
	case "reconstruct", "denoise":
	default:
		op = "run aegpu " + op
	}
	return &autoencoder.EncoderOnlyError{Model: c.String("model"), Source: cfg.Data.Source, Op: op}
}
