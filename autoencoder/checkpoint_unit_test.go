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

// killRef is what an uninterrupted run writes: the weights of each
// checkpoint; and the directories the scenarios start from.
type killRef struct {
	gens   [][]byte // committed model.safetensors after save i
	steps  []int64
	old    []byte // the earlier model of the replace scenarios
	legacy string // a template legacy directory (after epoch 1)
	model  string // a template earlier model
}

func committedWeights(dir string) ([]byte, int64, error) {
	m, files, err := readChecked(dir, ConfigFile, WeightsFile)
	if err != nil {
		return nil, 0, err
	}
	step := int64(-1) // a directory without a manifest
	if m != nil {
		step = m.Step
	}
	return files[WeightsFile], step, nil
}

func buildKillRef(t *testing.T) *killRef {
	t.Helper()
	ref := &killRef{}
	base := fastTempDir(t)
	// The uninterrupted run, recording the boundaries.
	dir := filepath.Join(base, "ref")
	opts := killOpts(t, dir)
	r, err := NewRun(opts)
	if err != nil {
		t.Fatal(err)
	}
	save := r.Trainer.Checkpoint
	r.Trainer.Checkpoint = func(tr *Trainer) error {
		if err := boundary("save-begin"); err != nil {
			return err
		}
		if err := save(tr); err != nil {
			return err
		}
		w, step, err := committedWeights(dir)
		if err != nil {
			return err
		}
		ref.gens, ref.steps = append(ref.gens, w), append(ref.steps, step)
		return nil
	}
	err = r.Train(context.Background())
	r.Close()
	if err != nil {
		t.Fatal(err)
	}
	if len(ref.gens) != 4 {
		t.Fatalf("%d checkpoints, want 4", len(ref.gens))
	}
	// An earlier, different model for the replace scenarios.
	ref.model = filepath.Join(base, "earlier")
	o := killOpts(t, ref.model)
	o.Train.Seed, o.Train.Epochs = 99, 1
	trainTo(t, o)
	ref.old, _, _ = committedWeights(ref.model)
	// A directory of an earlier aegpu: this run's checkpoint after epoch
	// 1 without checkpoint.json.
	ref.legacy = filepath.Join(base, "legacy")
	o = killOpts(t, ref.legacy)
	r, err = NewRun(o)
	if err != nil {
		t.Fatal(err)
	}
	stop := errors.New("stop after epoch 1")
	save = r.Trainer.Checkpoint
	r.Trainer.Checkpoint = func(tr *Trainer) error {
		if err := save(tr); err != nil {
			return err
		}
		return stop
	}
	if err := r.Train(context.Background()); !errors.Is(err, stop) {
		t.Fatalf("legacy template: %v", err)
	}
	r.Close()
	if err := os.Remove(filepath.Join(ref.legacy, ManifestFile)); err != nil {
		t.Fatal(err)
	}
	return ref
}

func trainTo(t *testing.T, opts FitOptions) {
	t.Helper()
	r, err := NewRun(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := r.Train(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// prepareScenario makes a fresh directory for scenario sc.
func prepareScenario(t *testing.T, ref *killRef, sc string) string {
	t.Helper()
	dir := filepath.Join(fastTempDir(t), "m")
	switch sc {
	case "empty":
		os.Mkdir(dir, 0o755)
	case "replace", "replace-noexchange", "replace-mount":
		copyDir(t, ref.model, dir)
	case "legacy":
		copyDir(t, ref.legacy, dir)
	}
	return dir
}

func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	if out, err := exec.Command("cp", "-a", src, dst).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v %s", err, out)
	}
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

// fastTempDir is a temporary directory on a memory filesystem when there is
// one (/dev/shm): the kill tests save thousands of checkpoints, and a
// disk's fsyncs would make them slow. The protocol is the same on any
// filesystem; cmd/aegpu's random-kill test runs on the disk.
func fastTempDir(t *testing.T) string {
	t.Helper()
	if d, err := os.MkdirTemp("/dev/shm", "aegpu-test-"); err == nil {
		t.Cleanup(func() { os.RemoveAll(d) })
		return d
	}
	return t.TempDir()
}

// midEpochDir trains the fitOpts run (3 epochs) into a new directory and
// interrupts it in epoch 2 (epoch 1 done, batch 4 of 9).
func midEpochDir(t *testing.T) (string, FitOptions) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "m")
	opts := fitOpts(t, cpu(t), dir)
	opts.Train.Epochs = 3
	ctx, hook := cancelAfter(13)
	opts.OnProgress = hook
	r, err := NewRun(opts)
	if err != nil {
		t.Fatal(err)
	}
	r.Trainer.ProgressEvery = 0
	if err := r.Train(ctx); !errors.Is(err, ErrInterrupted) {
		t.Fatalf("err = %v, want ErrInterrupted", err)
	}
	if st := r.Trainer.State; st.Epoch != 1 || st.Batch != 4 || st.BestEpoch != 1 {
		t.Fatalf("interrupted at epoch %d batch %d (best %d)", st.Epoch, st.Batch, st.BestEpoch)
	}
	r.Close()
	opts.OnProgress = nil
	return dir, opts
}

// rehash records file name's current content in dir's manifest, as if the
// checkpoint had been written so.
func rehash(t *testing.T, dir, name string) {
	t.Helper()
	m, err := ReadManifest(dir)
	if err != nil || m == nil {
		t.Fatalf("manifest: %v", err)
	}
	sum, b, err := atomicfile.FileSHA256(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	m.Files[name] = FileSum{SHA256: sum, Size: int64(len(b))}
	mb, _ := json.MarshalIndent(m, "", "  ")
	if err := os.WriteFile(filepath.Join(dir, ManifestFile), mb, 0o644); err != nil {
		t.Fatal(err)
	}
}

// setStateField sets one field of dir's state.json to the JSON text v
// (path "metrics[0].train_loss" reaches into the first metrics line).
func setStateField(t *testing.T, dir, field, v string) {
	t.Helper()
	p := filepath.Join(dir, StateFile)
	b, _ := os.ReadFile(p)
	var st map[string]json.RawMessage
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatal(err)
	}
	if sub, ok := strings.CutPrefix(field, "metrics[0]."); ok {
		var ms []map[string]json.RawMessage
		json.Unmarshal(st["metrics"], &ms)
		ms[0][sub] = json.RawMessage(v)
		st["metrics"], _ = json.Marshal(ms)
	} else {
		st[field] = json.RawMessage(v)
	}
	out, _ := json.MarshalIndent(st, "", "  ")
	if err := os.WriteFile(p, out, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestTamperedStateIsRefused: a state.json with a field out of range (as
// a bug, a hand edit or damage that kept its checksum consistent would
// leave) is refused on resume with an error naming the file and the
// field, never a panic; changed without its checksum, it is damage naming
// the file; in a directory without a manifest, it is validated the same.
func TestTamperedStateIsRefused(t *testing.T) {
	base, opts := midEpochDir(t)
	for _, c := range []struct{ field, value, want string }{
		{"batch", "-5", `"batch" is -5`},
		{"batch", "9", `"batch" is 9`},
		{"batch", "1e12", "State.batch"},
		{"batch", "1000000000000", `"batch" is 1000000000000`},
		{"epoch", "-3", `"epoch" is -3`},
		{"epoch", "4", `"epoch" is 4`},
		{"step", "12345", `"step" is 12345`},
		{"metrics", "[]", `"metrics" is 0 entries`},
		{"metrics[0].epoch", "2", `"metrics[0].epoch" is 2`},
		{"metrics[0].train_loss", "-1", `"metrics[0].train_loss" is -1`},
		{"metrics[0].val_loss", "-0.5", `"metrics[0].val_loss"`},
		{"best_epoch", "2", `"best_epoch" is 2`},
		{"best_epoch", "-1", `"best_epoch" is -1`},
		{"best_val", "123", `"best_val" is 123`},
		{"bad_epochs", "-1", `"bad_epochs" is -1`},
		{"bad_epochs", "7", `"bad_epochs" is 7`},
		{"epoch_loss", "1e39", "State.epoch_loss"},
		{"epoch_secs", "-1", `"epoch_secs" is -1`},
		{"train_seconds", "1e400", "train_seconds"},
		{"finished", "true", `"stop_reason" is ""`},
		{"stop_reason", `"bogus"`, `"stop_reason" is "bogus"`},
		{"stop_reason", `"epochs"`, `"stop_reason" is epochs`},
	} {
		for _, how := range []string{"rehashed", "legacy", "changed"} {
			name := fmt.Sprintf("%s=%s/%s", c.field, c.value, how)
			dir := filepath.Join(t.TempDir(), "m")
			copyDir(t, base, dir)
			setStateField(t, dir, c.field, c.value)
			want := c.want
			switch how {
			case "rehashed":
				rehash(t, dir, StateFile)
			case "legacy":
				os.Remove(filepath.Join(dir, ManifestFile))
			case "changed":
				want = "state.json does not match the SHA-256"
			}
			var err error
			func() {
				defer func() {
					if p := recover(); p != nil {
						err = fmt.Errorf("panic: %v", p)
					}
				}()
				var r *Run
				if r, err = ResumeRun(dir, opts.Data, opts.Backend, 0, nil, nil); err == nil {
					err = r.Train(context.Background())
					r.Close()
					err = fmt.Errorf("accepted (training then returned %v)", err)
				}
			}()
			if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), StateFile) || strings.HasPrefix(err.Error(), "panic") || strings.HasPrefix(err.Error(), "accepted") {
				t.Errorf("%s: resume: %v\nwant an error naming %s and containing %q", name, err, StateFile, want)
			}
			if rep := Verify(dir, nil); how != "changed" && !rep.Damaged() {
				t.Errorf("%s: verify finds nothing wrong", name)
			}
		}
	}
	// The untouched directory resumes.
	r, err := ResumeRun(base, opts.Data, opts.Backend, 0, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
}

// flipBit flips bit of byte off of file p.
func flipBit(t *testing.T, p string, off int64, bit uint) {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	b[off] ^= 1 << bit
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// dataOffset is where a safetensors file's tensor data starts.
func dataOffset(t *testing.T, p string) int64 {
	b, _ := os.ReadFile(p)
	var n int64
	for i := 7; i >= 0; i-- {
		n = n<<8 | int64(b[i])
	}
	return 8 + n
}

// TestFlippedBitIsDetected flips an exponent bit of a weight: loading,
// resuming and Verify name the file; a flip in the optimizer state stops a
// resume and Verify, not loading the model.
func TestFlippedBitIsDetected(t *testing.T) {
	base, opts := midEpochDir(t)
	b := opts.Backend
	dir := filepath.Join(t.TempDir(), "m")
	copyDir(t, base, dir)
	w := filepath.Join(dir, WeightsFile)
	flipBit(t, w, dataOffset(t, w)+3, 6) // the top exponent bit of the first float32 (little-endian)
	if _, _, err := LoadModel(dir, b); err == nil || !strings.Contains(err.Error(), WeightsFile) || !strings.Contains(err.Error(), "SHA-256") {
		t.Errorf("LoadModel: %v, want an error naming %s", err, WeightsFile)
	}
	if _, err := ResumeRun(dir, opts.Data, b, 0, nil, nil); err == nil || !strings.Contains(err.Error(), WeightsFile) {
		t.Errorf("ResumeRun: %v, want an error naming %s", err, WeightsFile)
	}
	rep := Verify(dir, b)
	if !rep.Damaged() {
		t.Errorf("Verify: %+v", rep)
	}
	for _, f := range rep.Files {
		if (f.Status == "damaged") != (f.Name == WeightsFile) {
			t.Errorf("Verify: %s is %s", f.Name, f.Status)
		}
	}

	dir = filepath.Join(t.TempDir(), "m")
	copyDir(t, base, dir)
	o := filepath.Join(dir, OptimizerFile)
	flipBit(t, o, dataOffset(t, o)+3, 6)
	m, _, err := LoadModel(dir, b)
	if err != nil {
		t.Errorf("LoadModel with a damaged optimizer state: %v", err)
	} else {
		m.Free()
	}
	if _, err := ResumeRun(dir, opts.Data, b, 0, nil, nil); err == nil || !strings.Contains(err.Error(), OptimizerFile) {
		t.Errorf("ResumeRun: %v, want an error naming %s", err, OptimizerFile)
	}
	if rep := Verify(dir, b); !rep.Damaged() {
		t.Errorf("Verify: %+v", rep)
	}
	if rep := Verify(base, b); rep.Damaged() || rep.Legacy || len(rep.Files) != 6 || len(rep.Leftovers) > 0 {
		t.Errorf("Verify of an intact directory: %+v", rep)
	}
}

// TestLegacyDirectoryLoadsAndResumes: a model directory written before
// checkpoint.json existed loads, resumes (and then gets a manifest), and
// one killed mid-save by that version is still refused as inconsistent.
func TestLegacyDirectoryLoadsAndResumes(t *testing.T) {
	base, opts := midEpochDir(t)
	b := opts.Backend
	dir := filepath.Join(t.TempDir(), "m")
	copyDir(t, base, dir)
	os.Remove(filepath.Join(dir, ManifestFile))
	m, _, err := LoadModel(dir, b)
	if err != nil {
		t.Fatal(err)
	}
	m.Free()
	if rep := Verify(dir, b); !rep.Legacy || rep.Damaged() {
		t.Errorf("Verify: %+v", rep)
	}
	r, err := ResumeRun(dir, opts.Data, b, 0, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if m, err := ReadManifest(dir); err != nil || m == nil || m.Step != 13 {
		t.Errorf("after resuming: manifest %+v, %v", m, err)
	}
	if err := r.Train(context.Background()); err != nil {
		t.Fatal(err)
	}
	r.Close()
	if rep := Verify(dir, b); rep.Legacy || rep.Damaged() {
		t.Errorf("Verify after the resumed run: %+v", rep)
	}
	// Written by the earlier version and killed between two files.
	dir = filepath.Join(t.TempDir(), "m")
	copyDir(t, base, dir)
	os.Remove(filepath.Join(dir, ManifestFile))
	mdl, _, _ := LoadModel(dir, b)
	SaveWeights(filepath.Join(dir, WeightsFile), mdl, 25)
	mdl.Free()
	if _, err := ResumeRun(dir, opts.Data, b, 0, nil, nil); err == nil || !strings.Contains(err.Error(), "inconsistent") {
		t.Errorf("a legacy directory with mismatched steps: %v", err)
	}
}

// TestNaNMessageSaysWhatIsKept: the NaN error says what the directory
// holds: nothing (not created), the earlier model, or this run's last
// checkpoint with its position; the advice names no CLI flag.
func TestNaNMessageSaysWhatIsKept(t *testing.T) {
	b := cpu(t)
	diverge := func(dir string, replace bool) (*NaNError, *Run) {
		opts := fitOpts(t, b, dir)
		opts.Replace = replace
		opts.Arch.Output = engine.Linear
		opts.Train.Optimizer, opts.Train.Momentum, opts.Train.LR = "sgd", 0, 1e30
		r, err := NewRun(opts)
		if err != nil {
			t.Fatal(err)
		}
		err = r.Train(context.Background())
		var ne *NaNError
		if !errors.As(err, &ne) {
			t.Fatalf("err = %v, want a NaNError", err)
		}
		if strings.Contains(err.Error(), "--") {
			t.Errorf("the library's message names a flag: %v", err)
		}
		return ne, r
	}
	dir := filepath.Join(t.TempDir(), "new")
	ne, r := diverge(dir, false)
	r.Close()
	if ne.Saved || ne.Kept != "absent" || !strings.Contains(ne.Error(), dir+" was not created") || strings.Contains(ne.Error(), "was kept") {
		t.Errorf("a new directory: %+v: %v", ne, ne)
	}
	if _, err := os.Stat(dir); err == nil {
		t.Errorf("%s was created", dir)
	}
	// Over an earlier model (replace): it is still there, unchanged.
	earlier := filepath.Join(t.TempDir(), "earlier")
	o := fitOpts(t, b, earlier)
	o.Train.Epochs = 1
	trainTo(t, o)
	before, _, _ := committedWeights(earlier)
	ne, r = diverge(earlier, true)
	r.Close()
	if ne.Saved || !strings.Contains(ne.Error(), "still holds the model it held before, not this run's") {
		t.Errorf("over an earlier model: %v", ne)
	}
	if after, _, err := committedWeights(earlier); err != nil || !bytes.Equal(before, after) {
		t.Errorf("the earlier model changed: %v", err)
	}
	// A resumed run diverging: the checkpoint it resumed from, mid-epoch.
	base, opts := midEpochDir(t)
	r, err := ResumeRun(base, opts.Data, opts.Backend, 0, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	r.Trainer.Cfg.LR = 1e30
	r.Trainer.Cfg.Optimizer = "sgd"
	err = r.Train(context.Background())
	r.Close()
	if !errors.As(err, &ne) || !ne.Saved || !strings.Contains(err.Error(), "saved in epoch 2 at batch 4 (step 13), is kept in "+base) {
		t.Errorf("a resumed run: %v", err)
	}
}

// TestFailedFirstSaveLeavesNothing: a run that fails before or during its
// first checkpoint leaves no directory, and a rerun needs no --force; the
// checks come before anything is created.
func TestFailedFirstSaveLeavesNothing(t *testing.T) {
	b := cpu(t)
	parent := t.TempDir()
	dir := filepath.Join(parent, "m")
	opts := fitOpts(t, b, dir)
	opts.Arch.Layers = []int{10, 4}
	if _, err := NewRun(opts); err == nil {
		t.Fatal("a width mismatch was accepted")
	}
	opts = fitOpts(t, b, dir)
	boom := errors.New("disk full")
	crashHook = func(p string) error {
		if p == "temp "+OptimizerFile {
			return boom
		}
		return nil
	}
	r, err := NewRun(opts)
	if err != nil {
		t.Fatal(err)
	}
	err = r.Train(context.Background())
	crashHook = nil
	r.Close()
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v", err)
	}
	if ents, _ := os.ReadDir(parent); len(ents) != 0 {
		t.Errorf("left behind: %v", ents)
	}
	trainTo(t, opts) // no --force needed
	// A directory an earlier version left after failing (a config only)
	// does not block a new run.
	dir2 := filepath.Join(parent, "old-failed")
	os.Mkdir(dir2, 0o755)
	os.WriteFile(filepath.Join(dir2, ConfigFile), []byte("{}"), 0o644)
	os.WriteFile(filepath.Join(dir2, ".model.safetensors.tmp-123"), make([]byte, 1<<20), 0o644)
	trainTo(t, fitOpts(t, b, dir2))
	checkNoLeftovers(t, dir2)
	// A model, and files that are not part of a model, are refused.
	if _, err := NewRun(fitOpts(t, b, dir)); !errors.Is(err, ErrHoldsModel) {
		t.Errorf("over a model without Replace: %v", err)
	}
	os.WriteFile(filepath.Join(dir, "notes.txt"), nil, 0o644)
	o := fitOpts(t, b, dir)
	o.Replace = true
	if _, err := NewRun(o); err == nil || !strings.Contains(err.Error(), "notes.txt") {
		t.Errorf("replacing a directory with other files: %v", err)
	}
	other := filepath.Join(parent, "data")
	os.Mkdir(other, 0o755)
	os.WriteFile(filepath.Join(other, "x.csv"), nil, 0o644)
	if _, err := NewRun(fitOpts(t, b, other)); err == nil || !strings.Contains(err.Error(), "x.csv") {
		t.Errorf("a directory with other files: %v", err)
	}
}

// TestLeftoversAreCleaned: temporary files of killed saves, .prev files
// and staging directories go when the next run takes the directory.
func TestLeftoversAreCleaned(t *testing.T) {
	base, opts := midEpochDir(t)
	junk := []string{".model.safetensors.tmp-111", ".optimizer.safetensors.tmp-222", ".checkpoint.json.tmp-3", "best.safetensors.prev"}
	for _, j := range junk {
		os.WriteFile(filepath.Join(base, j), make([]byte, 13<<20/4), 0o644)
	}
	stage := filepath.Join(filepath.Dir(base), ".m.new-4711")
	os.Mkdir(stage, 0o755)
	os.WriteFile(filepath.Join(stage, WeightsFile), []byte("partial"), 0o644)
	if rep := Verify(base, nil); len(rep.Leftovers) != len(junk)+1 || rep.Damaged() {
		t.Errorf("Verify: leftovers %v, damaged %v", rep.Leftovers, rep.Damaged())
	}
	r, err := ResumeRun(base, opts.Data, opts.Backend, 0, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.Cleaned != len(junk) || r.CleanedBytes != int64(len(junk))*(13<<20/4) {
		t.Errorf("cleaned %d files, %d bytes", r.Cleaned, r.CleanedBytes)
	}
	r.Close()
	checkNoLeftovers(t, base)
}

// TestSecondHolderIsRefused: while another process holds the directory's
// lock (here: a flock on the lock file through another descriptor, with
// that process's PID in it), a new run and a resume are refused naming
// the PID; the lock file goes with the run that held it.
func TestSecondHolderIsRefused(t *testing.T) {
	base, opts := midEpochDir(t)
	lockFile := filepath.Join(filepath.Dir(base), ".m.lock")
	f, err := os.OpenFile(lockFile, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		t.Fatal(err)
	}
	f.WriteString("4242\n")
	var iu *InUseError
	if _, err := ResumeRun(base, opts.Data, opts.Backend, 0, nil, nil); !errors.As(err, &iu) || iu.PID != 4242 || !strings.Contains(err.Error(), "PID 4242") {
		t.Errorf("resume: %v", err)
	}
	o := fitOpts(t, opts.Backend, base)
	o.Replace = true
	if _, err := NewRun(o); !errors.As(err, &iu) || iu.PID != 4242 {
		t.Errorf("new run: %v", err)
	}
	if err := CheckNewDir(base, true); !errors.As(err, &iu) {
		t.Errorf("CheckNewDir: %v", err)
	}
	f.Close() // the other process ends
	r, err := ResumeRun(base, opts.Data, opts.Backend, 0, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(lockFile); strings.TrimSpace(string(b)) != fmt.Sprint(os.Getpid()) {
		t.Errorf("lock file holds %q, want this process's PID", b)
	}
	r.Close()
	if _, err := os.Stat(lockFile); err == nil {
		t.Error("the lock file stays after the run")
	}
}

// TestSaveModelAndWriteConfigKeepTheManifest: SaveModel over a training
// checkpoint and WriteConfig leave a directory that verifies and loads.
func TestSaveModelAndWriteConfigKeepTheManifest(t *testing.T) {
	base, opts := midEpochDir(t)
	b := opts.Backend
	m, cfg, err := LoadModel(base, b)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Free()
	cfg.ImageShape = []int{2, 4}
	if err := WriteConfig(base, cfg); err != nil {
		t.Fatal(err)
	}
	if c, err := ReadConfig(base); err != nil || len(c.ImageShape) != 2 {
		t.Errorf("after WriteConfig: %v %v", c.ImageShape, err)
	}
	if rep := Verify(base, b); rep.Damaged() {
		t.Errorf("Verify after WriteConfig: %+v", rep)
	}
	if err := SaveModel(base, m, cfg); err != nil {
		t.Fatal(err)
	}
	rep := Verify(base, b)
	if rep.Damaged() || len(rep.Files) != 2 || len(rep.Leftovers) > 0 {
		t.Errorf("Verify after SaveModel: %+v", rep)
	}
	fresh := filepath.Join(t.TempDir(), "saved")
	if err := SaveModel(fresh, m, cfg); err != nil {
		t.Fatal(err)
	}
	m2, _, err := LoadModel(fresh, b)
	if err != nil {
		t.Fatal(err)
	}
	m2.Free()
	checkNoLeftovers(t, fresh)
}
