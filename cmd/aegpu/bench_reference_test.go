package main

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestBenchReferenceChecksPythonFirst: aegpu bench --reference with an
// interpreter that lacks torch fails at once, naming it and --python,
// before measuring anything (no results table).
func TestBenchReferenceChecksPythonFirst(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("the fake interpreter is a shell script")
	}
	py := filepath.Join(t.TempDir(), "python3")
	script := `#!/bin/sh
echo /usr/local/bin/python3.11; echo 3.11.9
echo "ModuleNotFoundError: No module named 'torch'" >&2
exit 1
`
	if err := os.WriteFile(py, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	out, err := run(t, "bench", "--reference", "--python", py, "--devices", "cpu", "--models", "toy", "--windows", "1")
	if err == nil || !strings.Contains(err.Error(), py) || !strings.Contains(err.Error(), "cannot import torch") || !strings.Contains(err.Error(), "--python") {
		t.Errorf("bench --reference with a python without torch: %v", err)
	}
	if strings.Contains(out, "samples/s") {
		t.Errorf("bench measured before checking the interpreter:\n%s", out)
	}
	t.Logf("%v (after %s)", err, time.Since(start))
}
