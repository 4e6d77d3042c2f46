package bench

import (
	"bufio"
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// ReferenceScript is bench/reference/pytorch_bench.py, embedded so that
// `aegpu bench --reference` works from the binary alone.
//
//go:embed reference/pytorch_bench.py
var ReferenceScript []byte

// RefResult is one line of the reference script's output.
type RefResult struct {
	Model         string  `json:"model"`
	Batch         int     `json:"batch"`
	Mode          string  `json:"mode"`
	SamplesPerSec float64 `json:"samples_per_sec"`
	MinSPS        float64 `json:"samples_per_sec_min"`
	MaxSPS        float64 `json:"samples_per_sec_max"`
	MicrosPerStep float64 `json:"us_per_step"`
	TFLOPS        float64 `json:"tflops"`
	Device        string  `json:"device"`
	Kind          string  `json:"kind"` // cuda or cpu
}

// RunReference runs the PyTorch reference with python for the given model
// names and parses its results.
func RunReference(python string, models []string, windows int) ([]RefResult, error) {
	dir, err := os.MkdirTemp("", "aegpu-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	script := filepath.Join(dir, "pytorch_bench.py")
	if err := os.WriteFile(script, ReferenceScript, 0o644); err != nil {
		return nil, err
	}
	cmd := exec.Command(python, script, "--models", strings.Join(models, ","), "--windows", fmt.Sprint(windows))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("PyTorch reference (%s %s): %v: %s", python, script, err, strings.TrimSpace(stderr.String()))
	}
	return ParseReference(out)
}

// ParseReference parses the reference script's JSON lines.
func ParseReference(out []byte) ([]RefResult, error) {
	var rs []RefResult
	sc := bufio.NewScanner(bytes.NewReader(out))
	for line := 1; sc.Scan(); line++ {
		t := strings.TrimSpace(sc.Text())
		if t == "" {
			continue
		}
		var r RefResult
		if err := json.Unmarshal([]byte(t), &r); err != nil {
			return nil, fmt.Errorf("PyTorch reference output line %d: %w: %q", line, err, t)
		}
		rs = append(rs, r)
	}
	return rs, sc.Err()
}

// Compare formats aegpu's results next to the reference: for each model and
// batch, every aegpu device and both PyTorch modes, with aegpu's ratio over
// PyTorch's best (the CUDA-graph mode).
//
// Each aegpu result is compared with the references of the same kind of
// device (CPU with CPU, GPU with GPU).
func Compare(rs []Result, refs []RefResult) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "%-6s %6s  %-40s %14s %10s %10s\n", "model", "batch", "runner", "samples/s", "µs/step", "vs torch")
	type mb struct {
		m string
		b int
	}
	var order []mb
	seen := map[mb]bool{}
	for _, r := range rs {
		if k := (mb{r.Model, r.Batch}); !seen[k] {
			seen[k] = true
			order = append(order, k)
		}
	}
	for _, k := range order {
		for _, r := range rs {
			if r.Model != k.m || r.Batch != k.b {
				continue
			}
			best := 0.0
			for _, f := range refs {
				if f.Model == k.m && f.Batch == k.b && f.SamplesPerSec > best && f.kind() == deviceKind(r.Device) {
					best = f.SamplesPerSec
				}
			}
			ratio := "—"
			if best > 0 {
				ratio = fmt.Sprintf("%.2f×", r.SamplesPerSec/best)
			}
			fmt.Fprintf(&sb, "%-6s %6d  %-40s %14.0f %10.1f %10s\n", k.m, k.b, "aegpu "+r.Device, r.SamplesPerSec, r.MicrosPerStep, ratio)
		}
		for _, f := range refs {
			if f.Model == k.m && f.Batch == k.b {
				fmt.Fprintf(&sb, "%-6s %6d  %-40s %14.0f %10.1f %10s\n", k.m, k.b, "pytorch "+f.kind()+" "+f.Mode, f.SamplesPerSec, f.MicrosPerStep, "")
			}
		}
	}
	return sb.String()
}

// kind is the reference's device kind ("cuda" for results of scripts that
// predate the field, which ran on GPUs only).
func (f RefResult) kind() string {
	if f.Kind == "" {
		return "cuda"
	}
	return f.Kind
}

// deviceKind is "cpu" or "cuda" for an aegpu device description.
func deviceKind(device string) string {
	if strings.HasPrefix(device, "cpu") {
		return "cpu"
	}
	return "cuda"
}
