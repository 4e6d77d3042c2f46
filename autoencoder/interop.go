package autoencoder

import (
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strconv"

	"github.com/aegpu/aegpu/dataset"
	"github.com/aegpu/aegpu/engine"
	"github.com/aegpu/aegpu/internal/safetensors"
)

// ExportTensors returns the model's parameters as PyTorch-named tensors
// for use outside aegpu: a tied decoder's weights are written out (as its
// encoder layers' weights transposed), so the state dict loads into the
// plain nn.Sequential pair that Arch.PyTorch prints. encoderOnly keeps the
// encoder (and a VAE's fc_mu/fc_logvar heads): the part a downstream model
// is initialised from.
func (m *Model) ExportTensors(encoderOnly bool) ([]safetensors.Tensor, error) {
	var out []safetensors.Tensor
	for _, L := range m.Layers {
		if encoderOnly && !L.Encoder {
			continue
		}
		w := make([]float32, L.W.Len())
		if err := m.Backend.Download(w, L.W); err != nil {
			return nil, err
		}
		if L.TiedTo >= 0 { // stored [In×Out]: transpose to PyTorch's [Out×In]
			t := make([]float32, len(w))
			for i := range L.In {
				for o := range L.Out {
					t[o*L.In+i] = w[i*L.Out+o]
				}
			}
			w = t
		}
		b := make([]float32, L.B.Len())
		if err := m.Backend.Download(b, L.B); err != nil {
			return nil, err
		}
		out = append(out,
			safetensors.Tensor{Name: L.Name + ".weight", Shape: []int{L.Out, L.In}, Data: w},
			safetensors.Tensor{Name: L.Name + ".bias", Shape: []int{L.Out}, Data: b})
	}
	return out, nil
}

// ExportMetadata is the safetensors metadata of an export: the
// architecture, the activations and the input scaler (as JSON), so the
// file documents how to use it.
func ExportMetadata(c Config, encoderOnly bool) map[string]string {
	sc, _ := json.Marshal(c.Scaler)
	part := "encoder+decoder"
	if encoderOnly {
		part = "encoder"
	}
	return map[string]string{
		"format": "pt", "aegpu_version": Version, "aegpu_variant": c.Variant, "aegpu_part": part,
		"aegpu_layers": fmt.Sprint(c.Layers), "aegpu_hidden": c.Hidden, "aegpu_latent": c.Latent,
		"aegpu_output": c.Output, "aegpu_scaler": string(sc),
	}
}

var layerName = regexp.MustCompile(`^(encoder|decoder)\.(\d+)\.weight$`)

// InferLayers reads the encoder widths from PyTorch-named weights
// (encoder.N.weight [out×in] in index order; a VAE's fc_mu.weight), and
// reports whether the tensors hold a VAE.
func InferLayers(ts map[string]safetensors.Tensor) (layers []int, vae bool, err error) {
	type lw struct{ idx, out, in int }
	var enc []lw
	for name, t := range ts {
		m := layerName.FindStringSubmatch(name)
		if m == nil || m[1] != "encoder" {
			continue
		}
		if len(t.Shape) != 2 {
			return nil, false, fmt.Errorf("%s has shape %v, a Linear weight is 2-D [out, in]", name, t.Shape)
		}
		i, _ := strconv.Atoi(m[2])
		enc = append(enc, lw{i, t.Shape[0], t.Shape[1]})
	}
	sort.Slice(enc, func(a, b int) bool { return enc[a].idx < enc[b].idx })
	mu, hasMu := ts["fc_mu.weight"]
	if len(enc) == 0 && !hasMu {
		return nil, false, fmt.Errorf("no encoder.N.weight or fc_mu.weight tensors: not a PyTorch nn.Sequential autoencoder state dict (names %v)", names(ts))
	}
	for i, l := range enc {
		if i == 0 {
			layers = append(layers, l.in)
		} else if l.in != layers[len(layers)-1] {
			return nil, false, fmt.Errorf("encoder.%d.weight takes %d inputs but the layer before gives %d", l.idx, l.in, layers[len(layers)-1])
		}
		layers = append(layers, l.out)
	}
	if hasMu {
		if len(mu.Shape) != 2 {
			return nil, false, fmt.Errorf("fc_mu.weight has shape %v, want [latent, in]", mu.Shape)
		}
		if len(layers) == 0 {
			layers = append(layers, mu.Shape[1])
		}
		layers = append(layers, mu.Shape[0])
	}
	return layers, hasMu, nil
}

func names(ts map[string]safetensors.Tensor) []string {
	var out []string
	for n := range ts {
		out = append(out, n)
	}
	sort.Strings(out)
	if len(out) > 8 {
		out = append(out[:8], "…")
	}
	return out
}

// Import builds a model directory in dir from PyTorch-named weights of
// architecture a (an untied model; VAE when the weights have fc_mu), with
// scaler as its input scaling, so aegpu can encode, reconstruct and score
// with a model trained elsewhere. b is any backend (the weights are
// checked by loading them onto it).
func Import(dir string, ts map[string]safetensors.Tensor, a Arch, scaler dataset.Scaler, source string, b engine.Backend) (Config, error) {
	m, err := NewModel(b, a)
	if err != nil {
		return Config{}, err
	}
	defer m.Free()
	if err := m.SetTensors(ts); err != nil {
		return Config{}, fmt.Errorf("%s: %w (activations decide the nn.Sequential indices: check --hidden/--latent-act/--output)", source, err)
	}
	if len(scaler.Offset) != 0 && len(scaler.Offset) != a.Input() {
		return Config{}, fmt.Errorf("the scaler has %d columns, the model %d inputs", len(scaler.Offset), a.Input())
	}
	variant := "plain"
	if a.VAE {
		variant = "vae"
	}
	train := DefaultTrainConfig()
	train.Kind = variant
	c := Config{Format: FormatVersion, Version: Version, Variant: variant, Scaler: scaler, Train: train,
		Data: DataInfo{Source: "imported from " + source, Cols: a.Input()}}
	c.SetArch(a)
	return c, SaveModel(dir, m, c)
}
