// Command aegpu trains autoencoders on an NVIDIA GPU or the CPU and uses
// them: encode data to latent codes, reconstruct it, inspect devices.
package main

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/aegpu/aegpu/autoencoder"
	_ "github.com/aegpu/aegpu/backends"
	// Parquet and Arrow input and output: the formats register with dataset.
	_ "github.com/aegpu/aegpu/dataset/columnar"
	"github.com/aegpu/aegpu/engine"
)

// exitError carries a process exit status.
type exitError struct {
	code     int
	err      error
	reported bool // printed already (or by another rank of a job)
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func main() {
	if err := newApp().Run(os.Args); err != nil {
		var ee *exitError
		if !errors.As(err, &ee) || !ee.reported {
			fmt.Fprintln(os.Stderr, "aegpu:", err)
		}
		if ee != nil {
			os.Exit(ee.code)
		}
		os.Exit(1)
	}
}

func newApp() *cli.App {
	app := &cli.App{
		Name:  "aegpu",
		Usage: "train autoencoders on an NVIDIA GPU or the CPU, and use them",
		Description: `aegpu trains MLP autoencoders through its own engine: CUDA kernels when a GPU
answers, pure-Go kernels otherwise (--device auto|cpu|cuda|cuda:N).

Start with 'aegpu train' (no flags: the built-in MNIST digits; --variant
denoising|sparse|contractive|vae), then use the model directory it wrote:
'aegpu encode' (latent codes, streaming any size), 'reconstruct', 'score'
(anomaly detection), 'denoise' ('corrupt' makes noisy data to try it on),
'generate' (VAEs), 'export' (PyTorch weights). 'aegpu viz' shows training live in the browser.`,
		Version:              autoencoder.Version,
		EnableBashCompletion: true,
		Commands: []*cli.Command{
			trainCommand(),
			encodeCommand(),
			gatherCommand(),
			reconstructCommand(),
			generateCommand(),
			denoiseCommand(),
			corruptCommand(),
			scoreCommand(),
			exportCommand(),
			importCommand(),
			benchCommand(),
			devicesCommand(),
			versionCommand(),
			vizCommand(),
			serveCommand(),
			verifyCommand(),
		},
	}
	for _, cmd := range app.Commands {
		briefUsageErrors(cmd)
		checkNumericFlags(cmd)
		adviseInFlags(cmd)
	}
	return app
}

// briefUsageErrors makes a command's usage mistakes (a missing required
// flag, an unknown flag, a value that does not parse) one error line that
// points at --help, instead of the whole help text on stdout followed by
// the error: the CLI library's default.
func briefUsageErrors(cmd *cli.Command) {
	name := cmd.Name
	hint := func(err error) error {
		return fmt.Errorf("%w; 'aegpu %s --help' lists the flags", err, name)
	}
	cmd.OnUsageError = func(_ *cli.Context, err error, _ bool) error { return hint(err) }
	var required []string
	for _, f := range cmd.Flags {
		if r, ok := f.(cli.RequiredFlag); ok && r.IsRequired() {
			required = append(required, f.Names()[0])
			// Checked below instead: the library prints the help first.
			reflect.ValueOf(f).Elem().FieldByName("Required").SetBool(false)
		}
	}
	if len(required) == 0 {
		return
	}
	before := cmd.Before
	cmd.Before = func(c *cli.Context) error {
		var missing []string
		for _, n := range required {
			if !c.IsSet(n) {
				missing = append(missing, "--"+n)
			}
		}
		if len(missing) > 0 {
			return hint(fmt.Errorf("missing required flag %s", strings.Join(missing, ", ")))
		}
		if before != nil {
			return before(c)
		}
		return nil
	}
}

var deviceFlag = &cli.StringFlag{
	Name:    "device",
	Value:   "auto",
	Usage:   "where to run: auto (GPU if one answers, else CPU), cpu, cuda, cuda:N",
	EnvVars: []string{"AEGPU_DEVICE"},
}

func openDevice(c *cli.Context, quiet bool) (engine.Backend, error) {
	return openDeviceSpec(c.String("device"), quiet)
}

// openDeviceSpec opens the backend of a --device value.
func openDeviceSpec(spec string, quiet bool) (engine.Backend, error) {
	b, note, err := engine.Open(spec)
	if err != nil {
		return nil, err
	}
	if !quiet {
		if (spec == "" || spec == "auto") && b.Info().Backend == "cpu" {
			note += "; 'aegpu devices' says why" // auto fell back: the note names the reason in brief
		}
		fmt.Fprintln(os.Stderr, note)
	}
	return b, nil
}

func devicesCommand() *cli.Command {
	return &cli.Command{
		Name:  "devices",
		Usage: "list the backends and devices this binary can use, and why CUDA is not available when it is not; the MPI library found, and under mpirun/srun this process's rank; NCCL's version",
		Action: func(c *cli.Context) error {
			for _, s := range engine.Probe() {
				if s.Err != nil {
					fmt.Printf("%-5s not available: %v\n", s.Driver, s.Err)
					continue
				}
				for _, d := range s.Devices {
					fmt.Printf("%-5s %s\n", s.Driver, d)
				}
			}
			mpiReport()
			ncclReport()
			return nil
		},
	}
}

func versionCommand() *cli.Command {
	return &cli.Command{
		Name:  "version",
		Usage: "print the version, Go runtime and linked backends",
		Action: func(c *cli.Context) error {
			rev := ""
			if bi, ok := debug.ReadBuildInfo(); ok {
				for _, s := range bi.Settings {
					if s.Key == "vcs.revision" {
						rev = " (" + s.Value + ")"
					}
				}
			}
			fmt.Printf("aegpu %s%s\n%s %s/%s, backends: %v\n", autoencoder.Version, rev, runtime.Version(), runtime.GOOS, runtime.GOARCH, engine.Drivers())
			return nil
		},
	}
}
