//go:build linux

package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aegpu/aegpu/dataset"
)

// killData writes a small data set whose model is large: each epoch is a
// few steps, and a checkpoint (weights, optimizer moments, best weights:
// about 5 MB, fsynced) takes most of the run's time, so that random kills
// land in checkpoint writing more often than not.
func killData(t *testing.T, dir string) (data string, args func(out string) []string) {
	t.Helper()
	const rows, cols = 72, 64
	x := make([]float32, rows*cols)
	for i := range x {
		x[i] = float32(0.5 + 0.4*math.Sin(float64(i%cols)*float64(i/cols%13)*0.07))
	}
	data = filepath.Join(dir, "x.npy")
	if err := dataset.WriteNPY(data, rows, cols, x); err != nil {
		t.Fatal(err)
	}
	return data, func(out string) []string {
		return []string{"train", "--data", data, "--layers", "64,512,256,16", "--epochs", "10", "--batch", "16", "--out", out, "--device", "cpu", "--quiet"}
	}
}

// TestRandomKillsResume SIGKILLs the real binary at random instants of
// training (and of the resumed runs) until it has been killed 40 times.
// After every kill the directory must be absent (nothing published yet)
// or verify and resume; every run carried to its end must equal the
// uninterrupted run bit for bit (weights and optimizer state).
func TestRandomKillsResume(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and kills it 40 times")
	}
	dir := t.TempDir() // on disk: real fsyncs
	bin := buildBinary(t, dir)
	data, args := killData(t, dir)
	ref := filepath.Join(dir, "ref")
	start := time.Now()
	if out, err := command(t, bin, args(ref)...).CombinedOutput(); err != nil {
		t.Fatalf("uninterrupted run: %v\n%s", err, out)
	}
	full := time.Since(start)
	refW, _ := os.ReadFile(filepath.Join(ref, "model.safetensors"))
	refO, _ := os.ReadFile(filepath.Join(ref, "optimizer.safetensors"))

	const kills = 40
	rng := rand.New(rand.NewPCG(1, uint64(time.Now().UnixNano())))
	var stats struct {
		kills, absent, midSave, finished, chains, resumes, unresumable int
	}
	for chain := 0; stats.kills < kills; chain++ {
		out := filepath.Join(dir, fmt.Sprintf("run%d", chain))
		stats.chains++
		for {
			a := args(out)
			if _, err := os.Stat(out); err == nil {
				a = []string{"train", "--resume", out, "--data", data, "--device", "cpu", "--quiet"}
				stats.resumes++
			}
			cmd := command(t, bin, a...)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			var err error
			select {
			case err = <-done:
			case <-time.After(time.Duration(rng.Int64N(int64(full)))):
				cmd.Process.Signal(syscall.SIGKILL)
				err = <-done
			}
			var ee *exec.ExitError
			if err == nil {
				break // finished
			}
			if !errors.As(err, &ee) || ee.ProcessState.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
				stats.unresumable++
				t.Errorf("chain %d: a run failed by itself: %v\n%s", chain, err, stderr.String())
				break
			}
			stats.kills++
			if _, err := os.Stat(out); err != nil {
				stats.absent++ // killed before the first checkpoint was published
				continue
			}
			v, verr := command(t, bin, "verify", "--model", out).CombinedOutput()
			if verr != nil {
				stats.unresumable++
				t.Errorf("chain %d, kill %d: verify: %v\n%s", chain, stats.kills, verr, v)
				break
			}
			if strings.Contains(string(v), "leftover") || strings.Contains(string(v), ".prev") {
				stats.midSave++
			}
			if stats.kills >= kills {
				break // resumed to the end below
			}
		}
		if stats.unresumable > 0 {
			break
		}
		if _, err := os.Stat(out); err == nil && stats.kills >= kills {
			// Finish a chain cut by the kill budget.
			if o, err := command(t, bin, "train", "--resume", out, "--data", data, "--device", "cpu", "--quiet").CombinedOutput(); err != nil {
				stats.unresumable++
				t.Fatalf("final resume: %v\n%s", err, o)
			}
		}
		w, _ := os.ReadFile(filepath.Join(out, "model.safetensors"))
		o, _ := os.ReadFile(filepath.Join(out, "optimizer.safetensors"))
		if !bytes.Equal(w, refW) || !bytes.Equal(o, refO) {
			t.Fatalf("chain %d: the killed and resumed run differs from the uninterrupted run", chain)
		}
		stats.finished++
		checkDirClean(t, out)
	}
	t.Logf("uninterrupted run %v; %d kills at random instants in %d runs (%d resumes): %d before the first checkpoint was published (no directory), %d during a checkpoint's writing (leftovers or .prev files found), %d unresumable; %d runs carried to the end, all bit-identical",
		full.Round(time.Millisecond), stats.kills, stats.chains, stats.resumes, stats.absent, stats.midSave, stats.unresumable, stats.finished)
}

// checkDirClean: no temporary, .prev, staging or lock files in or beside
// the model directory.
func checkDirClean(t *testing.T, dir string) {
	t.Helper()
	for _, d := range []string{dir, filepath.Dir(dir)} {
		ents, _ := os.ReadDir(d)
		base := filepath.Base(dir)
		for _, e := range ents {
			n := e.Name()
			if strings.Contains(n, ".tmp-") || strings.HasSuffix(n, ".prev") || strings.HasPrefix(n, "."+base+".") {
				t.Errorf("left behind in %s: %s", d, n)
			}
		}
	}
}

// TestTwoTrainsOnOneOut: a second train on the --out a running train
// writes is refused at once, naming the first one's PID; two started
// together on a new --out: exactly one trains.
func TestTwoTrainsOnOneOut(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	dir := t.TempDir()
	bin := buildBinary(t, dir)
	data, args := killData(t, dir)
	out := filepath.Join(dir, "m")
	long := append(args(out)[:len(args(out))-1], "--epochs", "400") // drop --quiet: wait for the first epoch line
	first := command(t, bin, long...)
	stderr, _ := first.StderrPipe()
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stderr)
	for sc.Scan() && !strings.HasPrefix(sc.Text(), "epoch 1/") {
	}
	go func() {
		for sc.Scan() {
		}
	}()
	want := fmt.Sprintf("in use by another aegpu process (PID %d)", first.Process.Pid)
	for _, a := range [][]string{
		append(args(out), "--force"),
		{"train", "--resume", out, "--data", data, "--device", "cpu"},
	} {
		o, err := command(t, bin, a...).CombinedOutput()
		if err == nil || !strings.Contains(string(o), want) {
			t.Errorf("%v while another run trains: %v\n%s", a[1:3], err, o)
		}
	}
	first.Process.Signal(syscall.SIGINT)
	if err := first.Wait(); err == nil || first.ProcessState.ExitCode() != 130 {
		t.Errorf("the first run, interrupted: %v", err)
	}
	if o, err := command(t, bin, "verify", "--model", out).CombinedOutput(); err != nil {
		t.Errorf("verify: %v\n%s", err, o)
	}

	// Started together on a new directory.
	out2 := filepath.Join(dir, "m2")
	var cmds [2]*exec.Cmd
	var outs [2]bytes.Buffer
	for i := range cmds {
		cmds[i] = command(t, bin, args(out2)...)
		cmds[i].Stderr = &outs[i]
		if err := cmds[i].Start(); err != nil {
			t.Fatal(err)
		}
	}
	ok := 0
	for i, c := range cmds {
		if err := c.Wait(); err == nil {
			ok++
		} else if s := outs[i].String(); !strings.Contains(s, "in use by another aegpu process (PID ") && !strings.Contains(s, "already holds a model") {
			t.Errorf("run %d failed for another reason: %s", i, s)
		}
	}
	if ok != 1 {
		t.Errorf("%d of 2 runs on one new --out succeeded, want 1:\n%s\n%s", ok, outs[0].String(), outs[1].String())
	}
}

// TestForceReplacesAsAWhole: --force keeps the old model until the new
// run's first checkpoint is complete (a run that diverges at once leaves
// it untouched, and says so), then replaces the directory as a whole
// (the old model's threshold goes with it). A run that fails before its
// first checkpoint creates nothing, and leaves nothing that blocks a rerun.
func TestForceReplacesAsAWhole(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "toy.csv")
	writeToyCSV(t, data, 300)
	model := filepath.Join(dir, "m")
	base := []string{"train", "--data", data, "--layers", "6,4,2", "--scale", "standard", "--batch", "32", "--device", "cpu", "--quiet", "--out", model}
	if _, err := run(t, append(base, "--epochs", "2")...); err != nil {
		t.Fatal(err)
	}
	if _, err := run(t, "score", "--model", model, "--data", data, "--threshold", "q0.9", "--out", filepath.Join(dir, "s.csv"), "--device", "cpu", "--quiet"); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(filepath.Join(model, "model.safetensors"))
	beforeCfg, _ := os.ReadFile(filepath.Join(model, "config.json"))
	// Without --force: refused.
	if _, err := run(t, append(base, "--epochs", "1")...); err == nil || !strings.Contains(err.Error(), "--force") {
		t.Errorf("over a model without --force: %v", err)
	}
	// --force, and the run diverges in its first epoch.
	_, err := run(t, append(base, "--epochs", "1", "--force", "--lr", "1e30", "--optimizer", "sgd", "--momentum", "0", "--output", "linear", "--layers", "6,3")...)
	if err == nil || !strings.Contains(err.Error(), "still holds the model it held before") || !strings.Contains(err.Error(), "--lr") {
		t.Errorf("--force, diverging: %v", err)
	}
	after, _ := os.ReadFile(filepath.Join(model, "model.safetensors"))
	afterCfg, _ := os.ReadFile(filepath.Join(model, "config.json"))
	if !bytes.Equal(before, after) || !bytes.Equal(beforeCfg, afterCfg) {
		t.Error("a --force run that saved nothing changed the old model")
	}
	// --force, completing: a new model, as a whole.
	if _, err := run(t, append(base, "--epochs", "1", "--force", "--layers", "6,3")...); err != nil {
		t.Fatal(err)
	}
	cfg, _ := os.ReadFile(filepath.Join(model, "config.json"))
	if !strings.Contains(string(cfg), `"layers": [
    6,
    3
  ]`) {
		t.Errorf("config after --force:\n%s", cfg)
	}
	if _, err := os.Stat(filepath.Join(model, "threshold.json")); err == nil {
		t.Error("the old model's threshold.json survived --force")
	}
	checkDirClean(t, model)
	// A run that fails before its first checkpoint creates nothing.
	fresh := filepath.Join(dir, "fresh")
	if _, err := run(t, "train", "--data", data, "--layers", "7,3", "--epochs", "1", "--device", "cpu", "--quiet", "--out", fresh); err == nil {
		t.Fatal("a width mismatch was accepted")
	}
	if _, err := run(t, "train", "--data", data, "--layers", "6,3", "--epochs", "1", "--lr", "1e30", "--optimizer", "sgd", "--momentum", "0", "--output", "linear", "--device", "cpu", "--quiet", "--out", fresh); err == nil || !strings.Contains(err.Error(), fresh+" was not created") {
		t.Errorf("diverging new run: %v", err)
	}
	if _, err := os.Stat(fresh); err == nil {
		t.Errorf("%s was created by runs that failed", fresh)
	}
	if _, err := run(t, "train", "--data", data, "--layers", "6,3", "--epochs", "1", "--device", "cpu", "--quiet", "--out", fresh); err != nil {
		t.Errorf("rerun: %v", err)
	}
	checkDirClean(t, fresh)
}
