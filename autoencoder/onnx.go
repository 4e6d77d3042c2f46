package autoencoder

import (
	"fmt"
	"io"
	"math"

	"google.golang.org/protobuf/proto"

	"github.com/aegpu/aegpu/dataset"
	"github.com/aegpu/aegpu/engine"
	"github.com/aegpu/aegpu/internal/atomicfile"
	"github.com/aegpu/aegpu/internal/onnxpb"
)

// ONNXPart is the part of a model an ONNX export holds.
type ONNXPart int

const (
	// ONNXModel is the whole model: input rows x → output "reconstruction"
	// (what Predictor.Reconstruct returns) and the code ("code", or a VAE's
	// "mu" and "logvar"; the decoder reads μ). An encoder-only model's
	// whole model is its encoder.
	ONNXModel ONNXPart = iota
	// ONNXEncoder is the encoder: x → "code" (Predictor.Encode), or a
	// VAE's "mu" (Predictor.Encode) and "logvar".
	ONNXEncoder
	// ONNXDecoder is the decoder: input "code" → "reconstruction"
	// (Predictor.Decode).
	ONNXDecoder
)

func (p ONNXPart) String() string {
	switch p {
	case ONNXModel:
		return "encoder+decoder"
	case ONNXEncoder:
		return "encoder"
	case ONNXDecoder:
		return "decoder"
	}
	return fmt.Sprintf("ONNXPart(%d)", int(p))
}

// ONNX opsets ExportONNX writes: 17 (the default) up to 21. From opset
// 20 GELU is ONNX's Gelu; before, it is built from Div, Erf, Add and Mul.
const (
	ONNXOpsetDefault = 17
	ONNXOpsetMax     = 21
)

// ONNXOptions choose what ExportONNX writes.
type ONNXOptions struct {
	Part ONNXPart
	// NoScaler leaves the input scaler out of the graph: its inputs are
	// then rows already scaled as the model's scaler does, and its
	// reconstructions are in that scaled space (Predictor.DecodeScaled).
	// A model without a scaler (kind none) has nothing to leave out.
	NoScaler bool
	// Opset is the ONNX opset (default domain) to write: 0 means
	// ONNXOpsetDefault.
	Opset int
}

// ONNX value names of the graph's inputs and outputs.
const (
	ONNXInput          = "x"              // the rows (ONNXModel, ONNXEncoder)
	ONNXCode           = "code"           // the code (a decoder's input; a non-VAE encoder's output)
	ONNXMu             = "mu"             // a VAE's μ
	ONNXLogVar         = "logvar"         // a VAE's log σ²
	ONNXReconstruction = "reconstruction" // the decoder's output
	ONNXBatch          = "batch"          // the dim_param of the rows' dimension
)

// WriteONNX writes the model as an ONNX file at path (atomically: a
// reader never sees a partial file); see ExportONNX.
func (m *Model) WriteONNX(path string, c Config, opts ONNXOptions) error {
	b, err := m.marshalONNX(c, opts)
	if err != nil {
		return err
	}
	return atomicfile.WriteBytes(path, b)
}

// ExportONNX writes the part opts.Part of the model, with the input
// scaler of c (unless opts.NoScaler), as a standard ONNX model (float32,
// a dynamic batch dimension "batch"): Gemm nodes for the Linear layers
// (a tied decoder layer's Gemm reads its encoder layer's weight,
// untransposed), a node or nodes per activation, Sub and Mul for the
// scaler in front and Div and Add for its inverse behind the decoder. The
// model's doc_string states what the graph computes, value by value; its
// metadata_props record the architecture and the scaler as ExportMetadata
// does.
func (m *Model) ExportONNX(w io.Writer, c Config, opts ONNXOptions) error {
	b, err := m.marshalONNX(c, opts)
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

// marshalONNX is the bytes of the ONNX file ExportONNX writes.
func (m *Model) marshalONNX(c Config, opts ONNXOptions) ([]byte, error) {
	mp, err := m.onnxModel(c, opts)
	if err != nil {
		return nil, err
	}
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(mp)
	if err != nil {
		return nil, fmt.Errorf("onnx: %w", err)
	}
	return b, nil
}

// onnxIRVersion is the IR version that goes with an opset (ONNX's
// versioning table): 8 up to opset 18, 9 for 19 and 20, 10 for 21.
func onnxIRVersion(opset int) int64 {
	switch {
	case opset <= 18:
		return 8
	case opset <= 20:
		return 9
	}
	return 10
}

// onnxModel builds the ModelProto ExportONNX writes.
func (m *Model) onnxModel(c Config, opts ONNXOptions) (*onnxpb.ModelProto, error) {
	opset := opts.Opset
	if opset == 0 {
		opset = ONNXOpsetDefault
	}
	if opset < ONNXOpsetDefault || opset > ONNXOpsetMax {
		return nil, fmt.Errorf("onnx: opset %d: want %d to %d", opset, ONNXOpsetDefault, ONNXOpsetMax)
	}
	part := opts.Part
	if m.Arch.EncoderOnly && part == ONNXModel {
		part = ONNXEncoder
	}
	if m.Arch.EncoderOnly && part == ONNXDecoder {
		return nil, &EncoderOnlyError{Source: c.Data.Source, Op: "export a decoder",
			Hint: "export this model's encoder (ONNXEncoder), or the decoder of the model it was exported from"}
	}
	if part < ONNXModel || part > ONNXDecoder {
		return nil, fmt.Errorf("onnx: unknown part %v", part)
	}
	sc := c.Scaler
	if sc.Kind == "" || sc.Kind == dataset.ScaleNone || opts.NoScaler {
		sc = dataset.Scaler{Kind: dataset.ScaleNone}
	} else if err := sc.Apply(make([]float32, m.Arch.Input()), m.Arch.Input()); err != nil {
		return nil, fmt.Errorf("onnx: the model's %w", err)
	}
	b := &onnxBuilder{m: m, opset: opset, scaler: sc, inits: map[string]bool{}, acts: map[engine.Act]bool{},
		g: &onnxpb.GraphProto{Name: proto.String("aegpu_" + part.String())}}
	if err := b.build(part); err != nil {
		return nil, err
	}
	b.g.DocString = proto.String(b.docString(c, part, opts.NoScaler))
	mp := &onnxpb.ModelProto{
		IrVersion:       proto.Int64(onnxIRVersion(opset)),
		OpsetImport:     []*onnxpb.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(int64(opset))}},
		ProducerName:    proto.String("aegpu"),
		ProducerVersion: proto.String(Version),
		ModelVersion:    proto.Int64(1),
		DocString:       b.g.DocString,
		Graph:           b.g,
		MetadataProps:   onnxMetadata(c, part, sc),
	}
	var size int
	for _, t := range b.g.Initializer {
		size += len(t.RawData)
	}
	if size > math.MaxInt32-(64<<20) {
		return nil, fmt.Errorf("onnx: %d bytes of weights: more than a protobuf (2 GiB) holds, and external data is not written", size)
	}
	return mp, nil
}

// onnxBuilder collects a graph's nodes, initializers and the lines of its
// doc_string.
type onnxBuilder struct {
	m      *Model
	g      *onnxpb.GraphProto
	opset  int
	scaler dataset.Scaler // kind none: no scaling nodes
	inits  map[string]bool
	doc    []string
	acts   map[engine.Act]bool // the activations written (defined in the doc)
}

// build writes the graph of part.
func (b *onnxBuilder) build(part ONNXPart) error {
	a := b.m.Arch
	if part == ONNXDecoder {
		b.g.Input = append(b.g.Input, onnxValue(ONNXCode, a.LatentDim()))
		b.doc = append(b.doc, fmt.Sprintf("input %s [batch, %d]: latent codes, as the encoder outputs them (aegpu encode)", ONNXCode, a.LatentDim()))
		b.g.Output = append(b.g.Output, onnxValue(ONNXReconstruction, a.Input()))
		return b.decoder(ONNXCode)
	}
	b.g.Input = append(b.g.Input, onnxValue(ONNXInput, a.Input()))
	in, err := b.scaleIn()
	if err != nil {
		return err
	}
	var rec []*onnxpb.ValueInfoProto
	if part == ONNXModel {
		rec = []*onnxpb.ValueInfoProto{onnxValue(ONNXReconstruction, a.Input())}
	}
	code, err := b.encoder(in)
	if err != nil {
		return err
	}
	if part == ONNXModel {
		// The reconstruction is the first output; the code outputs follow.
		b.g.Output = append(rec, b.g.Output...)
		return b.decoder(code)
	}
	return nil
}

// scaleIn writes the input scaling and returns the scaled rows' name.
func (b *onnxBuilder) scaleIn() (string, error) {
	if b.scaler.Kind == dataset.ScaleNone {
		b.doc = append(b.doc, fmt.Sprintf("input %s [batch, %d]: rows as the model reads them (no scaling in the graph)", ONNXInput, b.m.Arch.Input()))
		return ONNXInput, nil
	}
	b.doc = append(b.doc,
		fmt.Sprintf("input %s [batch, %d]: rows in the data's own units", ONNXInput, b.m.Arch.Input()),
		fmt.Sprintf("x_scaled = (%s - scaler.offset) * scaler.scale, per column (the model's %s scaler, as aegpu applies it to every row it reads)", ONNXInput, b.scaler.Kind))
	b.init("scaler.offset", []int64{int64(len(b.scaler.Offset))}, b.scaler.Offset)
	b.init("scaler.scale", []int64{int64(len(b.scaler.Scale))}, b.scaler.Scale)
	b.node("Sub", "scaler/Sub", []string{ONNXInput, "scaler.offset"}, "x_centered")
	b.node("Mul", "scaler/Mul", []string{"x_centered", "scaler.scale"}, "x_scaled")
	return "x_scaled", nil
}

// encoder writes the encoder on in, the outputs of the code (a VAE's mu
// and logvar), and returns the code's name (μ for a VAE).
func (b *onnxBuilder) encoder(in string) (string, error) {
	a := b.m.Arch
	for i := range a.BodyLayers() {
		out := ""
		if !a.VAE && i == a.CodeLayer() {
			out = ONNXCode
		}
		var err error
		if in, err = b.layer(i, in, out); err != nil {
			return "", err
		}
	}
	if !a.VAE {
		b.g.Output = append(b.g.Output, onnxValue(ONNXCode, a.LatentDim()))
		b.doc[len(b.doc)-1] += "   [output: the code, as aegpu encode writes it]"
		return ONNXCode, nil
	}
	mu, lv := a.CodeLayer(), a.CodeLayer()+1
	if _, err := b.layer(mu, in, ONNXMu); err != nil {
		return "", err
	}
	b.doc[len(b.doc)-1] += "   [output: μ, the code aegpu encode writes]"
	if _, err := b.layer(lv, in, ONNXLogVar); err != nil {
		return "", err
	}
	b.doc[len(b.doc)-1] += "   [output: log σ²]"
	b.g.Output = append(b.g.Output, onnxValue(ONNXMu, a.LatentDim()), onnxValue(ONNXLogVar, a.LatentDim()))
	return ONNXMu, nil
}

// decoder writes the decoder on code and the inverse scaling, computing
// "reconstruction" (the caller declares it an output).
func (b *onnxBuilder) decoder(code string) error {
	a := b.m.Arch
	in := code
	last := len(b.m.Layers) - 1
	for i := a.DecoderStart(); i <= last; i++ {
		out := ""
		if i == last && b.scaler.Kind == dataset.ScaleNone {
			out = ONNXReconstruction
		}
		var err error
		if in, err = b.layer(i, in, out); err != nil {
			return err
		}
	}
	if b.scaler.Kind == dataset.ScaleNone {
		b.doc[len(b.doc)-1] += "   [output: the reconstruction, in the model's space]"
		return nil
	}
	b.init("scaler.offset", []int64{int64(len(b.scaler.Offset))}, b.scaler.Offset)
	b.init("scaler.scale", []int64{int64(len(b.scaler.Scale))}, b.scaler.Scale)
	b.node("Div", "unscale/Div", []string{in, "scaler.scale"}, "y_unscaled")
	b.node("Add", "unscale/Add", []string{"y_unscaled", "scaler.offset"}, ONNXReconstruction)
	b.doc = append(b.doc, fmt.Sprintf("%s = %s / scaler.scale + scaler.offset, per column (the scaler inverted)   [output: the reconstruction in the data's own units, as aegpu reconstruct writes it]", ONNXReconstruction, in))
	return nil
}
