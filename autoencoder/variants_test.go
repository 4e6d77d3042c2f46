package autoencoder

import (
	"context"
	"math"
	"testing"

	"github.com/aegpu/aegpu/engine"
)

// A float64 reference of each variant's whole training objective, written
// from the definitions (not from the engine ops): per row forward passes,
// the batch-level sparsity terms, the encoder Jacobian built explicitly.

type refVariant struct {
	arch  Arch
	cfg   TrainConfig
	wOff  []int
	bOff  []int
	specs []LayerSpec
	eps   []float64 // a VAE's ε [rows×latent]
	proj  []float64 // contractive projections [K·batch×d0]
	batch int
}

func refActD(a engine.Act, z float64) (d1, d2 float64) {
	switch a {
	case engine.Linear:
		return 1, 0
	case engine.ReLU:
		if z > 0 {
			return 1, 0
		}
		return 0, 0
	case engine.LeakyReLU:
		if z > 0 {
			return 1, 0
		}
		return 0.01, 0
	case engine.Tanh:
		y := math.Tanh(z)
		return 1 - y*y, -2 * y * (1 - y*y)
	case engine.Sigmoid:
		y := 1 / (1 + math.Exp(-z))
		return y * (1 - y), y * (1 - y) * (1 - 2*y)
	case engine.GELU:
		phi := math.Exp(-z*z/2) / math.Sqrt(2*math.Pi)
		return 0.5*(1+math.Erf(z/math.Sqrt2)) + z*phi, phi * (2 - z*z)
	}
	panic("act")
}

// weight returns element (o, i) of layer l's weight in the flat params.
func (r *refVariant) weight(p []float64, l, o, i int) float64 {
	s := r.specs[l]
	if s.TiedTo >= 0 {
		return p[r.wOff[l]+i*s.Out+o]
	}
	return p[r.wOff[l]+o*s.In+i]
}

// layer computes z and act(z) of layer l for input h.
func (r *refVariant) layer(p []float64, l int, h []float64) (z, y []float64) {
	s := r.specs[l]
	z, y = make([]float64, s.Out), make([]float64, s.Out)
	for o := range s.Out {
		v := p[r.bOff[l]+o]
		for i := range s.In {
			v += r.weight(p, l, o, i) * h[i]
		}
		z[o], y[o] = v, refAct(s.Act, v)
	}
	return z, y
}

// objective is the mean reconstruction loss plus the variant's penalty on
// the batch x [rows×d0] (target = x).
func (r *refVariant) objective(p []float64, x []float64, rows int) float64 {
	d := r.arch.Input()
	ds := r.arch.DecoderStart()
	body := ds
	if r.arch.VAE {
		body = ds - 2
	}
	recon, kl, contr := 0.0, 0.0, 0.0
	acts := map[int][][]float64{} // encoder layer → per-row outputs
	for row := range rows {
		xr := x[row*d : (row+1)*d]
		h := xr
		var zs [][]float64
		for l := range body {
			z, y := r.layer(p, l, h)
			zs = append(zs, z)
			acts[l] = append(acts[l], y)
			h = y
		}
		if r.arch.VAE {
			_, mu := r.layer(p, ds-2, h)
			_, lv := r.layer(p, ds-1, h)
			lat := len(mu)
			code := make([]float64, lat)
			for j := range lat {
				l := math.Min(math.Max(lv[j], engine.LogVarMin), engine.LogVarMax)
				code[j] = mu[j] + math.Exp(0.5*l)*r.eps[row*lat+j]
				kl += -0.5 * (1 + l - mu[j]*mu[j] - math.Exp(l))
			}
			h = code
		}
		if r.cfg.Variant() == "contractive" {
			if body == 1 { // exact: Σ_j a′² ‖W_j‖²
				s := r.specs[0]
				for o := range s.Out {
					a1, _ := refActD(s.Act, zs[0][o])
					nw := 0.0
					for i := range s.In {
						w := r.weight(p, 0, o, i)
						nw += w * w
					}
					contr += a1 * a1 * nw
				}
			} else { // Σ_k ‖J·v_k‖² / K with the trainer's projections
				K := max(r.cfg.Projections, 1)
				for k := range K {
					u := r.proj[(k*r.batch+row)*d : (k*r.batch+row+1)*d]
					for l := range body {
						s := r.specs[l]
						nu := make([]float64, s.Out)
						for o := range s.Out {
							a1, _ := refActD(s.Act, zs[l][o])
							v := 0.0
							for i := range s.In {
								v += r.weight(p, l, o, i) * u[i]
							}
							nu[o] = a1 * v
						}
						u = nu
					}
					for _, v := range u {
						contr += v * v / float64(K)
					}
				}
			}
		}
		last := len(r.specs) - 1
		var z []float64
		for l := ds; l <= last; l++ {
			z, h = r.layer(p, l, h)
		}
		for j := range d {
			if r.cfg.Loss == "bce" {
				recon += math.Max(z[j], 0) - z[j]*xr[j] + math.Log1p(math.Exp(-math.Abs(z[j])))
			} else {
				diff := h[j] - xr[j]
				recon += diff * diff
			}
		}
	}
	obj := recon / float64(rows*d)
	n := float64(rows)
	switch r.cfg.Variant() {
	case "vae":
		obj += r.cfg.KLBeta * kl / (n * float64(d))
	case "contractive":
		obj += r.cfg.Contractive * contr / n
	case "sparse":
		layers := r.cfg.SparseLayers
		if len(layers) == 0 {
			layers = []int{body}
		}
		for _, l1 := range layers {
			hs := acts[l1-1]
			for j := range hs[0] {
				rho := 0.0
				for _, hr := range hs {
					rho += hr[j]
					obj += r.cfg.SparsityL1 * math.Abs(hr[j]) / n
				}
				rho /= n
				if b := r.cfg.SparsityBeta; b > 0 {
					t := r.cfg.SparsityTarget
					obj += b * (t*math.Log(t/rho) + (1-t)*math.Log((1-t)/(1-rho)))
				}
			}
		}
	}
	if r.cfg.L2 > 0 {
		for l, s := range r.specs {
			if s.TiedTo >= 0 {
				continue
			}
			for k := range s.In * s.Out {
				w := p[r.wOff[l]+k]
				obj += 0.5 * r.cfg.L2 * w * w
			}
		}
	}
	return obj
}

// TestVariantGradients checks, for every variant (and tied weights), the
// trainer's float32 gradient of the whole objective against central finite
// differences of the float64 reference, and its penalty against the
// reference's.
func TestVariantGradients(t *testing.T) {
	sig, tanh := engine.Sigmoid, engine.Tanh
	cases := []struct {
		name string
		arch Arch
		mod  func(*TrainConfig)
	}{
		{"plain-tied", Arch{Layers: []int{7, 5, 3}, Hidden: tanh, Latent: engine.Linear, Output: sig, Tied: true}, func(c *TrainConfig) {}},
		{"plain-l2", Arch{Layers: []int{7, 5, 3}, Hidden: engine.GELU, Latent: engine.Linear, Output: sig}, func(c *TrainConfig) { c.L2 = 0.01 }},
		{"sparse-kl", Arch{Layers: []int{7, 5, 3}, Hidden: tanh, Latent: sig, Output: sig}, func(c *TrainConfig) {
			c.Kind, c.SparsityBeta, c.SparsityTarget = "sparse", 0.5, 0.1
		}},
		{"sparse-l1-two-layers-tied", Arch{Layers: []int{7, 5, 3}, Hidden: tanh, Latent: tanh, Output: sig, Tied: true}, func(c *TrainConfig) {
			c.Kind, c.SparsityL1, c.SparseLayers, c.L2 = "sparse", 0.05, []int{1, 2}, 0.003
		}},
		{"contractive-exact-sigmoid", Arch{Layers: []int{7, 4}, Latent: sig, Output: sig}, func(c *TrainConfig) {
			c.Kind, c.Contractive = "contractive", 0.3
		}},
		{"contractive-exact-tanh-tied", Arch{Layers: []int{7, 4}, Latent: tanh, Output: sig, Tied: true}, func(c *TrainConfig) {
			c.Kind, c.Contractive = "contractive", 0.3
		}},
		{"contractive-exact-gelu", Arch{Layers: []int{7, 4}, Latent: engine.GELU, Output: engine.Linear}, func(c *TrainConfig) {
			c.Kind, c.Contractive = "contractive", 0.3
		}},
		{"contractive-projections", Arch{Layers: []int{7, 5, 3}, Hidden: tanh, Latent: sig, Output: sig}, func(c *TrainConfig) {
			c.Kind, c.Contractive, c.Projections = "contractive", 0.3, 2
		}},
		{"contractive-projections-gelu-tied", Arch{Layers: []int{7, 5, 3}, Hidden: engine.GELU, Latent: engine.Linear, Output: sig, Tied: true}, func(c *TrainConfig) {
			c.Kind, c.Contractive = "contractive", 0.3
		}},
		{"vae-bce", Arch{Layers: []int{7, 5, 3}, Hidden: tanh, Output: sig, VAE: true}, func(c *TrainConfig) {
			c.Kind, c.KLBeta, c.Loss = "vae", 1, "bce"
		}},
		{"vae-one-layer", Arch{Layers: []int{7, 3}, Output: engine.Linear, VAE: true}, func(c *TrainConfig) {
			c.Kind, c.KLBeta = "vae", 2.5
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := cpu(t)
			m, err := NewModel(b, c.arch)
			if err != nil {
				t.Fatal(err)
			}
			if err := m.Init(5); err != nil {
				t.Fatal(err)
			}
			const rows = 4
			d := c.arch.Input()
			x := randomData(rows, d, 2)
			cfg := DefaultTrainConfig()
			cfg.Batch = rows
			c.mod(&cfg)
			tr, err := NewTrainer(m, cfg, x, nil, d)
			if err != nil {
				t.Fatal(err)
			}
			defer tr.Free()
			if err := b.Upload(tr.ws.x, x); err != nil {
				t.Fatal(err)
			}
			if err := tr.preStep(rows); err != nil {
				t.Fatal(err)
			}
			if err := tr.forwardBackward(rows); err != nil {
				t.Fatal(err)
			}
			grads := make([]float32, m.Grads.Len())
			params := make([]float32, m.Params.Len())
			must(t, b.Download(grads, m.Grads))
			must(t, b.Download(params, m.Params))
			wOff, bOff, _ := c.arch.layout()
			ref := &refVariant{arch: c.arch, cfg: cfg, wOff: wOff, bOff: bOff, specs: c.arch.Specs(), batch: rows}
			if c.arch.VAE {
				e := make([]float32, tr.ws.eps.Len())
				must(t, b.Download(e, tr.ws.eps))
				ref.eps = f64(e)
			}
			if proj := tr.tangentProjections(); !proj.Empty() {
				v := make([]float32, proj.Len())
				must(t, b.Download(v, proj))
				ref.proj = f64(v)
			}
			p64, x64 := f64(params), f64(x)
			obj := ref.objective(p64, x64, rows)
			var loss, pen, kl [1]float32
			must(t, b.Download(loss[:], tr.obj.sum))
			must(t, b.Download(pen[:], tr.obj.pen))
			must(t, b.Download(kl[:], tr.obj.kl))
			got := float64(loss[0]) / rows
			if tr.hasPenalty() {
				got += float64(pen[0]) / rows
			}
			if c.arch.VAE {
				got += cfg.KLBeta * float64(kl[0]) / float64(rows*d)
			}
			// fp32 objective over a few dozen terms vs float64: rel 1e-5.
			if math.Abs(got-obj) > 1e-5*math.Abs(obj)+1e-6 {
				t.Errorf("objective = %v (loss %v, penalty %v, kl %v), float64 reference %v", got, loss[0], pen[0], kl[0], obj)
			}
			const h = 1e-6
			checked := 0
			for l, s := range ref.specs {
				ranges := [][2]int{{bOff[l], s.Out}}
				if s.TiedTo < 0 {
					ranges = append(ranges, [2]int{wOff[l], s.In * s.Out})
				}
				for _, rg := range ranges {
					for k := rg[0]; k < rg[0]+rg[1]; k++ {
						orig := p64[k]
						p64[k] = orig + h
						lp := ref.objective(p64, x64, rows)
						p64[k] = orig - h
						lm := ref.objective(p64, x64, rows)
						p64[k] = orig
						fd := (lp - lm) / (2 * h)
						g := float64(grads[k])
						// float32 backward vs float64 central difference:
						// abs 3e-6 + rel 3e-3 (fp32 rounding of the small
						// gradients; smooth activations, no kinks).
						if math.Abs(g-fd) > 3e-6+3e-3*math.Abs(fd) {
							t.Errorf("%s param %d: grad %v, finite difference %v", s.Name, k-rg[0], g, fd)
						}
						checked++
					}
				}
			}
			if checked != c.arch.NumParams() {
				t.Errorf("checked %d of %d parameters", checked, c.arch.NumParams())
			}
		})
	}
}

// TestContractiveEstimatorIsUnbiased averages the random-projection
// estimate of mean_i ‖J_f(x_i)‖²_F over many steps' projections and
// compares it with the exact value from the explicit float64 Jacobian.
func TestContractiveEstimatorIsUnbiased(t *testing.T) {
	b := cpu(t)
	a := Arch{Layers: []int{9, 6, 4}, Hidden: engine.Tanh, Latent: engine.Sigmoid, Output: engine.Sigmoid}
	m, err := NewModel(b, a)
	must(t, err)
	must(t, m.Init(7))
	const rows, K, draws = 8, 4, 400
	x := randomData(rows, 9, 3)
	cfg := DefaultTrainConfig()
	cfg.Batch, cfg.Kind, cfg.Contractive, cfg.Projections = rows, "contractive", 1, K
	tr, err := NewTrainer(m, cfg, x, nil, 9)
	must(t, err)
	defer tr.Free()
	must(t, b.Upload(tr.ws.x, x))
	for s := range draws {
		tr.State.Step = int64(s)
		must(t, tr.preStep(rows))
		must(t, tr.forwardBackward(rows))
	}
	var pen [1]float32
	must(t, b.Download(pen[:], tr.obj.pen))
	est := float64(pen[0]) / (draws * rows) // λ = 1

	params := make([]float32, m.Params.Len())
	must(t, b.Download(params, m.Params))
	wOff, bOff, _ := a.layout()
	ref := &refVariant{arch: a, wOff: wOff, bOff: bOff, specs: a.Specs()}
	p := f64(params)
	exact := 0.0
	for r := range rows {
		// J = D₂W₂D₁W₁, built column by column from the unit vectors.
		h := f64(x[r*9 : (r+1)*9])
		z1, y1 := ref.layer(p, 0, h)
		z2, _ := ref.layer(p, 1, y1)
		for i := range 9 {
			u := make([]float64, 9)
			u[i] = 1
			for l, z := range [][]float64{z1, z2} {
				s := ref.specs[l]
				nu := make([]float64, s.Out)
				for o := range s.Out {
					d1, _ := refActD(s.Act, z[o])
					for k := range s.In {
						nu[o] += d1 * ref.weight(p, l, o, k) * u[k]
					}
				}
				u = nu
			}
			for _, v := range u {
				exact += v * v / rows
			}
		}
	}
	// 400 draws × 4 projections × 8 rows: the estimate's relative standard
	// deviation is below √2/√12800 ≈ 1.3%; allow 5% (about 4σ).
	if math.Abs(est-exact) > 0.05*exact {
		t.Errorf("mean estimate of ‖J‖²_F %.5f, exact %.5f", est, exact)
	}
	t.Logf("estimator mean %.5f, exact %.5f (%.2f%%)", est, exact, 100*(est-exact)/exact)
}

// TestVariantsTrainSaveReload trains each variant on the toy data, checks
// that the loss falls and the variant's figures are reported, reloads the
// model directory and requires the same predictions.
func TestVariantsTrainSaveReload(t *testing.T) {
	for _, c := range []struct {
		name  string
		mod   func(a *Arch, c *TrainConfig)
		check func(t *testing.T, m EpochMetrics)
	}{
		{"sparse", func(a *Arch, c *TrainConfig) {
			a.Latent = engine.Sigmoid
			c.Kind, c.SparsityBeta, c.SparsityTarget = "sparse", 0.1, 0.1
		}, func(t *testing.T, m EpochMetrics) {
			if m.TrainPenalty == nil || m.MeanActivationAvg == nil || len(m.MeanActivation["encoder.2"]) != 3 {
				t.Errorf("sparse metrics missing: %+v", m)
			}
		}},
		{"contractive", func(a *Arch, c *TrainConfig) {
			c.Kind, c.Contractive = "contractive", 0.01
		}, func(t *testing.T, m EpochMetrics) {
			if m.TrainPenalty == nil || !(*m.TrainPenalty > 0) {
				t.Errorf("contractive penalty missing: %+v", m)
			}
		}},
		{"vae", func(a *Arch, c *TrainConfig) {
			a.VAE = true
			c.Kind, c.KLBeta, c.KLWarmup = "vae", 1, 2
		}, func(t *testing.T, m EpochMetrics) {
			if m.TrainKL == nil || m.KLBeta == nil || *m.KLBeta != 1 {
				t.Errorf("vae metrics missing or β not warmed up: %+v", m)
			}
		}},
		{"tied-denoising", func(a *Arch, c *TrainConfig) {
			a.Tied = true
			c.Noise = "gaussian:0.1"
		}, func(t *testing.T, m EpochMetrics) {
			if m.ValDenoisedMSE == nil {
				t.Errorf("denoising metrics missing: %+v", m)
			}
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := cpu(t)
			dir := t.TempDir()
			opts := fitOpts(t, b, dir)
			opts.Train.Epochs, opts.Train.LR = 12, 1e-2
			c.mod(&opts.Arch, &opts.Train)
			r, err := NewRun(opts)
			must(t, err)
			defer r.Close()
			must(t, r.Train(context.Background()))
			ms := r.Trainer.State.Metrics
			if !(ms[len(ms)-1].TrainLoss < 0.9*ms[0].TrainLoss) { // a VAE's KL term holds it back most
				t.Errorf("loss %v → %v: did not fall", ms[0].TrainLoss, ms[len(ms)-1].TrainLoss)
			}
			c.check(t, ms[len(ms)-1])
			m2, cfg, err := LoadModel(dir, b)
			must(t, err)
			defer m2.Free()
			if cfg.Variant != opts.Train.Variant() || m2.Arch.Tied != opts.Arch.Tied || m2.Arch.VAE != opts.Arch.VAE {
				t.Fatalf("reloaded config: variant %s tied %v vae %v", cfg.Variant, m2.Arch.Tied, m2.Arch.VAE)
			}
			p1, err := NewPredictor(r.Trainer.Model, r.Config, 64)
			must(t, err)
			defer p1.Free()
			p2, err := NewPredictor(m2, cfg, 17)
			must(t, err)
			defer p2.Free()
			x := opts.Data.Data
			r1, _, err := p1.Reconstruct(x, 8)
			must(t, err)
			r2, _, err := p2.Reconstruct(x, 8)
			must(t, err)
			for i := range r1 {
				if r1[i] != r2[i] {
					t.Fatalf("reloaded model differs at %d: %v vs %v", i, r1[i], r2[i])
				}
			}
			if opts.Arch.VAE {
				codes, out, err := p2.Sample(5, 3)
				must(t, err)
				if len(codes) != 5*3 || len(out) != 5*8 {
					t.Fatalf("Sample: %d codes, %d values", len(codes), len(out))
				}
				codes2, _, _ := p1.Sample(5, 3)
				for i := range codes {
					if codes[i] != codes2[i] {
						t.Fatal("same seed, different prior draws")
					}
				}
				path, mid, err := p2.Interpolate(x, 8, 0, 5, 4)
				must(t, err)
				e, _ := p2.Encode(x[:8], 8)
				for j := range 3 {
					if path[j] != e[j] {
						t.Fatalf("interpolation does not start at row 0's code: %v vs %v", path[:3], e)
					}
				}
				if len(mid) != 4*8 {
					t.Fatalf("Interpolate: %d values", len(mid))
				}
			}
		})
	}
}

// TestVAEByHand checks Reparameterize and ReparamBackward on numbers
// worked out by hand: μ = (0.5, −1), log σ² = (0, ln 4), ε = (1, 0.5).
func TestVAEByHand(t *testing.T) {
	b := cpu(t)
	mat := func(v ...float32) engine.Matrix {
		m, err := b.Alloc(1, len(v))
		must(t, err)
		must(t, b.Upload(m, v))
		return m
	}
	mu, lv, eps := mat(0.5, -1), mat(0, float32(math.Log(4))), mat(1, 0.5)
	z, dmu, dlv, acc, beta, dz := mat(0, 0), mat(0, 0), mat(0, 0), mat(0), mat(1), mat(0, 0)
	must(t, b.Reparameterize(z, mu, lv, eps))
	must(t, b.ReparamBackward(dmu, dlv, acc, beta, dz, mu, lv, eps, 1, 1))
	get := func(m engine.Matrix) []float32 {
		v := make([]float32, m.Len())
		must(t, b.Download(v, m))
		return v
	}
	// z = μ + e^(lv/2)·ε = (0.5 + 1, −1 + 2·0.5) = (1.5, 0).
	// KL = −½[(1 + 0 − 0.25 − 1) + (1 + ln4 − 1 − 4)] = 1.4318528…
	// dμ = β·μ = (0.5, −1); dlv = ½(e^lv − 1) = (0, 1.5).
	for _, c := range []struct {
		name      string
		got, want []float32
	}{
		{"z", get(z), []float32{1.5, 0}},
		{"KL", get(acc), []float32{1.4318528}},
		{"dmu", get(dmu), []float32{0.5, -1}},
		{"dlogvar", get(dlv), []float32{0, 1.5}},
	} {
		for i := range c.want {
			// fp32 of a few terms: abs 1e-6.
			if math.Abs(float64(c.got[i]-c.want[i])) > 1e-6 {
				t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
			}
		}
	}
}

// TestVAEHugeInputsStayFinite trains a VAE on values of 1e4 with no
// scaling: the log-variance clamp keeps every loss and weight finite.
func TestVAEHugeInputsStayFinite(t *testing.T) {
	b := cpu(t)
	opts := fitOpts(t, b, t.TempDir())
	x := make([]float32, 300*8)
	for i := range x {
		x[i] = 1e4 * float32(1+i%7)
	}
	opts.Data.Data = x
	opts.Arch = Arch{Layers: []int{8, 6, 3}, Hidden: engine.ReLU, Output: engine.Linear, VAE: true}
	opts.Train.Kind, opts.Train.KLBeta, opts.Train.Epochs = "vae", 1, 2
	r, err := NewRun(opts)
	must(t, err)
	defer r.Close()
	must(t, r.Train(context.Background()))
	for _, m := range r.Trainer.State.Metrics {
		if math.IsNaN(m.TrainLoss) || math.IsInf(m.TrainLoss, 0) || m.TrainKL == nil || math.IsNaN(*m.TrainKL) || math.IsInf(*m.TrainKL, 0) {
			t.Fatalf("epoch %d: loss %v KL %v", m.Epoch, m.TrainLoss, m.TrainKL)
		}
	}
}
