package main

import (
	"fmt"
	"os"
	"path/filepath"
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
		Usage: "write a model's weights as a PyTorch-named safetensors file (e.g. the encoder, for pretraining)",
		Description: `Writes the model's weights with PyTorch nn.Sequential names (encoder.0.weight
[out, in], encoder.0.bias, …; a VAE's fc_mu and fc_logvar) to --out. A tied
model's decoder weights are written out as its encoder's transposed, so the
file loads with load_state_dict into the modules --print-pytorch shows. The
metadata records the layers, activations and the input scaler (inputs must
be scaled as it says: (x − offset) · scale).

Example (pretraining: initialise a classifier with the trained encoder):
  aegpu export --model mnist-ae --encoder-only --out encoder.safetensors --print-pytorch`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "model", Aliases: []string{"m"}, Required: true, Usage: "model `DIR`"},
			&cli.StringFlag{Name: "out", Aliases: []string{"o"}, Required: true, Usage: "output `FILE` (.safetensors)"},
			&cli.BoolFlag{Name: "encoder-only", Usage: "only the encoder (and a VAE's heads)"},
			&cli.BoolFlag{Name: "print-pytorch", Usage: "print the PyTorch modules the file loads into"},
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "print nothing but errors"},
		},
		Action: runExport,
	}
}

func runExport(c *cli.Context) error {
	out := c.String("out")
	if ext := strings.ToLower(filepath.Ext(out)); ext != ".safetensors" {
		return fmt.Errorf("--out %s: want a .safetensors file", out)
	}
	m, cfg, done, err := openModel(c, "cpu")
	if err != nil {
		return err
	}
	defer done()
	enc := c.Bool("encoder-only")
	ts, err := m.ExportTensors(enc)
	if err != nil {
		return err
	}
	if err := safetensors.WriteFile(out, ts, autoencoder.ExportMetadata(cfg, enc)); err != nil {
		return err
	}
	if c.Bool("print-pytorch") {
		a := m.Arch
		a.Tied = false // the export holds the decoder weights
		fmt.Print(a.PyTorch())
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
the weights; the activations are given by flags (they decide the
nn.Sequential indices). Inputs are used unscaled unless --scaler-from names
an aegpu model directory whose scaler to copy.

Example:
  aegpu import --weights torch_ae.safetensors --hidden relu --output sigmoid --out imported
  aegpu encode --model imported --data x.npy --out codes.npy`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "weights", Aliases: []string{"w"}, Required: true, Usage: "safetensors `FILE`"},
			&cli.StringFlag{Name: "out", Aliases: []string{"o"}, Required: true, Usage: "model `DIR` to create"},
			&cli.StringFlag{Name: "hidden", Value: "relu", Usage: "hidden activation"},
			&cli.StringFlag{Name: "latent-act", Value: "linear", Usage: "latent activation"},
			&cli.StringFlag{Name: "output", Value: "sigmoid", Usage: "output activation"},
			&cli.StringFlag{Name: "scaler-from", Usage: "copy the input scaler of this aegpu model `DIR`"},
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
	a := autoencoder.Arch{Layers: layers, VAE: vae}
	for _, p := range []struct {
		flag string
		dst  *engine.Act
	}{{"hidden", &a.Hidden}, {"latent-act", &a.Latent}, {"output", &a.Output}} {
		if *p.dst, err = engine.ParseAct(c.String(p.flag)); err != nil {
			return fmt.Errorf("--%s: %w", p.flag, err)
		}
	}
	if vae {
		a.Latent = engine.Linear
	}
	scaler := dataset.Scaler{Kind: dataset.ScaleNone}
	if d := c.String("scaler-from"); d != "" {
		sc, err := autoencoder.ReadConfig(d)
		if err != nil {
			return err
		}
		scaler = sc.Scaler
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
	if img, err := parseImageShape(c.String("image-shape")); err != nil {
		return err
	} else if img != nil {
		cfg.ImageShape = img
		if err := autoencoder.WriteConfig(out, cfg); err != nil {
			return err
		}
	}
	if !c.Bool("quiet") {
		fmt.Fprintf(os.Stderr, "wrote %s: %s %s, %d parameters\n", out, cfg.Variant, a, a.NumParams())
	}
	return nil
}
