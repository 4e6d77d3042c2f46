package autoencoder

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/aegpu/aegpu/dataset"
	"github.com/aegpu/aegpu/engine"
	"github.com/aegpu/aegpu/internal/onnxpb"
)

var allActs = []engine.Act{engine.Linear, engine.ReLU, engine.LeakyReLU, engine.Tanh, engine.Sigmoid, engine.GELU}

// onnxCase is a model the ONNX tests export: every activation (in every
// position), tied weights, a VAE and an encoder-only model.
type onnxCase struct {
	name string
	arch Arch
}

func onnxCases() []onnxCase {
	var cs []onnxCase
	for _, a := range allActs {
		cs = append(cs, onnxCase{a.String(), Arch{Layers: []int{9, 6, 4, 3}, Hidden: a, Latent: a, Output: a}})
	}
	return append(cs,
		onnxCase{"tied", Arch{Layers: []int{9, 6, 4, 3}, Hidden: engine.GELU, Latent: engine.Linear, Output: engine.Sigmoid, Tied: true}},
		onnxCase{"wide", Arch{Layers: []int{300, 128, 16}, Hidden: engine.ReLU, Latent: engine.Linear, Output: engine.Sigmoid}},
		onnxCase{"vae", Arch{Layers: []int{9, 6, 4, 3}, Hidden: engine.Tanh, Latent: engine.Linear, Output: engine.Sigmoid, VAE: true}},
		// --norm layer: a LayerNormalization between the hidden layers'
		// Gemm and activation (gains and biases not 1 and 0, see
		// onnxTestModel).
		onnxCase{"norm", Arch{Layers: []int{9, 6, 4, 3}, Hidden: engine.ReLU, Latent: engine.Linear, Output: engine.Sigmoid, Norm: NormLayer}},
		onnxCase{"norm-tied", Arch{Layers: []int{9, 6, 4, 3}, Hidden: engine.LeakyReLU, Latent: engine.Linear, Output: engine.Linear, Tied: true, Norm: NormLayer}},
		onnxCase{"norm-vae", Arch{Layers: []int{9, 6, 4, 3}, Hidden: engine.Linear, Latent: engine.Linear, Output: engine.Sigmoid, VAE: true, Norm: NormLayer}},
		onnxCase{"encoder-only", Arch{Layers: []int{9, 6, 3}, Hidden: engine.LeakyReLU, Latent: engine.Tanh, EncoderOnly: true}},
		onnxCase{"encoder-only-vae", Arch{Layers: []int{9, 6, 3}, Hidden: engine.ReLU, VAE: true, EncoderOnly: true}},
	)
}

// onnxTestModel makes c's model with seeded weights and, with scaled, a
// per-column scaler that is not the identity.
func onnxTestModel(t *testing.T, b engine.Backend, c onnxCase, scaled bool) (*Model, Config) {
	t.Helper()
	m, err := NewModel(b, c.arch)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Free)
	if err := m.Init(7); err != nil {
		t.Fatal(err)
	}
	randomizeNorms(t, m, 7)
	sc := dataset.Scaler{Kind: dataset.ScaleNone}
	if scaled {
		d := c.arch.Input()
		sc = dataset.Scaler{Kind: dataset.ScaleStandard, Offset: make([]float32, d), Scale: make([]float32, d)}
		engine.FillUniform(sc.Offset, 5, 1, 0, -2, 2)
		engine.FillUniform(sc.Scale, 5, 2, 0, 0.5, 2)
	}
	train := DefaultTrainConfig()
	if c.arch.VAE {
		train.Kind = VariantVAE
	}
	return m, NewConfig(c.arch, train, sc, DataInfo{Source: c.name, Cols: c.arch.Input()})
}

// onnxParts are the parts of c's model an export can hold.
func onnxParts(a Arch) []ONNXPart {
	if a.EncoderOnly {
		return []ONNXPart{ONNXModel, ONNXEncoder}
	}
	return []ONNXPart{ONNXModel, ONNXEncoder, ONNXDecoder}
}

// TestONNXStructure: every export has the nodes, initializers, inputs and
// outputs the model's layers call for, in an order that computes.
func TestONNXStructure(t *testing.T) {
	b := cpu(t)
	for _, c := range onnxCases() {
		for _, scaled := range []bool{false, true} {
			m, cfg := onnxTestModel(t, b, c, scaled)
			for _, part := range onnxParts(c.arch) {
				for _, opset := range []int{0, 20} {
					name := fmt.Sprintf("%s/scaled=%v/%s/opset%d", c.name, scaled, part, opset)
					t.Run(name, func(t *testing.T) {
						checkONNXStructure(t, m, cfg, ONNXOptions{Part: part, Opset: opset})
					})
				}
			}
			if scaled && !c.arch.EncoderOnly {
				t.Run(c.name+"/no-scaler", func(t *testing.T) {
					checkONNXStructure(t, m, cfg, ONNXOptions{NoScaler: true})
				})
			}
		}
	}
}

func checkONNXStructure(t *testing.T, m *Model, cfg Config, opts ONNXOptions) {
	var buf bytes.Buffer
	if err := m.ExportONNX(&buf, cfg, opts); err != nil {
		t.Fatal(err)
	}
	var mp onnxpb.ModelProto
	if err := proto.Unmarshal(buf.Bytes(), &mp); err != nil {
		t.Fatal(err)
	}
	a := m.Arch
	part := opts.Part
	if a.EncoderOnly && part == ONNXModel {
		part = ONNXEncoder
	}
	opset := max(opts.Opset, ONNXOpsetDefault)
	if len(mp.OpsetImport) != 1 || mp.OpsetImport[0].GetVersion() != int64(opset) || mp.OpsetImport[0].GetDomain() != "" || mp.GetIrVersion() != onnxIRVersion(opset) {
		t.Errorf("opset %v, IR version %d; want opset %d", mp.OpsetImport, mp.GetIrVersion(), opset)
	}
	g := mp.Graph
	scaled := !opts.NoScaler && cfg.Scaler.Kind != dataset.ScaleNone

	// Inputs and outputs: names and [batch, width].
	wantIn, wantOut := []string{ONNXInput}, []string{}
	widths := map[string]int{ONNXInput: a.Input(), ONNXCode: a.LatentDim(), ONNXMu: a.LatentDim(), ONNXLogVar: a.LatentDim(), ONNXReconstruction: a.Input()}
	if part == ONNXDecoder {
		wantIn = []string{ONNXCode}
	}
	if part != ONNXEncoder {
		wantOut = append(wantOut, ONNXReconstruction)
	}
	if part != ONNXDecoder {
		if a.VAE {
			wantOut = append(wantOut, ONNXMu, ONNXLogVar)
		} else {
			wantOut = append(wantOut, ONNXCode)
		}
	}
	checkValues(t, "input", g.Input, wantIn, widths)
	checkValues(t, "output", g.Output, wantOut, widths)

	ops, inits := wantNodes(m, part, scaled, opset)
	var got []string
	for _, n := range g.Node {
		got = append(got, n.GetOpType())
	}
	if !slices.Equal(got, ops) {
		t.Errorf("nodes %v\nwant  %v", got, ops)
	}
	checkInits(t, g, inits)
	checkGemms(t, m, g)
	checkDataflow(t, g)
	if cfg.Scaler.Kind != dataset.ScaleNone && opts.NoScaler && !strings.Contains(mp.GetDocString(), "without the model's") {
		t.Errorf("doc_string does not say the scaler is left out:\n%s", mp.GetDocString())
	}
	for _, o := range wantOut {
		if !strings.Contains(mp.GetDocString(), o+" = ") {
			t.Errorf("doc_string does not define output %s:\n%s", o, mp.GetDocString())
		}
	}
	meta := map[string]string{}
	for _, p := range mp.MetadataProps {
		meta[p.GetKey()] = p.GetValue()
	}
	if meta["aegpu_part"] != part.String() || meta["aegpu_scaler_in_graph"] != fmt.Sprint(scaled) || meta["aegpu_layers"] != fmt.Sprint(a.Layers) {
		t.Errorf("metadata %v", meta)
	}
}

// wantNodes are the op types of an export's nodes, in order (the scaler,
// each layer's Gemm and activation, the inverse scaling), and its
// initializers' shapes.
func wantNodes(m *Model, part ONNXPart, scaled bool, opset int) ([]string, map[string][]int64) {
	a := m.Arch
	var ops []string
	if scaled && part != ONNXDecoder {
		ops = append(ops, "Sub", "Mul")
	}
	inits := map[string][]int64{}
	for i, L := range m.Layers {
		if part == ONNXEncoder && !L.Encoder || part == ONNXDecoder && L.Encoder {
			continue
		}
		ops = append(ops, "Gemm")
		if L.Norm {
			ops = append(ops, "LayerNormalization")
			inits[L.NormName+".weight"], inits[L.NormName+".bias"] = []int64{int64(L.Out)}, []int64{int64(L.Out)}
		}
		ops = append(ops, actOps(L.Act, opset)...)
		W := m.Layers[m.owner(i)]
		inits[W.Name+".weight"] = []int64{int64(W.Out), int64(W.In)}
		inits[L.Name+".bias"] = []int64{int64(L.Out)}
		if L.Act == engine.GELU && opset < 20 {
			inits["gelu.sqrt2"], inits["gelu.one"], inits["gelu.half"] = nil, nil, nil
		}
	}
	if scaled && part != ONNXEncoder {
		ops = append(ops, "Div", "Add")
	}
	if scaled {
		inits["scaler.offset"], inits["scaler.scale"] = []int64{int64(a.Input())}, []int64{int64(a.Input())}
	}
	return ops, inits
}

// actOps are the nodes an activation takes.
func actOps(a engine.Act, opset int) []string {
	switch a {
	case engine.ReLU:
		return []string{"Relu"}
	case engine.LeakyReLU:
		return []string{"LeakyRelu"}
	case engine.Tanh:
		return []string{"Tanh"}
	case engine.Sigmoid:
		return []string{"Sigmoid"}
	case engine.GELU:
		if opset >= 20 {
			return []string{"Gelu"}
		}
		return []string{"Div", "Erf", "Add", "Mul", "Mul"}
	}
	return nil
}

func checkValues(t *testing.T, what string, vs []*onnxpb.ValueInfoProto, want []string, widths map[string]int) {
	t.Helper()
	var names []string
	for _, v := range vs {
		names = append(names, v.GetName())
		tt := v.GetType().GetTensorType()
		dims := tt.GetShape().GetDim()
		if tt.GetElemType() != int32(onnxpb.TensorProto_FLOAT) || len(dims) != 2 || dims[0].GetDimParam() != ONNXBatch || dims[1].GetDimValue() != int64(widths[v.GetName()]) {
			t.Errorf("%s %s: %v", what, v.GetName(), tt)
		}
	}
	if !slices.Equal(names, want) {
		t.Errorf("%ss %v, want %v", what, names, want)
	}
}

func checkInits(t *testing.T, g *onnxpb.GraphProto, want map[string][]int64) {
	t.Helper()
	got := map[string]bool{}
	for _, in := range g.Initializer {
		got[in.GetName()] = true
		dims, ok := want[in.GetName()]
		n := int64(1)
		for _, d := range dims {
			n *= d
		}
		if !ok || !slices.Equal(in.Dims, dims) || in.GetDataType() != int32(onnxpb.TensorProto_FLOAT) || int64(len(in.RawData)) != 4*n {
			t.Errorf("initializer %s %v (%d bytes): want %v (present %v)", in.GetName(), in.Dims, len(in.RawData), dims, ok)
		}
	}
	for name := range want {
		if !got[name] {
			t.Errorf("initializer %s is missing", name)
		}
	}
}

// checkGemms: each Gemm multiplies by its layer's own weight transposed,
// or a tied layer's by its encoder layer's weight untransposed.
func checkGemms(t *testing.T, m *Model, g *onnxpb.GraphProto) {
	t.Helper()
	for _, n := range g.Node {
		if n.GetOpType() != "Gemm" {
			if n.GetOpType() == "LeakyRelu" && (len(n.Attribute) != 1 || n.Attribute[0].GetName() != "alpha" || n.Attribute[0].GetF() != float32(0.01)) {
				t.Errorf("LeakyRelu attributes %v", n.Attribute)
			}
			continue
		}
		layer, _ := strings.CutSuffix(n.GetName(), "/Gemm")
		i := slices.IndexFunc(m.Layers, func(L Layer) bool { return L.Name == layer })
		if i < 0 {
			t.Fatalf("Gemm %s is no layer's", n.GetName())
		}
		wantW, wantT := layer+".weight", int64(1)
		if o := m.Layers[i].TiedTo; o >= 0 {
			wantW, wantT = m.Layers[o].Name+".weight", 0
		}
		if len(n.Input) != 3 || n.Input[1] != wantW || n.Input[2] != layer+".bias" || len(n.Attribute) != 1 || n.Attribute[0].GetName() != "transB" || n.Attribute[0].GetI() != wantT {
			t.Errorf("Gemm %s: inputs %v, attributes %v; want weight %s, transB %d", n.GetName(), n.Input, n.Attribute, wantW, wantT)
		}
	}
}

// checkDataflow: every node reads values defined before it, every value
// is defined once, and every output is defined.
func checkDataflow(t *testing.T, g *onnxpb.GraphProto) {
	t.Helper()
	defined := map[string]bool{}
	for _, v := range g.Input {
		defined[v.GetName()] = true
	}
	for _, in := range g.Initializer {
		defined[in.GetName()] = true
	}
	for _, n := range g.Node {
		for _, in := range n.Input {
			if !defined[in] {
				t.Errorf("node %s reads %s before it is defined", n.GetName(), in)
			}
		}
		for _, out := range n.Output {
			if defined[out] {
				t.Errorf("node %s redefines %s", n.GetName(), out)
			}
			defined[out] = true
		}
	}
	for _, v := range g.Output {
		if !defined[v.GetName()] {
			t.Errorf("output %s is not computed", v.GetName())
		}
	}
}

// TestONNXDecoderOfEncoderOnly: an encoder-only model has no decoder to
// export, and says so.
func TestONNXDecoderOfEncoderOnly(t *testing.T) {
	c := onnxCases()[len(onnxCases())-2]
	m, cfg := onnxTestModel(t, cpu(t), c, true)
	err := m.ExportONNX(&bytes.Buffer{}, cfg, ONNXOptions{Part: ONNXDecoder})
	var eo *EncoderOnlyError
	if !errors.As(err, &eo) || !strings.Contains(err.Error(), "cannot export a decoder") {
		t.Fatalf("decoder of an encoder-only model: %v", err)
	}
	if err := m.ExportONNX(&bytes.Buffer{}, cfg, ONNXOptions{Opset: 16}); err == nil || !strings.Contains(err.Error(), "opset 16") {
		t.Errorf("opset 16: %v", err)
	}
}
