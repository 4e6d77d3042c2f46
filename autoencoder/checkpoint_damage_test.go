package autoencoder

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aegpu/aegpu/internal/atomicfile"
)

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
