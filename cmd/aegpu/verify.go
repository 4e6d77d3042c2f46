package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/aegpu/aegpu/autoencoder"
	"github.com/aegpu/aegpu/engine"
)

func verifyCommand() *cli.Command {
	return &cli.Command{
		Name:  "verify",
		Usage: "check every file of a model directory against the checksums of its checkpoint",
		Description: `Checks each file of the model directory against the SHA-256 that its
checkpoint.json records, then the content: config.json and state.json parse,
the training state fits the configuration, the weight files carry the
state's step, and the weights load onto the configured architecture (on the
CPU). Prints one line per file and what else it found; exits with status 1
when a file is damaged or missing.

A directory written by an aegpu before checkpoint.json existed has no
checksums: its files' content is checked only. Files of an interrupted
save (.prev, temporary files) are reported; the next 'aegpu train --resume'
puts back or removes them.

Example:
  aegpu verify --model mnist-ae`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "model", Aliases: []string{"m"}, Usage: "model `DIR` to check (required)"},
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "print only damage"},
		},
		Action: runVerify,
	}
}

func runVerify(c *cli.Context) error {
	dir, quiet := c.String("model"), c.Bool("quiet")
	if dir == "" {
		return fmt.Errorf("missing required flag --model; 'aegpu verify --help' lists the flags")
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return fmt.Errorf("--model %s: not a directory", dir)
	}
	b, _, err := engine.Open("cpu")
	if err != nil {
		return err
	}
	defer b.Close()
	r := autoencoder.Verify(dir, b)
	say := func(format string, a ...any) {
		if !quiet {
			fmt.Printf(format, a...)
		}
	}
	switch {
	case r.Legacy:
		say("%s: no %s (written by an earlier aegpu): no checksums to compare, content checked\n", dir, autoencoder.ManifestFile)
	case len(r.Files) > 0:
		say("%s: checkpoint at step %d (epoch %d, batch %d), %d files\n", dir, r.Step, r.Epoch, r.Batch, len(r.Files))
	}
	for _, f := range r.Files {
		switch f.Status {
		case "ok", "unchecked":
			say("%-9s %-22s %10s  sha256 %.16s…\n", f.Status, f.Name, size(f.Size), f.SHA256)
		case "ok (.prev)":
			say("%-9s %-22s %10s  sha256 %.16s… in %s%s: a save was interrupted; the next 'train --resume' puts it back\n",
				"ok", f.Name, size(f.Size), f.SHA256, f.Name, autoencoder.PrevSuffix)
		case "missing":
			fmt.Printf("%-9s %-22s %10s  %s lists it\n", "MISSING", f.Name, "", autoencoder.ManifestFile)
		default:
			fmt.Printf("%-9s %-22s %10s  sha256 %.16s…, recorded %.16s…: changed or damaged since it was saved\n",
				"DAMAGED", f.Name, size(f.Size), f.SHA256, f.Want)
		}
	}
	for _, p := range r.Problems {
		fmt.Printf("DAMAGED   %s\n", p)
	}
	for _, l := range r.Leftovers {
		say("leftover  %s (of an interrupted save or a killed run; the next run that takes the directory removes it)\n", l)
	}
	for _, o := range r.Other {
		if o == autoencoder.ThresholdFile {
			say("other     %s (aegpu score's threshold; not part of the checkpoint)\n", o)
			continue
		}
		say("other     %s (not part of the checkpoint)\n", o)
	}
	if st := r.State; st != nil {
		what := fmt.Sprintf("epoch %d of %d", st.Epoch, r.ConfigEpochs)
		if st.Batch > 0 {
			what += fmt.Sprintf(", batch %d of the next", st.Batch)
		}
		if st.Finished {
			what += ", finished (" + strings.ReplaceAll(st.StopReason, "_", " ") + ")"
		}
		say("state     %s: valid (%s, step %d)\n", autoencoder.StateFile, what, st.Step)
	}
	if r.Damaged() {
		n := 0
		for _, f := range r.Files {
			if f.Status == "damaged" || f.Status == "missing" {
				n++
			}
		}
		return &exitError{code: 1, err: fmt.Errorf("%s is damaged (%d file(s), %d other problem(s)): restore it from a backup or retrain", dir, n, len(r.Problems))}
	}
	say("%s: every file verified\n", dir)
	return nil
}

// size is a byte count for people.
func size(n int64) string {
	switch {
	case n >= 1e6:
		return fmt.Sprintf("%.1f MB", float64(n)/1e6)
	case n >= 1e3:
		return fmt.Sprintf("%.1f kB", float64(n)/1e3)
	}
	return fmt.Sprintf("%d B", n)
}
