package bench

import (
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestBLASHint: the configurations of bench/README.md are told apart: the
// OpenMP build of OpenBLAS with passive waits is fair (no hint); the
// pthreads build, spinning OpenMP waits, the reference BLAS and the
// OpenBLAS overrides each get a hint that says how to fix them.
func TestBLASHint(t *testing.T) {
	omp := "/usr/lib/x86_64-linux-gnu/openblas-openmp/libopenblas.so.0"
	pth := "/usr/lib/x86_64-linux-gnu/openblas-pthread/libopenblas.so.0"
	ref := "/usr/lib/x86_64-linux-gnu/blas/libblas.so.3"
	gomp := "/usr/lib/x86_64-linux-gnu/libgomp.so.1"
	for _, c := range []struct {
		cfg  BLASConfig
		want string // "" for no hint
	}{
		{BLASConfig{BLASInfo: "open", Libraries: []string{omp, gomp}, Parallel: "OpenMP", WaitPolicy: "passive"}, ""},
		{BLASConfig{BLASInfo: "open", Libraries: []string{omp, gomp}, Parallel: "OpenMP", WaitPolicy: "PASSIVE"}, ""},
		{BLASConfig{BLASInfo: "mkl", Libraries: []string{"/opt/libmkl_rt.so.2"}, Parallel: "OpenMP"}, ""},
		{BLASConfig{BLASInfo: "open", Libraries: []string{omp, gomp}, Parallel: "OpenMP"}, "OMP_WAIT_POLICY"},
		{BLASConfig{BLASInfo: "open", Libraries: []string{pth, gomp}, Parallel: "OpenMP", WaitPolicy: "passive"}, "pthreads build"},
		{BLASConfig{BLASInfo: "open", Libraries: []string{ref, gomp}, Parallel: "OpenMP", WaitPolicy: "passive"}, "reference BLAS"},
		{BLASConfig{BLASInfo: "open", Libraries: []string{omp}, Parallel: "OpenMP", WaitPolicy: "passive", CoreType: "Haswell"}, "OPENBLAS_CORETYPE=Haswell"},
		{BLASConfig{BLASInfo: "open", Libraries: []string{omp}, Parallel: "OpenMP", WaitPolicy: "passive", L2Size: "512"}, "OPENBLAS_L2_SIZE=512"},
	} {
		h := c.cfg.Hint()
		switch {
		case c.want == "" && h != "":
			t.Errorf("%v: unexpected hint %q", c.cfg, h)
		case c.want != "" && (!strings.Contains(h, c.want) || !strings.Contains(h, "libopenblas0-openmp") || !strings.Contains(h, "OMP_WAIT_POLICY=passive")):
			t.Errorf("%v: hint %q lacks %q or the fix", c.cfg, h, c.want)
		}
	}
}

// TestProbeBLAS asks a Python with torch, where there is one
// (AEGPU_TEST_PYTHON or /usr/bin/python3), how its PyTorch multiplies.
func TestProbeBLAS(t *testing.T) {
	py := os.Getenv("AEGPU_TEST_PYTHON")
	if py == "" {
		py = "/usr/bin/python3"
	}
	if err := exec.Command(py, "-c", "import torch").Run(); err != nil {
		t.Skipf("no Python with torch at %s (AEGPU_TEST_PYTHON): %v", py, err)
	}
	c, err := ProbeBLAS(py, 2*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if c.Threads < 1 || c.BLASInfo == "" {
		t.Errorf("probe: %+v", c)
	}
	t.Logf("%s; hint: %q", c, c.Hint())
}
