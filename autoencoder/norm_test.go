package autoencoder

import (
	"context"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aegpu/aegpu/dataset"
	"github.com/aegpu/aegpu/engine"
)

// normArch is a small --norm layer architecture with two normalized
// layers in each half: 7→6→4 (normalized), 4→3 (the code), 3→4→6
// (normalized), 6→7 (the output).
func normArch(hidden engine.Act) Arch {
	return Arch{Layers: []int{7, 6, 4, 3}, Hidden: hidden, Latent: engine.Linear, Output: engine.Sigmoid, Norm: NormLayer}
}

// refOf is the float64 reference of m's current parameters.
func refOf(t *testing.T, m *Model) []refLayer {
	t.Helper()
	ts, err := m.Tensors()
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string][]float64{}
	for _, x := range ts {
		byName[x.Name] = f64(x.Data)
	}
	ref := make([]refLayer, len(m.Layers))
	for i, L := range m.Layers {
		ref[i] = refLayer{in: L.In, out: L.Out, act: L.Act, w: byName[L.Name+".weight"], b: byName[L.Name+".bias"]}
		if L.Norm {
			ref[i].g, ref[i].nb = byName[L.NormName+".weight"], byName[L.NormName+".bias"]
		}
	}
	return ref
}

// randomizeNorms gives the LayerNorms gains and biases other than their
// initial 1 and 0, so that the gradient check sees them act.
func randomizeNorms(t *testing.T, m *Model, seed uint64) {
	t.Helper()
	for i, L := range m.Layers {
		if !L.Norm {
			continue
		}
		g := make([]float32, L.Out)
		engine.FillUniform(g, seed, 100+2*uint64(i), 0, 0.5, 1.5)
		nb := make([]float32, L.Out)
		engine.FillUniform(nb, seed, 101+2*uint64(i), 0, -0.3, 0.3)
		must(t, m.Backend.Upload(L.NG, g))
		must(t, m.Backend.Upload(L.NB, nb))
	}
}

// TestNormSpecsAndNames: --norm layer puts nn.LayerNorm modules between
// the hidden layers' nn.Linear and activation, with PyTorch's
// nn.Sequential indices, in the encoder and decoder but not on the code's
// or the output layer.
func TestNormSpecsAndNames(t *testing.T) {
	a := normArch(engine.ReLU)
	must(t, a.Validate())
	var got []string
	for _, s := range a.Specs() {
		n := s.Name
		if s.Norm {
			n += "+" + s.NormName
		}
		got = append(got, n)
	}
	want := "encoder.0+encoder.1 encoder.3+encoder.4 encoder.6 decoder.0+decoder.1 decoder.3+decoder.4 decoder.6"
	if strings.Join(got, " ") != want {
		t.Errorf("specs %v, want %s", got, want)
	}
	plain := a
	plain.Norm = NormNone
	if d := a.NumParams() - plain.NumParams(); d != 2*(6+4+4+6) {
		t.Errorf("NumParams grows by %d with --norm layer, want a gain and a bias per normalized unit (40)", d)
	}
	py := a.PyTorch()
	if !strings.Contains(py, "nn.Linear(7, 6),\n    nn.LayerNorm(6),\n    nn.ReLU(),\n    nn.Linear(6, 4),\n    nn.LayerNorm(4),\n    nn.ReLU(),\n    nn.Linear(4, 3),\n)") {
		t.Errorf("PyTorch code:\n%s", py)
	}
	// A VAE's heads and a linear hidden layer (no activation module).
	v := Arch{Layers: []int{7, 5, 3}, Hidden: engine.Linear, Output: engine.Sigmoid, VAE: true, Norm: NormLayer}
	got = got[:0]
	for _, s := range v.Specs() {
		n := s.Name
		if s.Norm {
			n += "+" + s.NormName
		}
		got = append(got, n)
	}
	if want := "encoder.0+encoder.1 fc_mu fc_logvar decoder.0+decoder.1 decoder.2"; strings.Join(got, " ") != want {
		t.Errorf("VAE specs %v, want %s", got, want)
	}
	// Activations other than the piecewise-linear ones are refused by name.
	for _, act := range []engine.Act{engine.Tanh, engine.Sigmoid, engine.GELU} {
		if err := normArch(act).Validate(); err == nil || !strings.Contains(err.Error(), "--norm layer") {
			t.Errorf("hidden %s with --norm layer: %v", act, err)
		}
	}
	if _, err := ParseNorm("batch"); err == nil {
		t.Error("ParseNorm(batch) accepted")
	}
}

// TestNormConfigRoundTrip: config.json records "norm": "layer", and a
// config without it (every model before --norm) is NormNone.
func TestNormConfigRoundTrip(t *testing.T) {
	a := normArch(engine.ReLU)
	c := NewConfig(a, DefaultTrainConfig(), dataset.Scaler{}, DataInfo{})
	if c.Norm != "layer" {
		t.Fatalf("config norm %q", c.Norm)
	}
	b, err := c.marshal()
	must(t, err)
	if !strings.Contains(string(b), `"norm": "layer"`) {
		t.Errorf("config.json lacks the norm:\n%s", b)
	}
	back, err := c.Arch()
	must(t, err)
	if back.Norm != NormLayer || back.NumParams() != a.NumParams() {
		t.Errorf("round trip: norm %q, %d parameters", back.Norm, back.NumParams())
	}
	c.Norm = ""
	if old, err := c.Arch(); err != nil || old.Norm != NormNone {
		t.Errorf("config without norm: %v, %v", old.Norm, err)
	}
	plain := NewConfig(Arch{Layers: []int{7, 3}, Hidden: engine.ReLU, Output: engine.Sigmoid}, DefaultTrainConfig(), dataset.Scaler{}, DataInfo{})
	if b, _ := plain.marshal(); strings.Contains(string(b), `"norm"`) {
		t.Errorf("a model without a norm writes one:\n%s", b)
	}
	c.Norm = "batch"
	if _, err := c.Arch(); err == nil {
		t.Error("config norm batch accepted")
	}
}

// TestNormForwardMatchesReference: a normalized model's reconstruction
// matches the float64 reference of Linear → LayerNorm → activation.
func TestNormForwardMatchesReference(t *testing.T) {
	for _, act := range []engine.Act{engine.ReLU, engine.LeakyReLU, engine.Linear} {
		t.Run(act.String(), func(t *testing.T) {
			b := cpu(t)
			a := normArch(act)
			m, err := NewModel(b, a)
			must(t, err)
			defer m.Free()
			must(t, m.InitWith(5, InitKaiming))
			randomizeNorms(t, m, 5)
			const rows = 9
			x := randomData(rows, 7, 2)
			p, err := NewPredictor(m, NewConfig(a, DefaultTrainConfig(), dataset.Scaler{}, DataInfo{}), 4) // 4: batches of 4, 4, 1
			must(t, err)
			got, err := p.ReconstructScaled(x, 7)
			must(t, err)
			ref := refOf(t, m)
			x64 := f64(x)
			for r := 0; r < rows; r++ {
				want := refRow(ref, x64[r*7:(r+1)*7])
				for j, w := range want {
					// fp32 forward through 6 layers and 4 LayerNorms of
					// O(1) values: abs 1e-5.
					if g := float64(got[r*7+j]); math.Abs(g-w) > 1e-5 {
						t.Fatalf("row %d col %d: %v, float64 reference %v", r, j, g, w)
					}
				}
			}
		})
	}
}

// refRow is the reference model's output on one row.
func refRow(layers []refLayer, h []float64) []float64 {
	for _, L := range layers {
		z := make([]float64, L.out)
		for o := range z {
			s := L.b[o]
			for i := 0; i < L.in; i++ {
				s += L.w[o*L.in+i] * h[i]
			}
			z[o] = s
		}
		if L.g != nil {
			refLayerNorm(z, L.g, L.nb)
		}
		for o := range z {
			z[o] = refAct(L.act, z[o])
		}
		h = z
	}
	return h
}

// TestWholeModelGradientNorm checks the trainer's backward pass through
// the LayerNorms (their gains and biases, and every layer below them)
// against central finite differences of the float64 reference.
func TestWholeModelGradientNorm(t *testing.T) {
	for _, c := range []struct {
		hidden engine.Act
		loss   string
	}{{engine.ReLU, "mse"}, {engine.LeakyReLU, "bce"}, {engine.Linear, "mse"}} {
		t.Run(c.hidden.String()+"/"+c.loss, func(t *testing.T) {
			b := cpu(t)
			a := normArch(c.hidden)
			m, err := NewModel(b, a)
			must(t, err)
			defer m.Free()
			must(t, m.Init(3))
			randomizeNorms(t, m, 3)
			const rows = 5
			x := randomData(rows, 7, 1)
			cfg := DefaultTrainConfig()
			cfg.Loss, cfg.Batch = c.loss, rows
			tr, err := NewTrainer(m, cfg, x, nil, 7)
			must(t, err)
			must(t, b.Upload(tr.ws.x, x))
			must(t, tr.forwardBackward(rows))
			grads := make([]float32, m.Grads.Len())
			must(t, b.Download(grads, m.Grads))
			ref := refOf(t, m)
			x64 := f64(x)
			var loss [1]float32
			must(t, b.Download(loss[:], tr.obj.sum))
			if want := refLoss(ref, x64, rows, c.loss) * rows; math.Abs(float64(loss[0])-want) > 1e-5*math.Abs(want)+1e-6 {
				// fp32 loss over 35 elements: rel 1e-5.
				t.Errorf("loss = %v, float64 reference %v", loss[0], want)
			}
			checkRefGradients(t, m, a, ref, x64, rows, c.loss, grads)
		})
	}
}

// TestNormTrainsAndReloads trains a normalized model through every
// variant that supports it, saves it, and reloads it bit-exactly; the
// contractive variant is refused with an error naming --norm.
func TestNormTrainsAndReloads(t *testing.T) {
	for _, v := range []struct {
		name string
		set  func(*FitOptions)
	}{
		{"plain", func(*FitOptions) {}},
		{"denoising", func(o *FitOptions) { o.Train.Noise = "gaussian:0.1" }},
		{"sparse", func(o *FitOptions) {
			o.Train.Kind, o.Train.SparsityL1, o.Train.SparseLayers = VariantSparse, 1e-3, []int{1, 2}
		}},
		{"vae", func(o *FitOptions) { o.Train.Kind, o.Arch.VAE = VariantVAE, true }},
		{"tied", func(o *FitOptions) { o.Arch.Tied = true }},
		{"l2+sgd", func(o *FitOptions) { o.Train.L2, o.Train.Optimizer, o.Train.LR = 1e-3, "sgd", 1e-2 }},
	} {
		t.Run(v.name, func(t *testing.T) {
			b := cpu(t)
			dir := filepath.Join(t.TempDir(), "m")
			opts := fitOpts(t, b, dir)
			opts.Arch = Arch{Layers: []int{8, 6, 5, 3}, Hidden: engine.ReLU, Output: engine.Sigmoid, Norm: NormLayer}
			opts.Train.Epochs = 3
			v.set(&opts)
			r, err := NewRun(opts)
			must(t, err)
			must(t, r.Train(context.Background()))
			want, err := r.Trainer.Model.Tensors()
			must(t, err)
			r.Close()
			m, cfg, err := LoadModel(dir, b)
			must(t, err)
			defer m.Free()
			if cfg.Norm != "layer" || m.Arch.Norm != NormLayer {
				t.Fatalf("reloaded norm %q / %q", cfg.Norm, m.Arch.Norm)
			}
			got, err := m.Tensors()
			must(t, err)
			if len(got) != len(want) {
				t.Fatalf("%d tensors reloaded, %d saved", len(got), len(want))
			}
			moved := false
			for i := range want {
				if got[i].Name != want[i].Name {
					t.Fatalf("tensor %d: %s, want %s", i, got[i].Name, want[i].Name)
				}
				for j := range want[i].Data {
					if math.Float32bits(got[i].Data[j]) != math.Float32bits(want[i].Data[j]) {
						t.Fatalf("%s[%d]: %v reloaded, %v saved", want[i].Name, j, got[i].Data[j], want[i].Data[j])
					}
				}
				if strings.HasSuffix(want[i].Name, ".weight") && m.hasNorm(want[i].Name) {
					for _, g := range want[i].Data {
						moved = moved || g != 1
					}
				}
			}
			if !moved {
				t.Error("no LayerNorm gain moved from 1 in training")
			}
		})
	}
	b := cpu(t)
	opts := fitOpts(t, b, "")
	opts.Arch.Norm = NormLayer
	opts.Train.Kind, opts.Train.Contractive = VariantContractive, 0.1
	if _, err := NewRun(opts); err == nil || !strings.Contains(err.Error(), "--norm layer") {
		t.Errorf("contractive with --norm layer: %v", err)
	}
}

// hasNorm reports whether name is a LayerNorm's tensor.
func (m *Model) hasNorm(name string) bool {
	for _, L := range m.Layers {
		if L.Norm && strings.HasPrefix(name, L.NormName+".") {
			return true
		}
	}
	return false
}

// TestOptionsNorm: the Go API's Options.Norm trains a normalized model,
// and an unknown norm is an error naming the option.
func TestOptionsNorm(t *testing.T) {
	x := toyTable(120, 8).Data
	cfg := DefaultTrainConfig()
	cfg.Epochs, cfg.Batch = 2, 32
	ae, err := New(Options{Layers: []int{0, 6, 5, 2}, Norm: "layer", Train: cfg, Device: "cpu"})
	must(t, err)
	defer ae.Close()
	must(t, ae.Fit(context.Background(), x, 8))
	if ae.model.Arch.Norm != NormLayer || ae.config.Norm != "layer" {
		t.Fatalf("model norm %q, config norm %q", ae.model.Arch.Norm, ae.config.Norm)
	}
	if c, err := ae.Transform(x); err != nil || len(c) != 120*2 {
		t.Fatalf("transform: %d values, %v", len(c), err)
	}
	bad, err := New(Options{Layers: []int{0, 6, 2}, Norm: "batch", Train: cfg, Device: "cpu"})
	if err == nil {
		defer bad.Close()
		err = bad.Fit(context.Background(), x, 8)
	}
	if err == nil || !strings.Contains(err.Error(), "options.Norm") {
		t.Errorf("Norm batch: %v", err)
	}
}
