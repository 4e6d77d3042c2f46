package autoencoder

import (
	"math"

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
			h = r.sampleCode(p, h, row, &kl)
		}
		if r.cfg.Variant() == "contractive" {
			r.contractiveRow(p, zs, row, body, &contr)
		}
		last := len(r.specs) - 1
		var z []float64
		for l := ds; l <= last; l++ {
			z, h = r.layer(p, l, h)
		}
		r.reconstruction(z, h, xr, &recon)
	}
	obj := recon / float64(rows*d)
	n := float64(rows)
	switch r.cfg.Variant() {
	case "vae":
		obj += r.cfg.KLBeta * kl / (n * float64(d))
	case "contractive":
		obj += r.cfg.Contractive * contr / n
	case "sparse":
		obj = r.sparsity(obj, acts, body, n)
	}
	if r.cfg.L2 > 0 {
		obj = r.l2(obj, p)
	}
	return obj
}

// sampleCode is a VAE's code of one row (row) from the body's output h:
// μ + e^(½ log σ²)·ε with the log-variance clamped as the engine does; it
// adds the row's KL terms to *kl.
func (r *refVariant) sampleCode(p []float64, h []float64, row int, kl *float64) []float64 {
	ds := r.arch.DecoderStart()
	_, mu := r.layer(p, ds-2, h)
	_, lv := r.layer(p, ds-1, h)
	lat := len(mu)
	code := make([]float64, lat)
	for j := range lat {
		l := math.Min(math.Max(lv[j], engine.LogVarMin), engine.LogVarMax)
		code[j] = mu[j] + math.Exp(0.5*l)*r.eps[row*lat+j]
		*kl += -0.5 * (1 + l - mu[j]*mu[j] - math.Exp(l))
	}
	return code
}

// contractiveRow adds one row's ‖J_f‖²_F term to *contr, zs being the
// pre-activations of the body's layers on that row.
func (r *refVariant) contractiveRow(p []float64, zs [][]float64, row, body int, contr *float64) {
	d := r.arch.Input()
	if body == 1 { // exact: Σ_j a′² ‖W_j‖²
		s := r.specs[0]
		for o := range s.Out {
			a1, _ := refActD(s.Act, zs[0][o])
			nw := 0.0
			for i := range s.In {
				w := r.weight(p, 0, o, i)
				nw += w * w
			}
			*contr += a1 * a1 * nw
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
				*contr += v * v / float64(K)
			}
		}
	}
}

// reconstruction adds one row's reconstruction loss to *recon: the
// output layer's pre-activation z and output h against the row xr.
func (r *refVariant) reconstruction(z, h, xr []float64, recon *float64) {
	for j := range xr {
		if r.cfg.Loss == "bce" {
			*recon += math.Max(z[j], 0) - z[j]*xr[j] + math.Log1p(math.Exp(-math.Abs(z[j])))
		} else {
			diff := h[j] - xr[j]
			*recon += diff * diff
		}
	}
}

// sparsity adds the sparse variant's terms over the batch's n rows to obj:
// the L1 of the chosen layers' outputs (acts) and the KL of their mean
// activations from the target (body is the latent layer's index).
func (r *refVariant) sparsity(obj float64, acts map[int][][]float64, body int, n float64) float64 {
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
	return obj
}

// l2 adds the L2 penalty on the (untied) weights of p to obj.
func (r *refVariant) l2(obj float64, p []float64) float64 {
	for l, s := range r.specs {
		if s.TiedTo >= 0 {
			continue
		}
		for k := range s.In * s.Out {
			w := p[r.wOff[l]+k]
			obj += 0.5 * r.cfg.L2 * w * w
		}
	}
	return obj
}
