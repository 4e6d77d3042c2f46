package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aegpu/aegpu/dataset"
)

// runBoth runs the CLI in-process and returns its stdout, its stderr and
// its error.
func runBoth(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	oldErr := os.Stderr
	r, w, _ := os.Pipe()
	os.Stderr = w
	done := make(chan []byte)
	go func() {
		var b bytes.Buffer
		b.ReadFrom(r)
		done <- b.Bytes()
	}()
	defer func() { os.Stderr = oldErr }()
	stdout, err = run(t, args...)
	w.Close()
	os.Stderr = oldErr
	return stdout, string(<-done), err
}

// Without --data, a command on a trained model reads the data the model was
// trained on (recorded in config.json) and says so; --resume does too.
func TestDataDefaultsToTheModelsData(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "toy.csv")
	writeToyCSV(t, data, 120)
	model := filepath.Join(dir, "tab-ae")
	if _, err := run(t, "train", "--data", data, "--layers", "6,4,2", "--epochs", "1", "--batch", "32",
		"--out", model, "--device", "cpu", "--quiet"); err != nil {
		t.Fatal(err)
	}
	codes := filepath.Join(dir, "codes.npy")
	_, stderr, err := runBoth(t, "encode", "--model", model, "--out", codes, "--device", "cpu")
	if err != nil {
		t.Fatalf("encode without --data: %v", err)
	}
	if !strings.Contains(stderr, "data: "+data+", 6 columns (the data "+model+" was trained on") { // a CSV stream does not count its rows ahead
		t.Errorf("encode does not say which data it used:\n%s", stderr)
	}
	if tab, err := dataset.Load(codes, dataset.LoadOptions{}); err != nil || tab.Rows != 120 || tab.Cols != 2 {
		t.Errorf("codes: %v, %v", tab, err)
	}
	// The example of train --help: --resume with --epochs only.
	_, stderr, err = runBoth(t, "train", "--resume", model, "--epochs", "2", "--device", "cpu")
	if err != nil {
		t.Fatalf("train --resume without --data: %v", err)
	}
	if !strings.Contains(stderr, "data: "+data) || !strings.Contains(stderr, "epoch 2/2") {
		t.Errorf("resume output:\n%s", stderr)
	}
	for _, cmd := range [][]string{
		{"reconstruct", "--model", model, "--out", filepath.Join(dir, "r.npy")},
		{"score", "--model", model, "--out", filepath.Join(dir, "s.csv")},
	} {
		if _, stderr, err := runBoth(t, append(cmd, "--device", "cpu")...); err != nil || !strings.Contains(stderr, "data: "+data) {
			t.Errorf("%s without --data: %v\n%s", cmd[0], err, stderr)
		}
	}
	// Recorded data that is gone: a clear error that says what to do.
	if err := os.Remove(data); err != nil {
		t.Fatal(err)
	}
	_, _, err = runBoth(t, "encode", "--model", model, "--out", codes, "--device", "cpu")
	if err == nil || !strings.Contains(err.Error(), data) || !strings.Contains(err.Error(), "--data") {
		t.Errorf("encode with the training data gone: %v", err)
	}
}

// The built-in digits are named whenever they are used.
func TestBuiltinDataIsAnnounced(t *testing.T) {
	dir := t.TempDir()
	model := filepath.Join(dir, "m")
	_, stderr, err := runBoth(t, "train", "--layers", "784,16", "--epochs", "1", "--val-split", "0", "--out", model, "--device", "cpu")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stderr, "data: "+dataset.BuiltinName+", 10000×784 (no --data given)") {
		t.Errorf("train does not name the built-in data:\n%s", stderr)
	}
	if strings.Contains(stderr, "1 epochs") {
		t.Errorf("\"1 epochs\":\n%s", stderr)
	}
	_, stderr, err = runBoth(t, "encode", "--model", model, "--out", filepath.Join(dir, "c.npy"), "--device", "cpu")
	if err != nil || !strings.Contains(stderr, "data: "+dataset.BuiltinName) {
		t.Errorf("encode: %v\n%s", err, stderr)
	}
}

// A usage mistake is one error line pointing at --help, not the help text.
func TestUsageErrorsAreOneLine(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"encode"}, "missing required flag --model, --out; 'aegpu encode --help'"},
		{[]string{"encode", "--model", "m"}, "missing required flag --out;"},
		{[]string{"score", "--bogus"}, "flag provided but not defined: -bogus; 'aegpu score --help'"},
		{[]string{"train", "--batch", "x"}, "invalid value \"x\" for flag -batch"},
		{[]string{"train", "--epochs", "x"}, "--epochs must be an integer in [1, 1000000] or auto, got x"},
	} {
		stdout, stderr, err := runBoth(t, c.args...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: err %v, want it to contain %q", c.args, err, c.want)
		}
		if stdout != "" || strings.Contains(stderr, "USAGE") {
			t.Errorf("%v printed help:\nstdout %q\nstderr %q", c.args, stdout, stderr)
		}
	}
	// --help still works on a command with required flags.
	if stdout, _, err := runBoth(t, "encode", "--help"); err != nil || !strings.Contains(stdout, "--model") {
		t.Errorf("encode --help: %v\n%s", err, stdout)
	}
}

// The messages a new user reads: the "*" explained once, no carriage
// returns in logs, every file written named, the metrics said once, and
// the order of --anomalies' rows.
func TestMessages(t *testing.T) {
	dir := t.TempDir()
	model := filepath.Join(dir, "m")
	_, stderr, err := runBoth(t, "train", "--layers", "784,8", "--epochs", "2", "--out", model, "--device", "cpu")
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(stderr, "* = best validation loss"); n != 1 {
		t.Errorf("the * legend appears %d times, want once:\n%s", n, stderr)
	}
	_, stderr, err = runBoth(t, "encode", "--model", model, "--out", filepath.Join(dir, "c.npy"), "--device", "cpu")
	if err != nil || strings.Contains(stderr, "\r") {
		t.Errorf("encode into a log: %v, carriage return in %q", err, stderr)
	}
	png, errs := filepath.Join(dir, "g.png"), filepath.Join(dir, "e.csv")
	_, stderr, err = runBoth(t, "reconstruct", "--model", model, "--out", filepath.Join(dir, "r.npy"), "--errors", errs, "--images", png, "--device", "cpu")
	if err != nil || !strings.Contains(stderr, "wrote "+png+": rows of 8 inputs, reconstructions") || !strings.Contains(stderr, "wrote "+errs) {
		t.Errorf("reconstruct --images --errors: %v\n%s", err, stderr)
	}
	anom := filepath.Join(dir, "anom.npy")
	x := make([]float32, 50*784)
	for i := range x {
		x[i] = float32(i%7) * 40
	}
	if err := dataset.WriteNPY(anom, 50, 784, x); err != nil {
		t.Fatal(err)
	}
	_, stderr, err = runBoth(t, "score", "--model", model, "--anomalies", anom, "--contamination", "0.005", "--out", filepath.Join(dir, "s.csv"), "--device", "cpu")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stderr, "0–9999 from the data (label 0), 10000–10049 from --anomalies") {
		t.Errorf("score does not say how --anomalies' rows are numbered:\n%s", stderr)
	}
	if n := strings.Count(stderr, "F1"); n != 1 {
		t.Errorf("F1 reported %d times, want once:\n%s", n, stderr)
	}
}

// An imported model records no training data: without --data, a clear error.
func TestImportedModelNeedsData(t *testing.T) {
	dir := t.TempDir()
	model := filepath.Join(dir, "m")
	if _, err := run(t, "train", "--layers", "784,8", "--epochs", "1", "--out", model, "--device", "cpu", "--quiet"); err != nil {
		t.Fatal(err)
	}
	w := filepath.Join(dir, "w.safetensors")
	if _, err := run(t, "export", "--model", model, "--out", w, "--quiet"); err != nil {
		t.Fatal(err)
	}
	imp := filepath.Join(dir, "imported")
	if _, err := run(t, "import", "--weights", w, "--out", imp, "--quiet"); err != nil {
		t.Fatal(err)
	}
	_, _, err := runBoth(t, "encode", "--model", imp, "--out", filepath.Join(dir, "c.npy"), "--device", "cpu")
	if err == nil || !strings.Contains(err.Error(), "records no training data") || !strings.Contains(err.Error(), "--data") {
		t.Errorf("encode of an imported model without --data: %v", err)
	}
}

// --image-shape must describe the data's rows; checked before anything is
// written.
func TestTrainImageShapeMismatch(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "toy.csv")
	writeToyCSV(t, data, 40)
	out := filepath.Join(dir, "m")
	_, err := run(t, "train", "--data", data, "--layers", "6,3", "--epochs", "1", "--image-shape", "3x3", "--out", out, "--device", "cpu", "--quiet")
	if err == nil || !strings.Contains(err.Error(), "--image-shape 3x3") {
		t.Errorf("--image-shape 3x3 on 6 columns: %v", err)
	}
	if _, serr := os.Stat(out); serr == nil {
		t.Errorf("a refused run created %s", out)
	}
	if _, err := run(t, "train", "--data", data, "--layers", "6,3", "--epochs", "1", "--image-shape", "2x3", "--out", out, "--device", "cpu", "--quiet"); err != nil {
		t.Errorf("--image-shape 2x3 on 6 columns: %v", err)
	}
}
