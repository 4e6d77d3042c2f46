package autoencoder

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/aegpu/aegpu/cpu_fallback"
	"github.com/aegpu/aegpu/engine"
	"github.com/aegpu/aegpu/internal/atomicfile"
)

// The kill tests run one training run (4 epochs, a checkpoint after each)
// in a scenario and stop it at boundary k of its checkpoint writing, for
// every k: in a child process killed there (SIGKILL: no deferred cleanup,
// as a real kill), and in-process with the writer failing there. After
// each, the directory must hold the checkpoint before or the one after
// the save that was stopped (or, before the first save completed, what it
// held before the run), loadable; and resuming it (or rerunning, when the
// run had saved nothing) must finish with weights bit-identical to an
// uninterrupted run's, leaving no temporary, .prev or staging files.

// killScenarios: how the directory looks when the run starts.
var killScenarios = []string{
	"absent",             // a new directory: the first checkpoint is staged and renamed into place
	"empty",              // an existing empty directory (perhaps a mount point): committed in place
	"replace",            // an earlier model, replaced (--force): atomic exchange
	"replace-noexchange", // the same where the filesystem cannot exchange: staged, then committed in place
	"replace-mount",      // the same on a mount point (or the working directory): committed in place
	"legacy",             // resuming a directory of an earlier aegpu (no checkpoint.json)
}

// killBackend is the backend of the kill tests' runs (one per process).
var killBackend engine.Backend

// killOpts is the run of the kill tests.
func killOpts(t *testing.T, dir string) FitOptions {
	if killBackend == nil {
		killBackend = cpu_fallback.New(2)
	}
	opts := fitOpts(t, killBackend, dir)
	opts.Train.Epochs = 4
	return opts
}

// runScenario trains in dir (prepared by prepareScenario) to the end,
// calling boundary("save-begin") before every checkpoint.
func runScenario(t *testing.T, sc, dir string) error {
	opts := killOpts(t, dir)
	var r *Run
	var err error
	switch sc {
	case "legacy":
		r, err = ResumeRun(dir, opts.Data, opts.Backend, 0, nil, nil)
	default:
		opts.Replace = strings.HasPrefix(sc, "replace")
		r, err = NewRun(opts)
	}
	if err != nil {
		return err
	}
	defer r.Close()
	save := r.Trainer.Checkpoint
	r.Trainer.Checkpoint = func(tr *Trainer) error {
		if err := boundary("save-begin"); err != nil {
			return err
		}
		return save(tr)
	}
	return r.Train(context.Background())
}

// trace runs scenario sc uninterrupted and returns the boundaries it
// passes and the save (0-based, counting the run's 4 checkpoints; the
// legacy scenario starts at the second) each is in.
func trace(t *testing.T, ref *killRef, sc string) (points []string, saveOf []int) {
	t.Helper()
	dir := prepareScenario(t, ref, sc)
	save := -1
	if sc == "legacy" {
		save = 0
	}
	crashHook = func(p string) error {
		if p == "save-begin" {
			save++
		}
		points, saveOf = append(points, p), append(saveOf, save)
		return nil
	}
	err := runScenario(t, sc, dir)
	crashHook = nil
	if err != nil {
		t.Fatalf("%s: %v", sc, err)
	}
	if save != 3 {
		t.Fatalf("%s: %d saves", sc, save+1)
	}
	return points, saveOf
}

// scenarioPoints are the boundaries (0-based indices into the trace) at
// which scenario sc is stopped: those of the first save, which differs
// between scenarios, and of the second, the first in place; the legacy
// scenario's run (resumed after the first save) goes on through every
// later save. In -short mode: the first two saves of "absent" and
// "replace", the first save of "legacy".
func scenarioPoints(sc string, saveOf []int) []int {
	var out []int
	for i, s := range saveOf {
		switch {
		case testing.Short() && sc != "absent" && sc != "replace" && sc != "legacy":
			continue
		case testing.Short() && sc == "legacy" && s > 1:
			continue
		case sc != "legacy" && s > 1:
			continue
		}
		out = append(out, i)
	}
	return out
}

// checkStopped checks the directory after a run stopped in save s: it
// holds checkpoint s−1 or s (or, for s = 0, what it held before), and a
// resumed or repeated run finishes bit-identical to ref.
func checkStopped(t *testing.T, ref *killRef, sc, dir string, s int, what string) (gen int) {
	t.Helper()
	w, step, err := committedWeights(dir)
	gen = -2
	switch {
	case err == nil:
		for i, g := range ref.gens {
			if bytes.Equal(w, g) && (step == ref.steps[i] || step == -1) {
				gen = i
			}
		}
		if gen == -2 && strings.HasPrefix(sc, "replace") && bytes.Equal(w, ref.old) {
			gen = -1 // the earlier model
		}
	case sc == "absent" || sc == "empty":
		if _, serr := os.Stat(filepath.Join(dir, ConfigFile)); serr != nil {
			gen = -1 // nothing of this run
		}
	}
	okGens := []int{s - 1, s}
	if gen != okGens[0] && gen != okGens[1] {
		t.Fatalf("%s: %s: the directory holds generation %d (load error %v), want %d or %d", sc, what, gen, err, s-1, s)
	}
	// Resume (or run again, when nothing of this run was saved).
	var r *Run
	opts := killOpts(t, dir)
	if gen >= 0 {
		r, err = ResumeRun(dir, opts.Data, opts.Backend, 0, nil, nil)
	} else {
		opts.Replace = strings.HasPrefix(sc, "replace")
		r, err = NewRun(opts)
	}
	if err != nil {
		t.Fatalf("%s: %s: generation %d: cannot continue: %v", sc, what, gen, err)
	}
	err = r.Train(context.Background())
	r.Close()
	if err != nil {
		t.Fatalf("%s: %s: continuing: %v", sc, what, err)
	}
	final, _, err := committedWeights(dir)
	if err != nil || !bytes.Equal(final, ref.gens[len(ref.gens)-1]) {
		t.Fatalf("%s: %s: the continued run's weights differ from the uninterrupted run's (%v)", sc, what, err)
	}
	checkNoLeftovers(t, dir)
	return gen
}

// checkNoLeftovers: no temporary, .prev, staging or lock files in or
// beside dir, and a manifest that verifies.
func checkNoLeftovers(t *testing.T, dir string) {
	t.Helper()
	for _, d := range []string{dir, filepath.Dir(dir)} {
		ents, _ := os.ReadDir(d)
		for _, e := range ents {
			n := e.Name()
			if strings.Contains(n, atomicfile.TempInfix) || strings.HasSuffix(n, PrevSuffix) || strings.Contains(n, ".new-") || strings.Contains(n, ".old-") || strings.HasSuffix(n, ".lock") {
				t.Errorf("left behind in %s: %s", d, n)
			}
		}
	}
	rep := Verify(dir, nil)
	if rep.Damaged() || len(rep.Leftovers) > 0 || rep.Legacy {
		t.Errorf("verify after the run: %+v", rep)
	}
}

// setScenario makes the directory operations behave as scenario sc needs
// (a filesystem without exchange, a mount point); undo restores them.
func setScenario(sc string) (undo func()) {
	ex, mp := exchange, isMountPoint
	switch sc {
	case "replace-noexchange":
		exchange = func(a, b string) error { return atomicfile.ErrNoExchange }
	case "replace-mount":
		isMountPoint = func(target) bool { return true }
	}
	return func() { exchange, isMountPoint = ex, mp }
}

// TestKillChild is the child process of TestCheckpointKillAtEveryBoundary:
// it runs a scenario and SIGKILLs itself at boundary k.
func TestKillChild(t *testing.T) {
	spec := os.Getenv("AEGPU_KILL_CHILD")
	if spec == "" {
		t.Skip("child of TestCheckpointKillAtEveryBoundary")
	}
	var c struct {
		Scenario, Dir string
		K             int
	}
	if err := json.Unmarshal([]byte(spec), &c); err != nil {
		t.Fatal(err)
	}
	setScenario(c.Scenario)
	n := 0
	crashHook = func(p string) error {
		if n++; n == c.K {
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {}
		}
		return nil
	}
	if err := runScenario(t, c.Scenario, c.Dir); err != nil {
		t.Fatal(err)
	}
}

// TestCheckpointKillAtEveryBoundary kills a training run at every boundary
// of its checkpoint writing, in every scenario (see the top of the file).
func TestCheckpointKillAtEveryBoundary(t *testing.T) {
	ref := buildKillRef(t)
	total := 0
	for _, sc := range killScenarios {
		undo := setScenario(sc)
		points, saveOf := trace(t, ref, sc)
		undo()
		pts := scenarioPoints(sc, saveOf)
		gens := map[int]int{}
		for _, i := range pts {
			k := i + 1
			dir := prepareScenario(t, ref, sc)
			spec, _ := json.Marshal(map[string]any{"Scenario": sc, "Dir": dir, "K": k})
			cmd := exec.Command(os.Args[0], "-test.run=^TestKillChild$", "-test.count=1")
			cmd.Env = append(os.Environ(), "AEGPU_KILL_CHILD="+string(spec))
			out, err := cmd.CombinedOutput()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ProcessState.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
				t.Fatalf("%s: boundary %d (%s): the child was not killed there: %v\n%s", sc, k, points[i], err, out)
			}
			g := checkStopped(t, ref, sc, dir, saveOf[i], fmt.Sprintf("killed at boundary %d (%s, save %d)", k, points[i], saveOf[i]+1))
			gens[g]++
			total++
		}
		t.Logf("%s: killed at %d boundaries; the directory then held generation (-1: none/earlier) → times: %v", sc, len(pts), gens)
	}
	t.Logf("%d kills, every one resumable and bit-identical once finished", total)
}

// TestCheckpointFailAtEveryBoundary makes the checkpoint writer fail (an
// error, as a full disk would) at every boundary, in-process.
func TestCheckpointFailAtEveryBoundary(t *testing.T) {
	ref := buildKillRef(t)
	defer func() { crashHook = nil }()
	total := 0
	boom := errors.New("injected failure")
	for _, sc := range killScenarios {
		undo := setScenario(sc)
		points, saveOf := trace(t, ref, sc)
		for _, i := range scenarioPoints(sc, saveOf) {
			k := i + 1
			dir := prepareScenario(t, ref, sc)
			n := 0
			crashHook = func(p string) error {
				if n++; n == k {
					return boom
				}
				return nil
			}
			err := runScenario(t, sc, dir)
			crashHook = nil
			if !errors.Is(err, boom) {
				t.Fatalf("%s: failure at boundary %d (%s): the run returned %v", sc, k, points[i], err)
			}
			checkStopped(t, ref, sc, dir, saveOf[i], fmt.Sprintf("failed at boundary %d (%s)", k, points[i]))
			total++
		}
		undo()
	}
	t.Logf("%d injected failures, every one resumable", total)
}
