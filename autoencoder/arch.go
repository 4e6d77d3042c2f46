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

// String formats the architecture as "784→512→256→32→256→512→784".
func (a Arch) String() string {
	var sb strings.Builder
	k := len(a.Layers)
	for i := 0; i < 2*k-1; i++ {
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

// LayerSpec describes one Linear layer and the activation after it.
type LayerSpec struct {
	Name    string // PyTorch prefix, e.g. "encoder.2"
	In, Out int
	Act     engine.Act
	Encoder bool
}

// Specs lists the Linear layers in forward order: encoder then decoder.
func (a Arch) Specs() []LayerSpec {
	k := len(a.Layers) - 1 // linear layers per half
	var out []LayerSpec
	idx := 0
	for i := 0; i < k; i++ {
		act := a.Hidden
		if i == k-1 {
			act = a.Latent
		}
		out = append(out, LayerSpec{Name: fmt.Sprintf("encoder.%d", idx), In: a.Layers[i], Out: a.Layers[i+1], Act: act, Encoder: true})
		idx += 1 + moduleCount(act)
	}
	idx = 0
	for i := k; i > 0; i-- {
		act := a.Hidden
		if i == 1 {
			act = a.Output
		}
		out = append(out, LayerSpec{Name: fmt.Sprintf("decoder.%d", idx), In: a.Layers[i], Out: a.Layers[i-1], Act: act})
		idx += 1 + moduleCount(act)
	}
	return out
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

// PyTorch returns Python code defining the nn.Sequential pair that
// load_state_dict accepts for this architecture's model.safetensors.
func (a Arch) PyTorch() string {
	var sb strings.Builder
	half := func(name string, enc bool) {
		fmt.Fprintf(&sb, "%s = nn.Sequential(\n", name)
		for _, s := range a.Specs() {
			if s.Encoder != enc {
				continue
			}
			fmt.Fprintf(&sb, "    nn.Linear(%d, %d),\n", s.In, s.Out)
			if m := torchModule(s.Act); m != "" {
				fmt.Fprintf(&sb, "    %s,\n", m)
			}
		}
		sb.WriteString(")\n")
	}
	half("encoder", true)
	half("decoder", false)
	return sb.String()
}

// paramAlign aligns every tensor in the flat parameter buffer to 16 floats
// (64 bytes), so GPU kernels can use vector loads on any of them.
const paramAlign = 16

func alignUp(n int) int { return (n + paramAlign - 1) / paramAlign * paramAlign }

// layout returns each layer's weight and bias offsets in the flat buffer and
// the buffer's total length.
func (a Arch) layout() (wOff, bOff []int, total int) {
	for _, s := range a.Specs() {
		wOff = append(wOff, total)
		total += alignUp(s.In * s.Out)
		bOff = append(bOff, total)
		total += alignUp(s.Out)
	}
	return wOff, bOff, total
}

// NumParams is the number of trainable parameters (without padding).
func (a Arch) NumParams() int {
	n := 0
	for _, s := range a.Specs() {
		n += s.In*s.Out + s.Out
	}
	return n
}
