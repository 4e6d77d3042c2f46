// Package autoencoder builds, trains and runs MLP autoencoders on any
// engine.Backend. It knows nothing about which device it runs on.
//
// An autoencoder with encoder widths [d0, d1, …, dk] is the two
// nn.Sequential stacks
//
//	encoder: Linear(d0,d1) act … Linear(d(k−1),dk) [latent act]
//	decoder: Linear(dk,d(k−1)) act … Linear(d1,d0) [output act]
//
// with PyTorch parameter names (encoder.0.weight [d1×d0], encoder.0.bias …),
// the index counting activation modules as nn.Sequential does.
package autoencoder

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/aegpu/aegpu/engine"
)

// Arch is the architecture of an autoencoder.
type Arch struct {
	// Layers are the encoder widths from the input to the latent code; the
	// decoder mirrors them. At least two entries.
	Layers []int `json:"layers"`
	// Hidden is the activation after every hidden layer; Latent after the
	// encoder's last layer; Output after the decoder's last layer.
	Hidden engine.Act `json:"-"`
	Latent engine.Act `json:"-"`
	Output engine.Act `json:"-"`
	// Tied decoder layers use their mirrored encoder layer's weight,
	// transposed (and have only their own bias).
	Tied bool `json:"-"`
	// VAE makes a variational autoencoder: the encoder's last layer is two
	// linear heads, fc_mu and fc_logvar, each d(k−1) → dk, and the decoder
	// reads a sample z = μ + σ·ε (or μ itself outside training).
	VAE bool `json:"-"`
	// EncoderOnly is a model without a decoder (an import of aegpu export
	// --encoder-only): Specs lists the encoder's layers (and a VAE's
	// heads) only; the model encodes, and cannot reconstruct, decode or
	// train.
	EncoderOnly bool `json:"-"`
	// Norm is the normalization of the hidden layers: NormNone, or
	// NormLayer for Linear → LayerNorm → activation in every hidden layer
	// of the encoder and the decoder (not the code's layer, a VAE's
	// heads or the output layer).
	Norm Norm `json:"-"`
}

// Norm is a hidden-layer normalization (aegpu train --norm).
type Norm string

const (
	// NormNone: no normalization (config.json without "norm").
	NormNone Norm = ""
	// NormLayer: LayerNorm with a learned gain and bias (PyTorch's
	// nn.LayerNorm(d), eps 1e-5) between each hidden layer's linear map
	// and its activation.
	NormLayer Norm = "layer"
)

// LayerNormEps is the eps of --norm layer's LayerNorm (nn.LayerNorm's
// default).
const LayerNormEps = 1e-5

// ParseNorm parses --norm: "none" (or "") or "layer".
func ParseNorm(s string) (Norm, error) {
	switch s {
	case "", "none":
		return NormNone, nil
	case "layer":
		return NormLayer, nil
	}
	return NormNone, fmt.Errorf("unknown normalization %q (want none or layer)", s)
}

// String is "none" or "layer".
func (n Norm) String() string {
	if n == NormNone {
		return "none"
	}
	return string(n)
}

// ParseLayers parses "784,512,256,32".
func ParseLayers(s string) ([]int, error) {
	parts := strings.Split(s, ",")
	if len(parts) < 2 {
		return nil, fmt.Errorf("layers %q: need at least an input and a latent width, e.g. 784,128,32", s)
	}
	out := make([]int, len(parts))
	for i, p := range parts {
		n, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("layers %q: entry %d (%q) is not a positive integer", s, i+1, p)
		}
		out[i] = n
	}
	return out, nil
}

// Validate checks the architecture.
func (a Arch) Validate() error {
	if len(a.Layers) < 2 {
		return fmt.Errorf("architecture needs at least two widths (input, latent), got %v", a.Layers)
	}
	if a.Tied && a.VAE {
		return fmt.Errorf("tied weights are for plain, denoising, sparse and contractive autoencoders, not VAEs")
	}
	switch a.Norm {
	case NormNone:
	case NormLayer:
		// The engine has no stand-alone activation op: a normalized layer
		// applies its activation as act′(u)·u (ActJVP), which is act(u)
		// for the piecewise-linear activations only.
		switch a.Hidden {
		case engine.ReLU, engine.LeakyReLU, engine.Linear:
		default:
			return fmt.Errorf("--norm layer supports the hidden activations relu, leaky_relu and linear, not %s", a.Hidden)
		}
	default:
		return fmt.Errorf("unknown normalization %q (want none or layer)", string(a.Norm))
	}
	for i, n := range a.Layers {
		if n <= 0 {
			return fmt.Errorf("layer width %d at position %d must be positive", n, i)
		}
		if n > 1<<20 {
			return fmt.Errorf("layer width %d at position %d is implausibly large", n, i)
		}
	}
	return nil
}

// Input is the data width d0.
func (a Arch) Input() int { return a.Layers[0] }

// LatentDim is the code width dk.
func (a Arch) LatentDim() int { return a.Layers[len(a.Layers)-1] }

// String formats the architecture as "784→512→256→32→256→512→784"
// ("784→512→256→32" without a decoder).
func (a Arch) String() string {
	var sb strings.Builder
	k := len(a.Layers)
	n := 2*k - 1
	if a.EncoderOnly {
		n = k
	}
	for i := 0; i < n; i++ {
		if i > 0 {
			sb.WriteString("→")
		}
		j := i
		if i >= k {
			j = 2*k - 2 - i
		}
		sb.WriteString(strconv.Itoa(a.Layers[j]))
	}
	return sb.String()
}

// Role is what a layer does in the model.
type Role int

const (
	RoleEncoder Role = iota // an encoder layer (the last one outputs the code)
	RoleMu                  // a VAE's mean head
	RoleLogVar              // a VAE's log-variance head
	RoleDecoder             // a decoder layer
)

// LayerSpec describes one Linear layer and the activation after it.
type LayerSpec struct {
	Name    string // PyTorch prefix, e.g. "encoder.2"
	In, Out int
	Act     engine.Act
	Encoder bool // part of the encoder (including a VAE's heads)
	Role    Role
	// TiedTo is, for a tied decoder layer, the index in Specs of the
	// encoder layer whose weight it uses transposed; −1 otherwise.
	TiedTo int
	// Norm: a LayerNorm (gain and bias of Out features, PyTorch module
	// NormName) sits between the linear map and Act (--norm layer).
	Norm     bool
	NormName string
}

// Specs lists the Linear layers in forward order: the encoder (for a VAE:
// its hidden layers, then fc_mu and fc_logvar), then the decoder (none for
// an EncoderOnly architecture).
func (a Arch) Specs() []LayerSpec {
	k := len(a.Layers) - 1 // linear layers per half
	var out []LayerSpec
	idx := 0
	body := k
	if a.VAE {
		body = k - 1
	}
	for i := 0; i < body; i++ {
		act := a.Hidden
		if i == k-1 {
			act = a.Latent
		}
		s := LayerSpec{Name: fmt.Sprintf("encoder.%d", idx), In: a.Layers[i], Out: a.Layers[i+1], Act: act, Encoder: true, TiedTo: -1}
		idx = a.withNorm(&s, idx, i < k-1)
		out = append(out, s)
	}
	if a.VAE {
		out = append(out,
			LayerSpec{Name: "fc_mu", In: a.Layers[k-1], Out: a.Layers[k], Act: engine.Linear, Encoder: true, Role: RoleMu, TiedTo: -1},
			LayerSpec{Name: "fc_logvar", In: a.Layers[k-1], Out: a.Layers[k], Act: engine.Linear, Encoder: true, Role: RoleLogVar, TiedTo: -1})
	}
	if a.EncoderOnly {
		return out
	}
	idx = 0
	for i := k; i > 0; i-- {
		act := a.Hidden
		if i == 1 {
			act = a.Output
		}
		s := LayerSpec{Name: fmt.Sprintf("decoder.%d", idx), In: a.Layers[i], Out: a.Layers[i-1], Act: act, Role: RoleDecoder, TiedTo: -1}
		if a.Tied {
			s.TiedTo = i - 1 // encoder layer i−1 maps Layers[i−1] → Layers[i]
		}
		idx = a.withNorm(&s, idx, i > 1)
		out = append(out, s)
	}
	return out
}

// withNorm gives s, the nn.Sequential module at idx, its LayerNorm when
// it is a hidden layer of a normalized architecture, and returns the
// index of the module after its activation.
func (a Arch) withNorm(s *LayerSpec, idx int, hidden bool) int {
	idx++
	if hidden && a.Norm == NormLayer {
		s.Norm, s.NormName = true, fmt.Sprintf("%s.%d", s.Name[:strings.IndexByte(s.Name, '.')], idx)
		idx++
	}
	return idx + moduleCount(s.Act)
}

// Variant-independent positions in Specs.

// DecoderStart is the index in Specs of the decoder's first layer
// (len(Specs) for an EncoderOnly architecture).
func (a Arch) DecoderStart() int {
	if a.VAE {
		return len(a.Layers)
	}
	return len(a.Layers) - 1
}

// BodyLayers is the number of encoder layers before the code: all of them,
// or for a VAE those before its fc_mu and fc_logvar heads.
func (a Arch) BodyLayers() int {
	if a.VAE {
		return len(a.Layers) - 2
	}
	return len(a.Layers) - 1
}

// CodeLayer is the index in Specs of the layer whose output is the latent
// code (a VAE's fc_mu; its fc_logvar follows).
func (a Arch) CodeLayer() int {
	if a.VAE {
		return a.BodyLayers()
	}
	return a.BodyLayers() - 1
}

// moduleCount is 1 when an activation is its own nn.Sequential module.
func moduleCount(a engine.Act) int {
	if a == engine.Linear {
		return 0
	}
	return 1
}

// torchModule is the PyTorch module for an activation.
func torchModule(a engine.Act) string {
	switch a {
	case engine.ReLU:
		return "nn.ReLU()"
	case engine.LeakyReLU:
		return "nn.LeakyReLU(0.01)"
	case engine.Tanh:
		return "nn.Tanh()"
	case engine.Sigmoid:
		return "nn.Sigmoid()"
	case engine.GELU:
		return "nn.GELU()"
	}
	return ""
}

// PyTorch returns Python code defining the modules (an nn.Sequential
// encoder and decoder, no decoder for an EncoderOnly architecture; a VAE's
// nn.Linear heads fc_mu and fc_logvar) whose state dicts load this
// architecture's model.safetensors. A tied decoder's weights are not
// stored: they are its encoder layers' weights transposed.
func (a Arch) PyTorch() string {
	var sb strings.Builder
	half := func(name string, enc bool) {
		fmt.Fprintf(&sb, "%s = nn.Sequential(\n", name)
		for _, s := range a.Specs() {
			if s.Encoder != enc || s.Role == RoleMu || s.Role == RoleLogVar {
				continue
			}
			fmt.Fprintf(&sb, "    nn.Linear(%d, %d),\n", s.In, s.Out)
			if s.Norm {
				fmt.Fprintf(&sb, "    nn.LayerNorm(%d),\n", s.Out)
			}
			if m := torchModule(s.Act); m != "" {
				fmt.Fprintf(&sb, "    %s,\n", m)
			}
		}
		sb.WriteString(")\n")
	}
	half("encoder", true)
	for _, s := range a.Specs() {
		if s.Role == RoleMu || s.Role == RoleLogVar {
			fmt.Fprintf(&sb, "%s = nn.Linear(%d, %d)\n", s.Name, s.In, s.Out)
		}
	}
	if a.EncoderOnly {
		return sb.String()
	}
	half("decoder", false)
	if a.Tied {
		sb.WriteString("# tied weights: decoder.N.weight is not stored; set it to the mirrored\n# encoder layer's weight transposed, e.g. decoder[0].weight = nn.Parameter(encoder[-k].weight.t())\n")
	}
	return sb.String()
}

// paramAlign aligns every tensor in the flat parameter buffer to 16 floats
// (64 bytes), so GPU kernels can use vector loads on any of them.
const paramAlign = 16

func alignUp(n int) int { return (n + paramAlign - 1) / paramAlign * paramAlign }

// layout returns each layer's weight and bias offsets in the flat buffer,
// its LayerNorm's gain offset (−1 without; the norm's bias follows the
// gain) and the buffer's total length.
func (a Arch) layout() (wOff, bOff, nOff []int, total int) {
	for _, s := range a.Specs() {
		if s.TiedTo >= 0 {
			wOff = append(wOff, wOff[s.TiedTo])
		} else {
			wOff = append(wOff, total)
			total += alignUp(s.In * s.Out)
		}
		bOff = append(bOff, total)
		total += alignUp(s.Out)
		if s.Norm {
			nOff = append(nOff, total)
			total += 2 * alignUp(s.Out)
		} else {
			nOff = append(nOff, -1)
		}
	}
	return wOff, bOff, nOff, total
}

// FlatLen is the length of the model's flat parameter buffer and of its
// gradient buffer: NumParams with each tensor aligned to 64 bytes. It is
// what data-parallel training all-reduces every step (and one float).
func (a Arch) FlatLen() int {
	_, _, _, n := a.layout()
	return n
}

// NumParams is the number of trainable parameters (without padding).
func (a Arch) NumParams() int {
	n := 0
	for _, s := range a.Specs() {
		n += s.Out
		if s.Norm {
			n += 2 * s.Out
		}
		if s.TiedTo < 0 {
			n += s.In * s.Out
		}
	}
	return n
}
