package main

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/aegpu/aegpu/autoencoder"
	"github.com/aegpu/aegpu/internal/onnxpb"
)

// readONNX reads an ONNX export: its graph's input and output names, its
// node types and its metadata.
func readONNX(t *testing.T, path string) (in, out, ops []string, meta map[string]string, mp *onnxpb.ModelProto) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	mp = &onnxpb.ModelProto{}
	if err := proto.Unmarshal(b, mp); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	for _, v := range mp.Graph.Input {
		in = append(in, v.GetName())
	}
	for _, v := range mp.Graph.Output {
		out = append(out, v.GetName())
	}
	for _, n := range mp.Graph.Node {
		ops = append(ops, n.GetOpType())
	}
	meta = map[string]string{}
	for _, p := range mp.MetadataProps {
		meta[p.GetKey()] = p.GetValue()
	}
	return in, out, ops, meta, mp
}

// TestExportONNX: export --format onnx (or an --out ending in .onnx)
// writes the whole model, the encoder or the decoder, with or without the
// scaler; the safetensors-only and ONNX-only flags are refused for the
// other format.
func TestExportONNX(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "toy.csv")
	writeToyCSV(t, data, 120)
	model := filepath.Join(dir, "m")
	if _, err := run(t, "train", "--data", data, "--layers", "6,4,2", "--hidden", "gelu", "--scale", "minmax", "--epochs", "1", "--batch", "32",
		"--tied", "--out", model, "--device", "cpu", "--quiet"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args          []string
		in, out, head []string // head: the first node types
		part          string
	}{
		{nil, []string{"x"}, []string{"reconstruction", "code"}, []string{"Sub", "Mul", "Gemm"}, "encoder+decoder"},
		{[]string{"--encoder-only"}, []string{"x"}, []string{"code"}, []string{"Sub", "Mul", "Gemm"}, "encoder"},
		{[]string{"--decoder-only"}, []string{"code"}, []string{"reconstruction"}, []string{"Gemm"}, "decoder"},
		{[]string{"--no-scaler", "--opset", "20"}, []string{"x"}, []string{"reconstruction", "code"}, []string{"Gemm", "Gelu"}, "encoder+decoder"},
	} {
		out := filepath.Join(dir, "m"+strings.Join(c.args, "")+".onnx")
		if _, err := run(t, append([]string{"export", "--model", model, "--out", out, "--quiet"}, c.args...)...); err != nil {
			t.Fatalf("export %v: %v", c.args, err)
		}
		in, outs, ops, meta, mp := readONNX(t, out)
		if !slices.Equal(in, c.in) || !slices.Equal(outs, c.out) || len(ops) < len(c.head) || !slices.Equal(ops[:len(c.head)], c.head) || meta["aegpu_part"] != c.part {
			t.Errorf("export %v: inputs %v, outputs %v, nodes %v, part %q", c.args, in, outs, ops, meta["aegpu_part"])
		}
		if !strings.Contains(mp.GetDocString(), "tied") || meta["aegpu_hidden"] != "gelu" {
			t.Errorf("export %v: doc_string %q, metadata %v", c.args, mp.GetDocString(), meta)
		}
	}
	// --format onnx with another name, and the flags of the other format.
	if _, err := run(t, "export", "--model", model, "--out", filepath.Join(dir, "x.bin"), "--format", "onnx", "--quiet"); err == nil || !strings.Contains(err.Error(), ".onnx") {
		t.Errorf("--format onnx --out x.bin: %v", err)
	}
	st := filepath.Join(dir, "m.safetensors")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--out", st, "--decoder-only"}, "--decoder-only: only for ONNX exports"},
		{[]string{"--out", st, "--no-scaler", "--opset", "18"}, "--no-scaler, --opset: only for ONNX exports"},
		{[]string{"--out", st + ".onnx", "--print-pytorch"}, "--print-pytorch is for safetensors exports"},
		{[]string{"--out", st, "--format", "onnx"}, "want .onnx"},
		{[]string{"--out", st, "--format", "tflite"}, "--format tflite: want safetensors or onnx"},
		{[]string{"--out", st + ".onnx", "--encoder-only", "--decoder-only"}, "give one"},
		{[]string{"--out", st + ".onnx", "--opset", "16"}, "--opset"},
	} {
		_, err := run(t, append([]string{"export", "--model", model, "--quiet"}, c.args...)...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("export %v: %v, want an error saying %q", c.args, err, c.want)
		}
	}
	if _, err := os.Stat(st); err == nil {
		t.Errorf("a refused export left %s", st)
	}
}

// TestExportONNXEncoderOnly: an imported encoder-only model exports its
// encoder (also without --encoder-only) and refuses --decoder-only,
// saying why.
func TestExportONNXEncoderOnly(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "toy.csv")
	writeToyCSV(t, data, 120)
	model, enc, imported := filepath.Join(dir, "m"), filepath.Join(dir, "enc.safetensors"), filepath.Join(dir, "imp")
	if _, err := run(t, "train", "--data", data, "--layers", "6,4,2", "--variant", "vae", "--scale", "standard", "--epochs", "1", "--batch", "32",
		"--out", model, "--device", "cpu", "--quiet"); err != nil {
		t.Fatal(err)
	}
	if _, err := run(t, "export", "--model", model, "--out", enc, "--encoder-only", "--quiet"); err != nil {
		t.Fatal(err)
	}
	if _, err := run(t, "import", "--weights", enc, "--out", imported, "--quiet"); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "imp.onnx")
	if _, err := run(t, "export", "--model", imported, "--out", out, "--quiet"); err != nil {
		t.Fatal(err)
	}
	in, outs, ops, meta, _ := readONNX(t, out)
	if !slices.Equal(in, []string{"x"}) || !slices.Equal(outs, []string{"mu", "logvar"}) || ops[0] != "Sub" || meta["aegpu_part"] != "encoder" {
		t.Errorf("encoder-only model's export: inputs %v, outputs %v, nodes %v, part %q", in, outs, ops, meta["aegpu_part"])
	}
	_, err := run(t, "export", "--model", imported, "--out", filepath.Join(dir, "dec.onnx"), "--decoder-only", "--quiet")
	var eo *autoencoder.EncoderOnlyError
	if !errors.As(err, &eo) || !strings.Contains(err.Error(), "cannot export a decoder") || !strings.Contains(err.Error(), "--encoder-only") {
		t.Errorf("--decoder-only of an encoder-only model: %v", err)
	}
}
