package autoencoder

import (
	"math"
	"testing"

	"github.com/aegpu/aegpu/engine"
)

// TestInitSchemes draws every scheme on a model with every kind of layer
// and checks each tensor against its distribution: within the bound, and
// a sample standard deviation of bound/√3 (uniform) within 5% (the
// tensors hold ≥ 2 000 values: the standard error of the variance of a
// uniform sample is about 2.5% at 2 000); biases zero where the scheme says.
func TestInitSchemes(t *testing.T) {
	arch := Arch{Layers: []int{200, 100, 40, 10}, Hidden: engine.ReLU, Latent: engine.Tanh, Output: engine.Sigmoid}
	m, err := NewModel(cpu(t), arch)
	must(t, err)
	defer m.Free()
	for _, c := range []struct {
		init      string
		w         func(L LayerSpec) float64
		zeroBias  bool
		biasBound func(L LayerSpec) float64
	}{
		{InitPyTorch, func(L LayerSpec) float64 { return 1 / math.Sqrt(float64(L.In)) }, false, func(L LayerSpec) float64 { return 1 / math.Sqrt(float64(L.In)) }},
		{InitKaiming, func(L LayerSpec) float64 { return gain(L.Act) * math.Sqrt(3/float64(L.In)) }, true, nil},
		{InitXavier, func(L LayerSpec) float64 { return gain(L.Act) * math.Sqrt(6/float64(L.In+L.Out)) }, true, nil},
	} {
		must(t, m.InitWith(7, c.init))
		for _, L := range m.Layers {
			w := make([]float32, L.W.Len())
			must(t, m.Backend.Download(w, L.W))
			bound := c.w(L.LayerSpec)
			var ss float64
			for _, v := range w {
				if math.Abs(float64(v)) > bound*(1+1e-6) { // 1e-6: the bound rounded to float32
					t.Fatalf("%s %s: weight %v outside ±%v", c.init, L.Name, v, bound)
				}
				ss += float64(v) * float64(v)
			}
			if std, want := math.Sqrt(ss/float64(len(w))), bound/math.Sqrt(3); math.Abs(std/want-1) > 0.05 {
				t.Errorf("%s %s: weight std %.4g, want %.4g ± 5%%", c.init, L.Name, std, want)
			}
			b := make([]float32, L.B.Len())
			must(t, m.Backend.Download(b, L.B))
			for _, v := range b {
				if c.zeroBias && v != 0 || !c.zeroBias && (v == 0 || math.Abs(float64(v)) > c.biasBound(L.LayerSpec)*(1+1e-6)) {
					t.Fatalf("%s %s: bias %v", c.init, L.Name, v)
				}
			}
		}
	}
	// The gains are PyTorch's calculate_gain.
	for act, want := range map[engine.Act]float64{engine.ReLU: math.Sqrt2, engine.GELU: math.Sqrt2, engine.LeakyReLU: math.Sqrt(2 / 1.0001),
		engine.Tanh: 5.0 / 3, engine.Sigmoid: 1, engine.Linear: 1} {
		if g := gain(act); math.Abs(g-want) > 1e-15 {
			t.Errorf("gain(%v) = %v, want %v", act, g, want)
		}
	}
	if err := m.InitWith(7, "he"); err == nil {
		t.Error("an unknown init was accepted")
	}
	cfg := DefaultTrainConfig()
	cfg.Init = "orthogonal"
	if err := cfg.Validate(); err == nil {
		t.Error("TrainConfig with an unknown init validated")
	}
}

// TestWarmup: the rate rises linearly over the warm-up steps to the
// schedule's, cosine falls from LR to MinLR over the steps after it, and
// with no warm-up the schedules are as before.
func TestWarmup(t *testing.T) {
	c := DefaultTrainConfig()
	c.LR, c.MinLR, c.Epochs = 0.01, 1e-4, 10
	const perEpoch, total = 20, 200
	near := func(a, b float64) bool { return math.Abs(a-b) <= 1e-15*math.Max(1, math.Abs(b)) } // float64 rounding
	for _, sched := range []string{"constant", "cosine", "step"} {
		c.Schedule, c.StepSize, c.Gamma = sched, 3, 0.5
		c.Warmup = 0
		old := func(t int64, e int) float64 {
			switch sched {
			case "cosine":
				frac := float64(t) / total // as before warm-ups existed
				return c.MinLR + (c.LR-c.MinLR)*0.5*(1+math.Cos(math.Pi*frac))
			case "step":
				return c.LR * math.Pow(0.5, float64(e/3))
			}
			return c.LR
		}
		for s := int64(0); s < total; s++ {
			if got := c.lrAt(s, int(s/perEpoch), total, perEpoch); got != old(s, int(s/perEpoch)) {
				t.Fatalf("%s without warm-up, step %d: %v, want %v", sched, s, got, old(s, int(s/perEpoch)))
			}
		}
		c.Warmup = 1.5 // 30 steps
		for s := int64(0); s < 30; s++ {
			// Every schedule is at LR in the first epochs (step halves at 3).
			if got, want := c.lrAt(s, int(s/perEpoch), total, perEpoch), c.LR*float64(s+1)/30; !near(got, want) {
				t.Fatalf("%s warm-up step %d: %v, want %v", sched, s, got, want)
			}
		}
		if sched == "cosine" {
			if got := c.lrAt(30, 1, total, perEpoch); got != c.LR {
				t.Errorf("cosine after the warm-up starts at %v, want %v", got, c.LR)
			}
			mid := c.lrAt(30+85, 5, total, perEpoch) // half of the 170 steps after it
			if !near(mid, (c.LR+c.MinLR)/2) {
				t.Errorf("cosine half-way after the warm-up: %v, want %v", mid, (c.LR+c.MinLR)/2)
			}
			if last := c.lrAt(total-1, 9, total, perEpoch); !(last > c.MinLR && last < c.MinLR+1e-3*c.LR) {
				t.Errorf("cosine's last step: %v", last)
			}
		}
	}
	c.Warmup = 10.5
	if err := c.Validate(); err == nil {
		t.Error("a warm-up longer than the run validated")
	}
}

// TestInitMixed: --init mixed draws each layer followed by a ReLU-family
// activation exactly as kaiming does and every other layer exactly as
// pytorch does (the same Philox streams), and a LayerNorm starts as
// nn.LayerNorm's: gain 1, bias 0.
func TestInitMixed(t *testing.T) {
	arch := Arch{Layers: []int{20, 12, 6, 3}, Hidden: engine.ReLU, Latent: engine.Linear, Output: engine.Sigmoid, Norm: NormLayer}
	m, err := NewModel(cpu(t), arch)
	must(t, err)
	defer m.Free()
	draw := func(init string) []float32 {
		must(t, m.InitWith(3, init))
		p := make([]float32, m.Params.Len())
		must(t, m.Backend.Download(p, m.Params))
		return p
	}
	mixed, kaiming, pytorch := draw(InitMixed), draw(InitKaiming), draw(InitPyTorch)
	wOff, bOff, nOff, _ := arch.layout()
	for i, L := range m.Layers {
		want, from := pytorch, InitPyTorch
		if L.Act == engine.ReLU {
			want, from = kaiming, InitKaiming
		}
		for _, r := range [][2]int{{wOff[i], L.In * L.Out}, {bOff[i], L.Out}} {
			for j := r[0]; j < r[0]+r[1]; j++ {
				if math.Float32bits(mixed[j]) != math.Float32bits(want[j]) {
					t.Fatalf("layer %s (%s): parameter %d is %v, %s draws %v", L.Name, L.Act, j, mixed[j], from, want[j])
				}
			}
		}
		if L.Norm {
			for j := 0; j < L.Out; j++ {
				if g, b := mixed[nOff[i]+j], mixed[nOff[i]+alignUp(L.Out)+j]; g != 1 || b != 0 {
					t.Fatalf("layer %s: LayerNorm starts with gain %v, bias %v", L.NormName, g, b)
				}
			}
		}
	}
	if _, err := parseInit("he"); err == nil {
		t.Error("init he accepted")
	}
}
