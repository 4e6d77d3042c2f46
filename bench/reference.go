package bench

import (
	"bufio"
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
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
	Kind          string  `json:"kind"`      // cuda or cpu
	Precision     string  `json:"precision"` // of the GPU's matrix products (the CPU: fp32)
}

// PythonProbeTimeout bounds CheckPython's probe: importing torch reads a
// few hundred MB, which takes seconds from a cold disk.
const PythonProbeTimeout = 60 * time.Second

// PythonInfo is what CheckPython found.
type PythonInfo struct {
	Path       string // the interpreter's path (looked up on PATH)
	Executable string // its sys.executable (where a shim such as pyenv's leads)
	Version    string // Python's version
	Torch      string // torch.__version__
}

func (p PythonInfo) String() string {
	s := p.Path
	if p.Executable != "" && p.Executable != p.Path {
		s += " → " + p.Executable
	}
	return fmt.Sprintf("%s, Python %s, torch %s", s, p.Version, p.Torch)
}

// pythonProbe prints sys.executable and the Python version before it
// imports torch, so a failed import still says which Python it was.
const pythonProbe = `import sys
sys.stdout.write(sys.executable + "\n" + sys.version.split()[0] + "\n")
sys.stdout.flush()
import torch
sys.stdout.write(torch.__version__ + "\n")
`

// pythonHint says how to give the reference another interpreter.
const pythonHint = "the PyTorch reference needs a Python interpreter that imports torch: install PyTorch for it, or point --python at one that has it (e.g. --python /path/to/venv/bin/python)"

// CheckPython checks that python (a name looked up on PATH, or a path)
// runs and imports torch, within timeout, before anything long is
// measured. Its errors name the interpreter tried (its path), what went
// wrong, and --python.
func CheckPython(python string, timeout time.Duration) (PythonInfo, error) {
	path, err := exec.LookPath(python)
	if err != nil {
		return PythonInfo{}, fmt.Errorf("--python %s: no such executable (%v); %s", python, unwrapExecErr(err), pythonHint)
	}
	info := PythonInfo{Path: path}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, "-c", pythonProbe)
	cmd.WaitDelay = time.Second // a child holding the pipes open cannot outlast the timeout
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	if len(lines) >= 2 {
		info.Executable, info.Version = strings.TrimSpace(lines[0]), strings.TrimSpace(lines[1])
	}
	who := fmt.Sprintf("--python %s (%s", python, path)
	if info.Executable != "" && info.Executable != path {
		who += " → " + info.Executable
	}
	if info.Version != "" {
		who += ", Python " + info.Version
	}
	who += ")"
	switch {
	case ctx.Err() != nil:
		return info, fmt.Errorf("%s did not finish importing torch within %s; %s", who, timeout, pythonHint)
	case runErr != nil && info.Version == "":
		return info, fmt.Errorf("%s does not run as a Python interpreter: %v%s; %s", who, runErr, lastLine(stderr.String()), pythonHint)
	case runErr != nil:
		return info, fmt.Errorf("%s cannot import torch%s; %s", who, lastLine(stderr.String()), pythonHint)
	case len(lines) < 3:
		return info, fmt.Errorf("%s: unexpected answer to the torch probe %q; %s", who, stdout.String(), pythonHint)
	}
	info.Torch = strings.TrimSpace(lines[2])
	return info, nil
}

// unwrapExecErr drops exec.Error's repetition of the name.
func unwrapExecErr(err error) error {
	var ee *exec.Error
	if errors.As(err, &ee) {
		return ee.Err
	}
	return err
}

// lastLine is the last non-empty line of s (a traceback's exception) in
// parentheses after a space, or "".
func lastLine(s string) string {
	ls := strings.Split(strings.TrimSpace(s), "\n")
	if l := strings.TrimSpace(ls[len(ls)-1]); l != "" {
		return " (" + l + ")"
	}
	return ""
}

// RunReference runs the PyTorch reference with python for the given model
// names and parses its results (CheckPython first says whether python can).
//
// precision ("", fp32, tf32, bf16) sets PyTorch's GPU matrix products to
// match aegpu's --precision: TF32 off, allow_tf32, or bf16 autocast.
func RunReference(python string, models []string, windows int, precision string) ([]RefResult, error) {
	dir, err := os.MkdirTemp("", "aegpu-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	script := filepath.Join(dir, "pytorch_bench.py")
	if err := os.WriteFile(script, ReferenceScript, 0o644); err != nil {
		return nil, err
	}
	args := []string{script, "--models", strings.Join(models, ","), "--windows", fmt.Sprint(windows)}
	if precision != "" {
		args = append(args, "--precision", precision)
	}
	cmd := exec.Command(python, args...)
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
