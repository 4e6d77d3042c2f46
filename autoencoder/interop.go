package autoencoder

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

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
		if L.Norm { // nn.LayerNorm's weight and bias, the module after the Linear
			for _, p := range L.params()[len(L.params())-2:] {
				d := make([]float32, p.dst.Len())
				if err := m.Backend.Download(d, p.dst); err != nil {
					return nil, err
				}
				out = append(out, safetensors.Tensor{Name: p.name, Shape: p.shape, Data: d})
			}
		}
	}
	return out, nil
}

// ExportMetadata is the safetensors metadata of an export: the
// architecture, the activations and the input scaler (as JSON), so the
// file documents how to use it.
func ExportMetadata(c Config, encoderOnly bool) map[string]string {
	sc, _ := json.Marshal(c.Scaler)
	part := "encoder+decoder"
	if encoderOnly || c.EncoderOnly {
		part = "encoder"
	}
	meta := map[string]string{
		"format": "pt", "aegpu_version": Version, "aegpu_variant": string(c.Variant), "aegpu_part": part,
		"aegpu_layers": fmt.Sprint(c.Layers), "aegpu_hidden": c.Hidden, "aegpu_latent": c.Latent,
		"aegpu_output": c.Output, "aegpu_scaler": string(sc),
	}
	if c.Norm != "" {
		meta["aegpu_norm"] = c.Norm
	}
	return meta
}

// EncoderOnlyError is the error of work that needs a decoder asked of an
// encoder-only model (Arch.EncoderOnly: an import of an encoder-only
// export).
type EncoderOnlyError struct {
	Model  string // the model directory ("" when unknown)
	Source string // where the model came from (Config.Data.Source)
	Op     string // what it was asked to do: "reconstruct", "decode codes", …
	// Resume: it was asked to resume training, and the advice is to resume
	// the original model or train a new one; otherwise the advice is to
	// import a full export of the original model.
	Resume bool
	Hint   string // what to do instead ("" for the default advice above)
}

// Detail is the error without what to do instead.
func (e *EncoderOnlyError) Detail() string {
	name, src := e.Model, ""
	if name == "" {
		name = "the model"
	}
	if e.Source != "" {
		src = " (" + e.Source + ")"
	}
	return fmt.Sprintf("%s is an encoder-only model%s: it has no decoder, so it cannot %s", name, src, e.Op)
}

func (e *EncoderOnlyError) Error() string {
	hint := e.Hint
	switch {
	case hint != "":
	case e.Resume:
		hint = "resume the original model's directory instead (ResumeRun), or train a new model (NewRun)"
	default:
		hint = "for a model with a decoder, export the original model with its decoder (Model.ExportTensors(false)) and Import that"
	}
	return e.Detail() + "; it can only encode (Predictor.Encode). " + strings.ToUpper(hint[:1]) + hint[1:]
}

// PyTorchLoadCode returns Python code that defines the modules an export
// of a (an encoder-only one when a.EncoderOnly) loads into, as
// Arch.PyTorch prints them, loads the file at path into them with
// safetensors' load_file, and reads the input scaler sc from the file's
// metadata when the rows need scaling.
func PyTorchLoadCode(a Arch, path string, sc dataset.Scaler) string {
	var sb strings.Builder
	sb.WriteString("import torch\nimport torch.nn as nn\nfrom safetensors.torch import load_file\n\n")
	sb.WriteString(a.PyTorch())
	fmt.Fprintf(&sb, "\nstate = load_file(%s)\n", pyString(path))
	mods := []string{"encoder"}
	if a.VAE {
		mods = append(mods, "fc_mu", "fc_logvar")
	}
	if !a.EncoderOnly {
		mods = append(mods, "decoder")
	}
	for _, m := range mods {
		fmt.Fprintf(&sb, "%s.load_state_dict({k[len(\"%s.\"):]: v for k, v in state.items() if k.startswith(\"%s.\")})\n", m, m, m)
	}
	code := "encoder(x)"
	if a.VAE {
		code = "fc_mu(encoder(x))"
	}
	if sc.Kind == "" || sc.Kind == dataset.ScaleNone {
		fmt.Fprintf(&sb, "# rows x (float32, %d columns) go in unscaled; the code is %s\n", a.Input(), code)
		return sb.String()
	}
	fmt.Fprintf(&sb, `# rows x (float32, %d columns) go in scaled as aegpu's %s scaler does,
# (x - offset) * scale, with offset and scale from the file's metadata:
import json
from safetensors import safe_open
with safe_open(%s, "pt") as f:
    scaler = json.loads(f.metadata()["aegpu_scaler"])
offset, scale = torch.tensor(scaler["offset"]), torch.tensor(scaler["scale"])
`, a.Input(), sc.Kind, pyString(path))
	fmt.Fprintf(&sb, "# the code of rows x is %s\n", strings.Replace(code, "(x)", "((x - offset) * scale)", 1))
	if !a.EncoderOnly {
		sb.WriteString("# decoder(code) / scale + offset is the reconstruction in the data's units\n")
	}
	return sb.String()
}

// pyString quotes s as a Python string literal (a JSON string is one).
func pyString(s string) string {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.Encode(s)
	return strings.TrimSpace(b.String())
}

// ExportInfo is what an aegpu export's metadata (ExportMetadata) records
// about its model; a state dict saved elsewhere records none of it.
type ExportInfo struct {
	Hidden, Latent, Output string          // activation names ("" when not recorded)
	Scaler                 *dataset.Scaler // the input scaler (nil when not recorded)
	Part                   string          // "encoder", "encoder+decoder" or ""
	Norm                   string          // "layer", or "" (none, or not recorded)
}

// ReadExportInfo reads the aegpu metadata of a safetensors file.
func ReadExportInfo(meta map[string]string) (ExportInfo, error) {
	e := ExportInfo{Hidden: meta["aegpu_hidden"], Latent: meta["aegpu_latent"], Output: meta["aegpu_output"], Part: meta["aegpu_part"], Norm: meta["aegpu_norm"]}
	if s := meta["aegpu_scaler"]; s != "" {
		var sc dataset.Scaler
		if err := json.Unmarshal([]byte(s), &sc); err != nil {
			return e, fmt.Errorf("metadata aegpu_scaler: %w", err)
		}
		e.Scaler = &sc
	}
	return e, nil
}

// HasDecoder reports whether PyTorch-named tensors hold decoder layers
// (decoder.N.weight or decoder.N.bias); a file without them is an encoder
// (with a VAE's heads), as aegpu export --encoder-only writes.
func HasDecoder(ts map[string]safetensors.Tensor) bool {
	for name := range ts {
		if decoderParam.MatchString(name) {
			return true
		}
	}
	return false
}

var (
	layerName    = regexp.MustCompile(`^(encoder|decoder)\.(\d+)\.weight$`)
	decoderParam = regexp.MustCompile(`^decoder\.\d+\.(weight|bias)$`)
)

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
		if len(t.Shape) == 1 {
			continue // an nn.LayerNorm's gain (--norm layer), see InferNorm
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

// InferNorm reports the normalization PyTorch-named tensors hold:
// NormLayer when an encoder or decoder module's weight is 1-D (an
// nn.LayerNorm's gain), else NormNone.
func InferNorm(ts map[string]safetensors.Tensor) Norm {
	for name, t := range ts {
		if layerName.MatchString(name) && len(t.Shape) == 1 {
			return NormLayer
		}
	}
	return NormNone
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
// architecture a (an untied model; VAE when the weights have fc_mu;
// a.EncoderOnly when they hold no decoder, see HasDecoder), with scaler as
// its input scaling, so aegpu can encode, reconstruct and score with a
// model trained elsewhere (an encoder-only model only encodes). b is any
// backend (the weights are checked by loading them onto it).
func Import(dir string, ts map[string]safetensors.Tensor, a Arch, scaler dataset.Scaler, source string, b engine.Backend) (Config, error) {
	m, err := NewModel(b, a)
	if err != nil {
		return Config{}, err
	}
	defer m.Free()
	if err := m.SetTensors(ts); err != nil {
		if h := indexHint(ts, a); h != nil {
			return Config{}, fmt.Errorf("%s: %w; %w", source, err, h)
		}
		return Config{}, fmt.Errorf("%s: %w", source, err)
	}
	if len(scaler.Offset) != 0 && len(scaler.Offset) != a.Input() {
		return Config{}, fmt.Errorf("the scaler has %d columns, the model %d inputs", len(scaler.Offset), a.Input())
	}
	train := DefaultTrainConfig()
	train.Kind = VariantPlain
	if a.VAE {
		train.Kind = VariantVAE
	}
	c := NewConfig(a, train, scaler, DataInfo{Source: "imported from " + source, Cols: a.Input()})
	return c, SaveModel(dir, m, c)
}

// indexHint explains a mismatch of Linear layer indices between the
// tensors and a, which the hidden activation decides (every activation but
// linear is an nn.Sequential module between two Linear layers); nil when
// the indices agree.
func indexHint(ts map[string]safetensors.Tensor, a Arch) error {
	for _, half := range []string{"encoder", "decoder"} {
		var have, want []int
		for name, t := range ts {
			if m := layerName.FindStringSubmatch(name); m != nil && m[1] == half && len(t.Shape) != 1 { // 1-D: a LayerNorm's
				i, _ := strconv.Atoi(m[2])
				have = append(have, i)
			}
		}
		for _, s := range a.Specs() {
			if n, ok := strings.CutPrefix(s.Name, half+"."); ok {
				i, _ := strconv.Atoi(n)
				want = append(want, i)
			}
		}
		sort.Ints(have)
		if len(have) > 0 && len(want) > 0 && !slices.Equal(have, want) {
			return &LayerIndexError{Part: half, Have: have, Want: want, Hidden: a.Hidden}
		}
	}
	return nil
}
