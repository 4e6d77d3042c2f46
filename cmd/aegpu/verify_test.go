package main

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestVerify: an intact model verifies (exit 0); a flipped exponent bit in
// model.safetensors is reported as damage naming the file (exit 1), and
// loading the model refuses it the same way; a directory without
// checkpoint.json (an earlier aegpu's) is checked by content.
func TestVerify(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "toy.csv")
	writeToyCSV(t, data, 300)
	model := filepath.Join(dir, "m")
	if _, err := run(t, "train", "--data", data, "--layers", "6,4,2", "--scale", "standard", "--epochs", "2", "--out", model, "--device", "cpu", "--quiet"); err != nil {
		t.Fatal(err)
	}
	out, err := run(t, "verify", "--model", model)
	if err != nil || !strings.Contains(out, "every file verified") || strings.Count(out, "\nok ") != 6 || !strings.Contains(out, "state.json: valid (epoch 2 of 2, finished (epochs)") {
		t.Errorf("intact: %v\n%s", err, out)
	}
	w := filepath.Join(model, "model.safetensors")
	b, _ := os.ReadFile(w)
	b[8+binary.LittleEndian.Uint64(b)+3] ^= 1 << 6 // the first weight's top exponent bit
	os.WriteFile(w, b, 0o644)
	out, err = run(t, "verify", "--model", model)
	var ee *exitError
	if err == nil || !strings.Contains(out, "DAMAGED   model.safetensors") || strings.Contains(out, "DAMAGED   optimizer") {
		t.Errorf("flipped bit: %v\n%s", err, out)
	} else if ok := asExit(err, &ee); !ok || ee.code != 1 {
		t.Errorf("flipped bit: exit %v, want 1", err)
	}
	if _, err := run(t, "encode", "--model", model, "--data", data, "--out", filepath.Join(dir, "z.npy"), "--device", "cpu", "--quiet"); err == nil || !strings.Contains(err.Error(), "model.safetensors does not match") {
		t.Errorf("encode with a damaged model: %v", err)
	}
	// Without checkpoint.json (and the bit flipped back).
	b[8+binary.LittleEndian.Uint64(b)+3] ^= 1 << 6
	os.WriteFile(w, b, 0o644)
	os.Remove(filepath.Join(model, "checkpoint.json"))
	out, err = run(t, "verify", "--model", model)
	if err != nil || !strings.Contains(out, "no checkpoint.json") || !strings.Contains(out, "unchecked") {
		t.Errorf("legacy: %v\n%s", err, out)
	}
}

func asExit(err error, ee **exitError) bool {
	e, ok := err.(*exitError)
	*ee = e
	return ok
}
