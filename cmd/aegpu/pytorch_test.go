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

// TestExportLoadsIntoPyTorch exports a tied model (full and encoder-only),
// loads both into the modules --print-pytorch prints with load_state_dict
// (strict), and checks PyTorch's encoder and decoder reproduce aegpu's codes
// and reconstructions. The safetensors file is read with the format's own
// definition (8-byte header length, JSON header, raw little-endian data),
// so no Python package beyond torch is needed.
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
	code, err := run(t, "export", "--model", model, "--out", full, "--print-pytorch", "--quiet")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := run(t, "export", "--model", model, "--out", enc, "--encoder-only", "--quiet"); err != nil {
		t.Fatal(err)
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
import json, struct, sys, torch
import torch.nn as nn

def load(path):
    b = open(path, "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    hdr = json.loads(b[8:8+n])
    meta = hdr.pop("__metadata__", {})
    out = {}
    for name, e in hdr.items():
        assert e["dtype"] == "F32", e
        lo, hi = e["data_offsets"]
        out[name] = torch.frombuffer(bytearray(b[8+n+lo:8+n+hi]), dtype=torch.float32).reshape(e["shape"])
    return out, meta

%s
sd, meta = load(%q)
scaler = json.loads(meta["aegpu_scaler"])
enc_sd = {k[len("encoder."):]: v for k, v in sd.items() if k.startswith("encoder.")}
dec_sd = {k[len("decoder."):]: v for k, v in sd.items() if k.startswith("decoder.")}
encoder.load_state_dict(enc_sd, strict=True)
decoder.load_state_dict(dec_sd, strict=True)
only, _ = load(%q)
assert set(only) == {"encoder." + k for k in enc_sd}, sorted(only)
x = torch.tensor(%s, dtype=torch.float32).reshape(-1, %d)
xs = (x - torch.tensor(scaler["offset"])) * torch.tensor(scaler["scale"])
with torch.no_grad():
    zt = encoder(xs)
    rt = decoder(zt) / torch.tensor(scaler["scale"]) + torch.tensor(scaler["offset"])
want_z = torch.tensor(%s, dtype=torch.float32).reshape(zt.shape)
want_r = torch.tensor(%s, dtype=torch.float32).reshape(rt.shape)
print("max |dz|", float((zt - want_z).abs().max()), "max |dr|", float((rt - want_r).abs().max()))
# fp32 on both sides, different summation order: 1e-5 on codes, 1e-4 on
# reconstructions of values up to ~10.
sys.exit(0 if (zt - want_z).abs().max() < 1e-5 and (rt - want_r).abs().max() < 1e-4 else 1)
`, code, full, enc, pyList(tab.Data), tab.Cols, pyList(z.Data), pyList(r.Data))
	sp := filepath.Join(dir, "check.py")
	if err := os.WriteFile(sp, []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(py, sp).CombinedOutput()
	if err != nil {
		t.Fatalf("PyTorch check: %v\n%s", err, out)
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
