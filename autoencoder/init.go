package autoencoder

import (
	"fmt"
	"math"

	"github.com/aegpu/aegpu/engine"
)

// Weight initialisations (TrainConfig.Init).
const (
	// InitPyTorch is nn.Linear's default: weights and biases uniform in
	// ±1/√fan_in. The PyTorch parity tests use it.
	InitPyTorch = "pytorch"
	// InitKaiming is He et al.'s uniform initialisation scaled by the
	// gain of the layer's activation (PyTorch's calculate_gain: √2 for
	// ReLU and GELU, √(2/(1+0.01²)) for leaky ReLU, 5/3 for tanh, 1 for
	// sigmoid and linear): weights uniform in ±gain·√(3/fan_in), biases 0.
	// The variance of a layer's pre-activations is then kept through the
	// depth of the network.
	InitKaiming = "kaiming"
	// InitXavier is Glorot and Bengio's: weights uniform in
	// ±gain·√(6/(fan_in+fan_out)), biases 0.
	InitXavier = "xavier"
	// InitMixed is InitKaiming for the layers followed by a ReLU-family
	// activation (relu, leaky_relu, gelu) and InitPyTorch for the others
	// (the code's layer, the output layer, tanh/sigmoid/linear hidden
	// layers): a deep ReLU stack keeps its signal while a linear-output
	// model starts with small reconstructions.
	InitMixed = "mixed"
)

// initKind is a parsed TrainConfig.Init.
type initKind int

const (
	initPyTorch initKind = iota
	initKaiming
	initXavier
	initMixed
)

func parseInit(s string) (initKind, error) {
	switch s {
	case "", InitPyTorch:
		return initPyTorch, nil
	case InitKaiming:
		return initKaiming, nil
	case InitXavier:
		return initXavier, nil
	case InitMixed:
		return initMixed, nil
	}
	return 0, fmt.Errorf("unknown init %q (want %s, %s, %s or %s)", s, InitPyTorch, InitKaiming, InitXavier, InitMixed)
}

// gain is PyTorch's recommended gain for a layer followed by act.
func gain(act engine.Act) float64 {
	switch act {
	case engine.ReLU, engine.GELU:
		return math.Sqrt2
	case engine.LeakyReLU:
		return math.Sqrt(2 / (1 + engine.LeakySlope*engine.LeakySlope))
	case engine.Tanh:
		return 5.0 / 3
	}
	return 1
}

// initBounds returns the half-widths of the uniform distributions of a
// layer's weights and biases (0: the biases are zero).
func initBounds(k initKind, L LayerSpec) (w, b float64) {
	if k == initMixed {
		k = initPyTorch
		switch L.Act {
		case engine.ReLU, engine.LeakyReLU, engine.GELU:
			k = initKaiming
		}
	}
	switch k {
	case initKaiming:
		return gain(L.Act) * math.Sqrt(3/float64(L.In)), 0
	case initXavier:
		return gain(L.Act) * math.Sqrt(6/float64(L.In+L.Out)), 0
	}
	bound := 1 / math.Sqrt(float64(L.In))
	return bound, bound
}

// Init sets the parameters as PyTorch's nn.Linear does by default (weights
// Kaiming-uniform with a = √5, i.e. U(±1/√in); biases U(±1/√in)): InitWith
// with InitPyTorch.
func (m *Model) Init(seed uint64) error { return m.InitWith(seed, InitPyTorch) }

// InitWith initialises the parameters by the scheme init (an Init*
// constant; "" is InitPyTorch), drawing layer l's weight from Philox stream
// StreamInit+2l and its bias from StreamInit+2l+1 of seed. The draws happen
// on the host, so every backend starts from bit-identical weights.
func (m *Model) InitWith(seed uint64, init string) error {
	k, err := parseInit(init)
	if err != nil {
		return err
	}
	for l, L := range m.Layers {
		wb, bb := initBounds(k, L.LayerSpec)
		if L.TiedTo < 0 {
			w := make([]float32, L.W.Len())
			engine.FillUniform(w, seed, engine.StreamInit+2*uint64(l), 0, -float32(wb), float32(wb))
			if err := m.Backend.Upload(L.W, w); err != nil {
				return err
			}
		}
		bias := make([]float32, L.B.Len())
		if bb > 0 {
			engine.FillUniform(bias, seed, engine.StreamInit+2*uint64(l)+1, 0, -float32(bb), float32(bb))
		}
		if err := m.Backend.Upload(L.B, bias); err != nil {
			return err
		}
		if L.Norm { // nn.LayerNorm's: gain 1, bias 0 (no draws)
			if err := m.Backend.Fill(L.NG, 1); err != nil {
				return err
			}
			if err := m.Backend.Fill(L.NB, 0); err != nil {
				return err
			}
		}
	}
	return nil
}
