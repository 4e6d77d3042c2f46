package floors

import (
	"bytes"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

const module = "github.com/aegpu/aegpu/"

// floor is each package's floor, from the leaves (0) to the CLI. A package
// imports only packages on lower floors; its tests may also import packages
// on its own floor and the conformance harnesses. Adding a package means
// giving it a floor here (the test fails until it has one).
var floor = map[string]int{
	"internal/atomicfile": 0, "internal/metrics": 0, "internal/pca": 0, "internal/onnxpb": 0, "internal/mpi": 0, "internal/netlimit": 0,
	"internal/slurmtest": 1,
	"cuda/internal/cu":   0, "cuda/internal/nccl": 0, "kernels": 0,
	"engine": 1, "internal/safetensors": 1, "internal/imagegrid": 1,
	"engine/enginetest": 2, "kernels/emu": 2, "cpu_fallback": 2, "cuda": 2, "dataset": 2,
	"backends": 3, "dataset/columnar": 3,
	"autoencoder": 4,
	"anomaly":     5, "bench": 5, "viz": 5, "serve": 5, "autoencoder/paritytest": 5,
	"cmd/aegpu":       6,
	"internal/floors": 7,
}

// harness packages are test libraries any floor's tests may use: the
// engine conformance suite and the CPU–GPU training parity runs.
var harness = map[string]bool{"engine/enginetest": true, "autoencoder/paritytest": true}

// testUp are the other test imports that look up, each with its reason.
var testUp = map[[2]string]string{
	{"cuda", "autoencoder"}: "the emulated GPU's encode test runs a Predictor, whose prefetch is the copy stream's user",
	{"cuda", "serve"}:       "the emulated GPU's serve test runs the server's batcher on the CUDA backend",
}

// TestFloors checks every package's imports (go list, with and without its
// tests) against the floors: no import runs back up, so there is no cycle.
func TestFloors(t *testing.T) {
	goTool := filepath.Join(runtime.GOROOT(), "bin", "go")
	cmd := exec.Command(goTool, "list", "-f",
		"{{.ImportPath}}|{{join .Imports \" \"}}|{{join .TestImports \" \"}} {{join .XTestImports \" \"}}", module+"...")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	seen := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		parts := strings.SplitN(line, "|", 3)
		pkg := strings.TrimPrefix(parts[0], module)
		f, ok := floor[pkg]
		if !ok {
			t.Errorf("package %s has no floor: add it to the table (and the README's architecture)", pkg)
			continue
		}
		seen++
		for _, imp := range own(parts[1]) {
			if g, ok := floor[imp]; !ok || g >= f {
				t.Errorf("%s (floor %d) imports %s (floor %d): imports must point down", pkg, f, imp, g)
			}
		}
		for _, imp := range own(parts[2]) {
			if g, ok := floor[imp]; (!ok || g > f) && !harness[imp] && imp != pkg && testUp[[2]string{pkg, imp}] == "" {
				t.Errorf("the tests of %s (floor %d) import %s (floor %d): tests may look across their floor, not up", pkg, f, imp, g)
			}
		}
	}
	if seen < len(floor) {
		t.Errorf("go list named %d of the %d packages in the table: remove the ones that are gone", seen, len(floor))
	}
}

// own returns the project's packages among space-separated import paths.
func own(list string) []string {
	var out []string
	for _, p := range strings.Fields(list) {
		if strings.HasPrefix(p, module) {
			out = append(out, strings.TrimPrefix(p, module))
		}
	}
	return out
}
