package autoencoder

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aegpu/aegpu/dataset"
	"github.com/aegpu/aegpu/engine"
	"github.com/aegpu/aegpu/internal/safetensors"
)

// TestEncoderOnlyModel: an encoder-only import of a model's encoder
// encodes exactly as the model, and everything that needs the decoder
// refuses with an EncoderOnlyError.
func TestEncoderOnlyModel(t *testing.T) {
	b := cpu(t)
	for _, vae := range []bool{false, true} {
		full := Arch{Layers: []int{6, 4, 2}, Hidden: engine.Tanh, Latent: engine.Linear, Output: engine.Sigmoid, VAE: vae}
		m, err := NewModel(b, full)
		if err != nil {
			t.Fatal(err)
		}
		defer m.Free()
		if err := m.Init(3); err != nil {
			t.Fatal(err)
		}
		tm := encoderOnlyExport(t, m)
		enc := full
		enc.EncoderOnly = true
		checkEncoderOnlyArch(t, enc)
		sc := dataset.Scaler{Kind: dataset.ScaleMinMax, Offset: []float32{0, 1, 2, 3, 4, 5}, Scale: []float32{1, 2, 1, 2, 1, 2}}
		dir := filepath.Join(t.TempDir(), "enc")
		cfg, err := Import(dir, tm, enc, sc, "enc.safetensors", b)
		if err != nil {
			t.Fatal(err)
		}
		if !cfg.EncoderOnly || cfg.Output != "" || cfg.Params != enc.NumParams() {
			t.Errorf("config: encoder_only %v, output %q, %d parameters (want %d)", cfg.EncoderOnly, cfg.Output, cfg.Params, enc.NumParams())
		}
		em, ecfg, err := LoadModel(dir, b)
		if err != nil {
			t.Fatal(err)
		}
		defer em.Free()
		if !em.Arch.EncoderOnly || len(em.Layers) != len(enc.Specs()) {
			t.Fatalf("loaded: encoder-only %v, %d layers", em.Arch.EncoderOnly, len(em.Layers))
		}
		x := make([]float32, 5*6)
		engine.FillUniform(x, 1, 9, 0, 0, 10)
		want := encodeWith(t, m, Config{Scaler: sc}, x)
		p, err := NewPredictor(em, ecfg, 4)
		if err != nil {
			t.Fatal(err)
		}
		defer p.Free()
		got, err := p.Encode(x, 6)
		if err != nil {
			t.Fatal(err)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("vae %v: encoder-only code %v at %d, the model's %v", vae, got[i], i, want[i])
			}
		}
		checkEncoderOnlyRefusals(t, b, p, dir, enc, x, got)
	}
}

// encoderOnlyExport exports m's encoder alone, as Import takes it, and
// requires that it has no decoder tensors.
func encoderOnlyExport(t *testing.T, m *Model) map[string]safetensors.Tensor {
	t.Helper()
	ts, err := m.ExportTensors(true)
	if err != nil {
		t.Fatal(err)
	}
	tm := map[string]safetensors.Tensor{}
	for _, x := range ts {
		tm[x.Name] = x
	}
	if HasDecoder(tm) {
		t.Fatalf("the encoder-only export has decoder tensors: %v", names(tm))
	}
	return tm
}

// checkEncoderOnlyArch: an encoder-only Arch describes the encoder alone.
func checkEncoderOnlyArch(t *testing.T, enc Arch) {
	t.Helper()
	for _, s := range enc.Specs() {
		if !s.Encoder {
			t.Errorf("encoder-only Specs has %s", s.Name)
		}
	}
	if enc.String() != "6→4→2" || strings.Contains(enc.PyTorch(), "decoder") {
		t.Errorf("encoder-only String %s, PyTorch:\n%s", enc, enc.PyTorch())
	}
}

// checkEncoderOnlyRefusals: everything that needs the decoder refuses an
// encoder-only model (p predicts with the model imported into dir, of
// architecture enc; x is its input and got its codes).
func checkEncoderOnlyRefusals(t *testing.T, b engine.Backend, p *Predictor, dir string, enc Arch, x, got []float32) {
	t.Helper()
	for what, f := range map[string]func() error{
		"Reconstruct":       func() error { _, _, err := p.Reconstruct(x, 6); return err },
		"Errors":            func() error { _, _, err := p.Errors(x, 6, engine.MSE, false); return err },
		"ReconstructScaled": func() error { _, err := p.ReconstructScaled(x, 6); return err },
		"Decode":            func() error { _, err := p.Decode(got); return err },
		"Sample":            func() error { _, _, err := p.Sample(2, 1); return err },
		"Interpolate":       func() error { _, _, err := p.Interpolate(x, 6, 0, 1, 3); return err },
	} {
		var eo *EncoderOnlyError
		if err := f(); !errors.As(err, &eo) || !strings.Contains(err.Error(), "(imported from enc.safetensors)") {
			t.Errorf("%s on an encoder-only model: %v", what, err)
		}
	}
	var eo *EncoderOnlyError
	if _, err := ResumeRun(dir, &dataset.Table{Rows: 5, Cols: 6, Data: x}, b, 0, nil, nil); !errors.As(err, &eo) || !strings.Contains(err.Error(), dir+" is an encoder-only model") {
		t.Errorf("ResumeRun of an encoder-only model: %v", err)
	}
	if _, err := NewRun(FitOptions{Data: &dataset.Table{Rows: 5, Cols: 6, Data: x}, Arch: enc, Train: DefaultTrainConfig(), Backend: b}); err == nil || !strings.Contains(err.Error(), "encoder-only") {
		t.Errorf("NewRun of an encoder-only architecture: %v", err)
	}
}

func encodeWith(t *testing.T, m *Model, cfg Config, x []float32) []float32 {
	t.Helper()
	p, err := NewPredictor(m, cfg, 4)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Free()
	z, err := p.Encode(x, m.Arch.Input())
	if err != nil {
		t.Fatal(err)
	}
	return z
}
