package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aegpu/aegpu/dataset"
)

// torchPython finds a python3 that imports torch (Debian's python3-torch
// lives in /usr/bin/python3's path), or skips.
func torchPython(t *testing.T) string {
	for _, py := range []string{"/usr/bin/python3", "python3"} {
		if exec.Command(py, "-c", "import torch").Run() == nil {
			return py
		}
	}
	t.Skip("no python3 with torch (Debian: apt-get install python3-torch)")
	return ""
}

// safetensorsShim is a minimal safetensors package (load_file, safe_open
// with metadata) for a python without it, reading the format from its
// definition: 8-byte header length, JSON header, raw little-endian data.
var safetensorsShim = map[string]string{
	"safetensors/__init__.py": `import json, struct
import torch as _torch  # "torch" becomes the submodule safetensors.torch

def _read(path):
    b = open(path, "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    hdr = json.loads(b[8:8+n])
    meta = hdr.pop("__metadata__", {})
    out = {}
    for name, e in hdr.items():
        assert e["dtype"] == "F32", e
        lo, hi = e["data_offsets"]
        out[name] = _torch.frombuffer(bytearray(b[8+n+lo:8+n+hi]), dtype=_torch.float32).reshape(e["shape"])
    return out, meta

class safe_open:
    def __init__(self, path, framework, device="cpu"):
        self._t, self._m = _read(path)
    def __enter__(self):
        return self
    def __exit__(self, *exc):
        return False
    def metadata(self):
        return self._m
    def keys(self):
        return list(self._t)
    def get_tensor(self, name):
        return self._t[name]
`,
	"safetensors/torch.py": `from safetensors import _read

def load_file(path, device="cpu"):
    return _read(path)[0]
`,
}

// TestExportLoadsIntoPyTorch exports a tied model (full and encoder-only),
// runs the code --print-pytorch prints for each (which defines the modules,
// loads the file with load_state_dict, strict, and reads the scaler), and
// checks PyTorch's encoder and decoder reproduce aegpu's codes and
// reconstructions. Where python lacks the safetensors package, a shim
// reading the format from its definition stands in, so no Python package
// beyond torch is needed.
func TestExportLoadsIntoPyTorch(t *testing.T) {
	py := torchPython(t)
	dir := t.TempDir()
	data := filepath.Join(dir, "toy.csv")
	writeToyCSV(t, data, 64)
	model := filepath.Join(dir, "m")
	if _, err := run(t, "train", "--data", data, "--layers", "6,5,3", "--hidden", "tanh", "--scale", "minmax", "--tied", "--epochs", "2",
		"--out", model, "--device", "cpu", "--quiet"); err != nil {
		t.Fatal(err)
	}
	full, enc := filepath.Join(dir, "full.safetensors"), filepath.Join(dir, "enc.safetensors")
	fullCode, err := run(t, "export", "--model", model, "--out", full, "--print-pytorch", "--quiet")
	if err != nil {
		t.Fatal(err)
	}
	encCode, err := run(t, "export", "--model", model, "--out", enc, "--encoder-only", "--print-pytorch", "--quiet")
	if err != nil {
		t.Fatal(err)
	}
	codeFiles := [2]string{filepath.Join(dir, "full.py"), filepath.Join(dir, "enc.py")}
	for i, code := range []string{fullCode, encCode} {
		if err := os.WriteFile(codeFiles[i], []byte(code), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	codes, recon := filepath.Join(dir, "z.csv"), filepath.Join(dir, "r.csv")
	if _, err := run(t, "encode", "--model", model, "--data", data, "--out", codes, "--device", "cpu", "--quiet"); err != nil {
		t.Fatal(err)
	}
	if _, err := run(t, "reconstruct", "--model", model, "--data", data, "--out", recon, "--device", "cpu", "--quiet"); err != nil {
		t.Fatal(err)
	}
	tab, _ := dataset.Load(data, dataset.LoadOptions{})
	z, _ := dataset.Load(codes, dataset.LoadOptions{})
	r, _ := dataset.Load(recon, dataset.LoadOptions{})
	script := fmt.Sprintf(`
import sys, torch
from safetensors.torch import load_file

full, enc = {}, {}
exec(open(%q).read(), full)
exec(open(%q).read(), enc)
assert "decoder" not in enc, "the encoder-only code defines a decoder"
assert set(load_file(%q)) == {k for k in load_file(%q) if k.startswith("encoder.")}
x = torch.tensor(%s, dtype=torch.float32).reshape(-1, %d)
with torch.no_grad():
    zt = full["encoder"]((x - full["offset"]) * full["scale"])
    rt = full["decoder"](zt) / full["scale"] + full["offset"]
    ze = enc["encoder"]((x - enc["offset"]) * enc["scale"])
want_z = torch.tensor(%s, dtype=torch.float32).reshape(zt.shape)
want_r = torch.tensor(%s, dtype=torch.float32).reshape(rt.shape)
dz, de, dr = float((zt - want_z).abs().max()), float((ze - want_z).abs().max()), float((rt - want_r).abs().max())
print("max |dz|", dz, "encoder-only max |dz|", de, "max |dr|", dr)
# fp32 on both sides, different summation order: 1e-5 on codes, 1e-4 on
# reconstructions of values up to ~10.
sys.exit(0 if dz < 1e-5 and de < 1e-5 and dr < 1e-4 else 1)
`, codeFiles[0], codeFiles[1], enc, full, pyList(tab.Data), tab.Cols, pyList(z.Data), pyList(r.Data))
	sp := filepath.Join(dir, "check.py")
	if err := os.WriteFile(sp, []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(py, sp)
	if exec.Command(py, "-c", "import safetensors.torch").Run() != nil {
		shim := filepath.Join(dir, "shim")
		for name, src := range safetensorsShim {
			p := filepath.Join(shim, name)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		cmd.Env = append(os.Environ(), "PYTHONPATH="+shim)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("PyTorch check: %v\n%s\nfull export's code:\n%s\nencoder-only code:\n%s", err, out, fullCode, encCode)
	}
	t.Logf("PyTorch: %s", strings.TrimSpace(string(out)))
}

func pyList(v []float32) string {
	var sb strings.Builder
	sb.WriteString("[")
	for i, x := range v {
		if i > 0 {
			sb.WriteString(",")
		}
		fmt.Fprintf(&sb, "%v", x)
	}
	sb.WriteString("]")
	return sb.String()
}
