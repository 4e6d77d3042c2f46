package autoencoder

import (
	"math"
	"testing"

	"github.com/aegpu/aegpu/engine"
)

// wholeModelCase is one architecture and loss of TestWholeModelGradient.
type wholeModelCase struct {
	hidden, latent, output engine.Act
	loss                   string
}

// TestWholeModelGradient checks the trainer's backward pass through every
// layer against central finite differences of the float64 reference.
func TestWholeModelGradient(t *testing.T) {
	for _, c := range []wholeModelCase{
		{engine.ReLU, engine.Linear, engine.Sigmoid, "mse"},
		{engine.Tanh, engine.Tanh, engine.Linear, "mse"},
		{engine.GELU, engine.Linear, engine.Sigmoid, "bce"},
		{engine.LeakyReLU, engine.Sigmoid, engine.Sigmoid, "mse"},
	} {
		t.Run(c.hidden.String()+"/"+c.loss, func(t *testing.T) { checkWholeModelGradient(t, c) })
	}
}

// checkWholeModelGradient runs one forward and backward pass of case c and
// checks its loss and every parameter's gradient against the reference.
func checkWholeModelGradient(t *testing.T, c wholeModelCase) {
	b := cpu(t)
	a := Arch{Layers: []int{7, 5, 3}, Hidden: c.hidden, Latent: c.latent, Output: c.output}
	m, err := NewModel(b, a)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Init(3); err != nil {
		t.Fatal(err)
	}
	const rows = 4
	x := randomData(rows, 7, 1)
	cfg := DefaultTrainConfig()
	cfg.Loss, cfg.Batch = c.loss, rows
	tr, err := NewTrainer(m, cfg, x, nil, 7)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Upload(tr.ws.x, x); err != nil {
		t.Fatal(err)
	}
	// lr 0 would still apply Adam's update; use a step then read
	// gradients before they are applied: run forward+backward only.
	if err := tr.forwardBackward(rows); err != nil {
		t.Fatal(err)
	}
	grads := make([]float32, m.Grads.Len())
	b.Download(grads, m.Grads)
	ts, _ := m.Tensors()
	ref := make([]refLayer, len(m.Layers))
	for i, L := range m.Layers {
		ref[i] = refLayer{in: L.In, out: L.Out, act: L.Act, w: f64(ts[2*i].Data), b: f64(ts[2*i+1].Data)}
	}
	x64 := f64(x)
	var loss [1]float32
	b.Download(loss[:], tr.obj.sum)
	if want := refLoss(ref, x64, rows, c.loss) * rows; math.Abs(float64(loss[0])-want) > 1e-5*math.Abs(want)+1e-6 {
		// fp32 loss over 28 elements: rel 1e-5.
		t.Errorf("loss = %v, float64 reference %v", loss[0], want)
	}
	checkRefGradients(t, m, a, ref, x64, rows, c.loss, grads)
}

// checkRefGradients compares grads, the trainer's gradients of model m
// (architecture a) in its parameter layout, with central finite
// differences of refLoss over ref on x64, parameter by parameter.
func checkRefGradients(t *testing.T, m *Model, a Arch, ref []refLayer, x64 []float64, rows int, loss string, grads []float32) {
	t.Helper()
	wOff, bOff, nOff, _ := a.layout()
	const h = 1e-6
	checked := 0
	for i := range ref {
		type param = struct {
			vals []float64
			off  int
		}
		ps := []param{{ref[i].w, wOff[i]}, {ref[i].b, bOff[i]}}
		if ref[i].g != nil {
			ps = append(ps, param{ref[i].g, nOff[i]}, param{ref[i].nb, nOff[i] + alignUp(ref[i].out)})
		}
		for _, p := range ps {
			for j := range p.vals {
				orig := p.vals[j]
				p.vals[j] = orig + h
				lp := refLoss(ref, x64, rows, loss)
				p.vals[j] = orig - h
				lm := refLoss(ref, x64, rows, loss)
				p.vals[j] = orig
				fd := (lp - lm) / (2 * h)
				got := float64(grads[p.off+j])
				// float32 backward vs float64 central difference:
				// abs 2e-6 + rel 2e-3 (ReLU kinks are avoided by the
				// random data with high probability; the tolerance
				// covers fp32 rounding of O(1e-3) gradients).
				if math.Abs(got-fd) > 2e-6+2e-3*math.Abs(fd) {
					t.Errorf("layer %s param %d: grad %v, finite difference %v", m.Layers[i].Name, j, got, fd)
				}
				checked++
			}
		}
	}
	if checked != a.NumParams() {
		t.Errorf("checked %d of %d parameters", checked, a.NumParams())
	}
}
