package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"time"
)

// BLASConfig is what the reference's Python process shows of PyTorch's CPU
// matrix products: the BLAS it was built with, the BLAS library actually
// loaded, its threading, and the environment variables that change its
// speed. PyTorch on the CPU is a fair reference only with the OpenMP build
// of OpenBLAS and passive OpenMP waits (bench/README.md).
type BLASConfig struct {
	BLASInfo   string   `json:"blas_info"`   // torch.__config__.show()'s BLAS_INFO (open, mkl, …)
	Libraries  []string `json:"libraries"`   // BLAS/LAPACK/OpenMP shared libraries mapped after a matmul
	Parallel   string   `json:"parallel"`    // "ATen parallel backend" of torch.__config__.parallel_info()
	Threads    int      `json:"threads"`     // torch.get_num_threads()
	WaitPolicy string   `json:"wait_policy"` // OMP_WAIT_POLICY
	CoreType   string   `json:"coretype"`    // OPENBLAS_CORETYPE
	L2Size     string   `json:"l2size"`      // OPENBLAS_L2_SIZE
}

// blasProbe runs one matmul (which loads the BLAS) and prints BLASConfig
// as JSON.
const blasProbe = `import json, os, re, torch
torch.mm(torch.ones(64, 64), torch.ones(64, 64))
show = torch.__config__.show()
m = re.search(r"BLAS_INFO=([^,\s]+)", show)
par = re.search(r"ATen parallel backend:\s*(.*)", torch.__config__.parallel_info())
libs = set()
try:
    for line in open("/proc/self/maps"):
        f = line.split()
        if len(f) >= 6 and re.search(r"(blas|lapack|gomp|iomp|mkl)[^/]*\.so", f[-1]):
            libs.add(f[-1])
except OSError:
    pass
print(json.dumps({"blas_info": m.group(1) if m else "", "libraries": sorted(libs),
    "parallel": par.group(1).strip() if par else "", "threads": torch.get_num_threads(),
    "wait_policy": os.environ.get("OMP_WAIT_POLICY", ""), "coretype": os.environ.get("OPENBLAS_CORETYPE", ""),
    "l2size": os.environ.get("OPENBLAS_L2_SIZE", "")}))
`

// ProbeBLAS asks python (the reference's interpreter, in this process's
// environment, which the reference inherits) how PyTorch does its CPU
// matrix products.
func ProbeBLAS(python string, timeout time.Duration) (BLASConfig, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, python, "-c", blasProbe)
	cmd.WaitDelay = time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return BLASConfig{}, fmt.Errorf("probing PyTorch's BLAS with %s: %v%s", python, err, lastLine(stderr.String()))
	}
	var c BLASConfig
	if err := json.Unmarshal(bytes.TrimSpace(stdout.Bytes()), &c); err != nil {
		return BLASConfig{}, fmt.Errorf("probing PyTorch's BLAS with %s: %v: %q", python, err, stdout.String())
	}
	return c, nil
}

// FixBLAS is how to run the reference in its best CPU configuration.
const FixBLAS = "apt-get install libopenblas0-openmp, then run the reference with " +
	"LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/openblas-openmp OMP_WAIT_POLICY=passive " +
	"and OPENBLAS_CORETYPE, OPENBLAS_L2_SIZE unset, for that command only (bench/README.md)"

// Problems lists what makes this configuration slower than PyTorch's best
// on the CPU (none: a fair reference).
func (c BLASConfig) Problems() []string {
	var p []string
	lib := strings.Join(c.Libraries, " ")
	switch {
	case strings.Contains(lib, "openblas-pthread"):
		p = append(p, "PyTorch calls the pthreads build of OpenBLAS, whose threads contend with PyTorch's OpenMP threads (3–10× slower)")
	case strings.Contains(lib, "openblas"):
		// the OpenMP build (openblas-openmp), or another one
	case strings.Contains(lib, "mkl"):
		// MKL: fast as it is
	case strings.Contains(lib, "/blas/libblas") || (c.BLASInfo == "open" && !strings.Contains(lib, "blas")):
		p = append(p, "PyTorch calls the reference BLAS (libblas), not an optimized one (about 30× slower)")
	}
	if strings.Contains(lib, "openblas") && strings.Contains(strings.ToLower(c.Parallel), "openmp") &&
		!strings.EqualFold(c.WaitPolicy, "passive") {
		p = append(p, fmt.Sprintf("OMP_WAIT_POLICY is %q, not passive: idle OpenMP threads spin and take the cores from the BLAS", c.WaitPolicy))
	}
	if c.CoreType != "" {
		p = append(p, "OPENBLAS_CORETYPE="+c.CoreType+" overrides OpenBLAS's choice of kernels for this CPU")
	}
	if c.L2Size != "" {
		p = append(p, "OPENBLAS_L2_SIZE="+c.L2Size+" overrides OpenBLAS's blocking for this CPU")
	}
	return p
}

// Hint is the one-paragraph warning for a slow configuration, "" for a
// fair one.
func (c BLASConfig) Hint() string {
	p := c.Problems()
	if len(p) == 0 {
		return ""
	}
	return "PyTorch's CPU figures below come from a slow BLAS configuration: " + strings.Join(p, "; ") + ". For its best: " + FixBLAS + "."
}

func (c BLASConfig) String() string {
	libs := make([]string, len(c.Libraries))
	for i, l := range c.Libraries {
		libs[i] = l[strings.LastIndex(l, "/")+1:]
		if strings.Contains(l, "openblas-openmp") || strings.Contains(l, "openblas-pthread") {
			dir := l[:strings.LastIndex(l, "/")]
			libs[i] = dir[strings.LastIndex(dir, "/")+1:] + "/" + libs[i]
		}
	}
	wp := c.WaitPolicy
	if wp == "" {
		wp = "unset"
	}
	return fmt.Sprintf("BLAS %s (%s), %s threads: %d, OMP_WAIT_POLICY %s", c.BLASInfo, strings.Join(libs, ", "), c.Parallel, c.Threads, wp)
}
