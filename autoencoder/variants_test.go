package autoencoder

import (
	"math"
	"testing"

	"github.com/aegpu/aegpu/engine"
)

// TestVariantGradients checks, for every variant (and tied weights), the
// trainer's float32 gradient of the whole objective against central finite
// differences of the float64 reference, and its penalty against the
// reference's.
func TestVariantGradients(t *testing.T) {
	sig, tanh := engine.Sigmoid, engine.Tanh
	cases := []variantCase{
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
		t.Run(c.name, func(t *testing.T) { checkVariantGradient(t, c) })
	}
}

// variantCase is one case of TestVariantGradients: an architecture and
// the changes to the default TrainConfig that select the variant.
type variantCase struct {
	name string
	arch Arch
	mod  func(*TrainConfig)
}

// checkVariantGradient runs one forward and backward pass of case c on a
// batch of 4 rows and checks the objective and every parameter's gradient
// against the float64 reference.
func checkVariantGradient(t *testing.T, c variantCase) {
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
	ref := variantReference(t, b, tr, c.arch, cfg, rows)
	p64, x64 := f64(params), f64(x)
	checkVariantObjective(t, b, tr, c, cfg, ref, p64, x64, rows)
	checkVariantFiniteDifferences(t, c, ref, p64, x64, rows, grads)
}

// variantReference is the float64 reference of tr's objective on a batch
// of rows rows, with the VAE noise and contractive projections tr drew.
func variantReference(t *testing.T, b engine.Backend, tr *Trainer, arch Arch, cfg TrainConfig, rows int) *refVariant {
	t.Helper()
	wOff, bOff, _, _ := arch.layout()
	ref := &refVariant{arch: arch, cfg: cfg, wOff: wOff, bOff: bOff, specs: arch.Specs(), batch: rows}
	if arch.VAE {
		e := make([]float32, tr.ws.eps.Len())
		must(t, b.Download(e, tr.ws.eps))
		ref.eps = f64(e)
	}
	if proj := tr.tangentProjections(); !proj.Empty() {
		v := make([]float32, proj.Len())
		must(t, b.Download(v, proj))
		ref.proj = f64(v)
	}
	return ref
}

// checkVariantObjective compares tr's objective (loss, penalty and KL
// sums of the last pass) with the reference's on the parameters p64.
func checkVariantObjective(t *testing.T, b engine.Backend, tr *Trainer, c variantCase, cfg TrainConfig, ref *refVariant, p64, x64 []float64, rows int) {
	t.Helper()
	d := c.arch.Input()
	obj := ref.objective(p64, x64, rows)
	var loss, pen, kl [1]float32
	must(t, b.Download(loss[:], tr.obj.sum))
	must(t, b.Download(pen[:], tr.obj.pen))
	must(t, b.Download(kl[:], tr.obj.kl))
	got := float64(loss[0]) / float64(rows)
	if tr.hasPenalty() {
		got += float64(pen[0]) / float64(rows)
	}
	if c.arch.VAE {
		got += cfg.KLBeta * float64(kl[0]) / float64(rows*d)
	}
	// fp32 objective over a few dozen terms vs float64: rel 1e-5.
	if math.Abs(got-obj) > 1e-5*math.Abs(obj)+1e-6 {
		t.Errorf("objective = %v (loss %v, penalty %v, kl %v), float64 reference %v", got, loss[0], pen[0], kl[0], obj)
	}
}

// checkVariantFiniteDifferences compares grads, the trainer's gradient,
// with central finite differences of the reference's objective for every
// parameter (a tied layer's weights are its partner's).
func checkVariantFiniteDifferences(t *testing.T, c variantCase, ref *refVariant, p64, x64 []float64, rows int, grads []float32) {
	t.Helper()
	wOff, bOff := ref.wOff, ref.bOff
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
	wOff, bOff, _, _ := a.layout()
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
