package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/aegpu/aegpu/autoencoder"
	"github.com/aegpu/aegpu/dataset"
	"github.com/aegpu/aegpu/engine"
	"github.com/aegpu/aegpu/viz"
)

func vizCommand() *cli.Command {
	return &cli.Command{
		Name:  "viz",
		Usage: "watch and steer training in the browser: network, samples, latent space, loss, errors",
		Description: `Starts a local web server with an interactive view of a real training run
and prints its URL. Without --data it trains an 8 → 4 → 8 autoencoder on
built-in toy data (8-D points from 4 latent factors plus noise); with --data
(.npy, .csv, IDX) on that data, drawn as images when it has an image shape
(MNIST IDX files do). --model starts from a trained model directory.

The page shows the network, the selected sample's input, latent code and
reconstruction with per-feature error, live train and validation loss, the
latent space (PCA when wider than 2-D) coloured by label, the histogram of
reconstruction errors with the anomaly threshold, and for VAEs generated
samples and a latent traversal. Start, pause and reset training and change
the learning rate, latent size, variant, noise, patience and sample from the
page. The page shows the best validation loss so far and the step it was
reached at; with --patience N (or the page's patience) training stops when
the validation loss, computed after every epoch, has not improved for N
epochs, and the weights of the best epoch are restored, as aegpu train
--patience does. Start then goes on from them.

Everything is served from the binary; nothing is fetched from the network.
The server listens on loopback unless --addr says otherwise.

Examples:
  aegpu viz
  aegpu viz --data data/mnist/t10k-images-idx3-ubyte.gz --labels data/mnist/t10k-labels-idx1-ubyte.gz --layers 784,128,2
  aegpu viz --data data/mnist/t10k-images-idx3-ubyte.gz --layers 784,128,32 --patience 5`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "data", Usage: "training data `FILE` (.npy, .csv, IDX .gz); default: the built-in 8-D toy data"},
			columnsFlag,
			&cli.StringFlag{Name: "labels", Usage: "class labels `FILE` (IDX, .npy, one-column .csv), one per row, to colour the latent space"},
			&cli.StringFlag{Name: "model", Usage: "model `DIR` (aegpu train's) to start from; its data: --data, else the data it was trained on"},
			&cli.StringFlag{Name: "layers", Usage: "encoder widths from input to latent, e.g. 784,128,2 (the decoder mirrors them); default: 8,4 for the toy data, D,⌈D/2⌉ up to 16 columns, D,⌈D/2⌉,⌈D/8⌉ up to 128, else D,128,16"},
			&cli.StringFlag{Name: "addr", Value: "127.0.0.1:8080", Usage: "listen `HOST:PORT` (port 0: any free port); a non-loopback host is reachable from the network"},
			&cli.Uint64Flag{Name: "seed", Value: 1, Usage: "seed of the split, the weights, shuffling and noise"},
			&cli.IntFlag{Name: "patience", Usage: fmt.Sprintf("early stopping: stop after this many epochs without a better validation loss, restoring the best weights (0: off; at most %d); the page can change it", viz.MaxPatience)},
			deviceFlag,
		},
		Action: runViz,
	}
}

func runViz(c *cli.Context) error {
	addr := c.String("addr")
	loopback, err := viz.CheckAddr(addr)
	if err != nil {
		return fmt.Errorf("--addr: %w", err)
	}
	o, err := vizOptions(c)
	if err != nil {
		return err
	}
	b, note, err := engine.Open(c.String("device"))
	if err != nil {
		return err
	}
	defer b.Close()
	fmt.Fprintln(c.App.ErrWriter, note)
	o.Backend, o.DeviceNote, o.LoopbackOnly = b, note, loopback
	srv, err := viz.New(o)
	if err != nil {
		return err
	}
	defer srv.Close()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", addr, err)
	}
	if !loopback {
		fmt.Fprintf(c.App.ErrWriter, "warning: %s is not a loopback address: anyone who can reach this machine on the network can watch and control training\n", addr)
	}
	host := ln.Addr().String()
	if a, ok := ln.Addr().(*net.TCPAddr); ok && a.IP.IsUnspecified() {
		host = net.JoinHostPort("127.0.0.1", fmt.Sprint(a.Port))
	}
	fmt.Fprintf(c.App.Writer, "aegpu viz: open http://%s/ (Ctrl-C stops)\n", host)
	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()
	return srv.Serve(ctx, ln)
}

// vizOptions reads the data, labels, layers and patience the flags name.
func vizOptions(c *cli.Context) (viz.Options, error) {
	o := viz.Options{Seed: c.Uint64("seed"), ModelDir: c.String("model")}
	o.Settings.Patience = c.Int("patience")
	if p := o.Settings.Patience; p < 0 || p > viz.MaxPatience {
		return o, fmt.Errorf("--patience must be an integer in [0, %d] (epochs without a better validation loss; 0: off), got %d", viz.MaxPatience, p)
	}
	path := c.String("data")
	switch {
	case path != "":
		t, err := dataset.Load(path, dataset.LoadOptions{})
		if err != nil {
			return o, err
		}
		o.Data, o.Source = t, filepath.Base(path)
	case o.ModelDir != "":
		d, err := recordedData(o.ModelDir) // the data it was trained on
		if err != nil {
			return o, err
		}
		if d.Builtin() {
			t, labels, err := dataset.Builtin()
			if err != nil {
				return o, err
			}
			o.Data, o.Source, o.Labels = t, dataset.BuiltinName, labels
			break
		}
		t, err := d.load(c, c.Bool("quiet"))
		if err != nil {
			return o, err
		}
		o.Data, o.Source = t, filepath.Base(d.Name())
	case c.String("labels") != "":
		return o, errors.New("--labels needs --data (the built-in toy data has its own labels)")
	}
	if p := c.String("labels"); p != "" {
		labels, err := dataset.LoadLabels(p)
		if err != nil {
			return o, err
		}
		if len(labels) != o.Data.Rows {
			return o, fmt.Errorf("--labels %s has %d labels but --data %s has %d rows", p, len(labels), path, o.Data.Rows)
		}
		o.Labels = labels
	}
	if s := c.String("layers"); s != "" {
		if o.ModelDir != "" {
			return o, errors.New("--layers and --model exclude each other: the model has its layers")
		}
		layers, err := autoencoder.ParseLayers(s)
		if err != nil {
			return o, fmt.Errorf("--layers: %w", err)
		}
		cols := viz.ToyCols
		if o.Data != nil {
			cols = o.Data.Cols
		}
		if layers[0] != cols {
			return o, fmt.Errorf("--layers %s: the first width must be the data width %d", s, cols)
		}
		o.Layers = layers
	}
	return o, nil
}
