package autoencoder

import (
	"encoding/binary"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/aegpu/aegpu/dataset"
	"github.com/aegpu/aegpu/engine"
	"github.com/aegpu/aegpu/internal/onnxpb"
)

// layer writes Specs layer i (Gemm and its activation) on in and returns
// its output's name: out, or the layer's own name when out is "".
func (b *onnxBuilder) layer(i int, in, out string) (string, error) {
	L := b.m.Layers[i]
	w, transB, err := b.weight(i)
	if err != nil {
		return "", err
	}
	bias := make([]float32, L.B.Len())
	if err := b.m.Backend.Download(bias, L.B); err != nil {
		return "", err
	}
	bName := L.Name + ".bias"
	b.init(bName, []int64{int64(L.Out)}, bias)
	y := out
	if y == "" {
		y = L.Name + ".y"
	}
	z := y
	if L.Act != engine.Linear {
		z = L.Name + ".z"
	}
	lin := z
	if L.Norm {
		lin = L.Name + ".lin"
	}
	b.node("Gemm", L.Name+"/Gemm", []string{in, w, bName}, lin, onnxInt("transB", transB))
	prod := in + " · " + w + "ᵀ"
	if transB == 0 {
		prod = in + " · " + w + " (tied: the encoder layer's weight, untransposed)"
	}
	pre := prod + " + " + bName
	if L.Norm {
		if err := b.layerNorm(L, lin, z); err != nil {
			return "", err
		}
		pre = fmt.Sprintf("LayerNorm(%s; %s.weight, %s.bias, eps %g)", pre, L.NormName, L.NormName, LayerNormEps)
	}
	if L.Act == engine.Linear {
		b.doc = append(b.doc, fmt.Sprintf("%s = %s", y, pre))
		return y, nil
	}
	b.activation(L.Act, L.Name, z, y)
	b.acts[L.Act] = true
	b.doc = append(b.doc, fmt.Sprintf("%s = %s(%s)", y, L.Act, pre))
	return y, nil
}

// layerNorm writes layer L's LayerNorm of in into out: the
// LayerNormalization op of opset 17 over the last axis, with the layer's
// gain and bias as initializers named as its safetensors tensors.
func (b *onnxBuilder) layerNorm(L Layer, in, out string) error {
	for _, p := range []struct {
		name string
		m    engine.Matrix
	}{{L.NormName + ".weight", L.NG}, {L.NormName + ".bias", L.NB}} {
		v := make([]float32, p.m.Len())
		if err := b.m.Backend.Download(v, p.m); err != nil {
			return err
		}
		b.init(p.name, []int64{int64(L.Out)}, v)
	}
	b.node("LayerNormalization", L.NormName+"/LayerNormalization",
		[]string{in, L.NormName + ".weight", L.NormName + ".bias"}, out,
		onnxInt("axis", -1), onnxFloat("epsilon", LayerNormEps))
	return nil
}

// weight adds the weight layer i multiplies by (a tied layer: its encoder
// layer's, shared) and returns its name and Gemm's transB: 1 for a weight
// stored [Out×In] as PyTorch's, 0 for a tied layer, whose [In×Out] product
// is the encoder weight as stored.
func (b *onnxBuilder) weight(i int) (string, int64, error) {
	o := b.m.owner(i)
	W := b.m.Layers[o]
	name := W.Name + ".weight"
	if !b.inits[name] {
		w := make([]float32, W.W.Len())
		if err := b.m.Backend.Download(w, W.W); err != nil {
			return "", 0, err
		}
		b.init(name, []int64{int64(W.Out), int64(W.In)}, w)
	}
	if o != i {
		return name, 0, nil
	}
	return name, 1, nil
}

// activation writes act on z into y.
func (b *onnxBuilder) activation(act engine.Act, layer, z, y string) {
	op := ""
	switch act {
	case engine.ReLU:
		op = "Relu"
	case engine.Tanh:
		op = "Tanh"
	case engine.Sigmoid:
		op = "Sigmoid"
	case engine.LeakyReLU:
		b.node("LeakyRelu", layer+"/LeakyRelu", []string{z}, y, onnxFloat("alpha", engine.LeakySlope))
		return
	case engine.GELU:
		if b.opset >= 20 {
			b.node("Gelu", layer+"/Gelu", []string{z}, y) // approximate "none": the erf form
			return
		}
		// 0.5 · z · (1 + erf(z / √2))
		b.init("gelu.sqrt2", nil, []float32{math.Sqrt2})
		b.init("gelu.one", nil, []float32{1})
		b.init("gelu.half", nil, []float32{0.5})
		b.node("Div", layer+"/gelu/Div", []string{z, "gelu.sqrt2"}, layer+".gelu_div")
		b.node("Erf", layer+"/gelu/Erf", []string{layer + ".gelu_div"}, layer+".gelu_erf")
		b.node("Add", layer+"/gelu/Add", []string{layer + ".gelu_erf", "gelu.one"}, layer+".gelu_add")
		b.node("Mul", layer+"/gelu/Mul", []string{z, layer + ".gelu_add"}, layer+".gelu_mul")
		b.node("Mul", layer+"/gelu/Mul_half", []string{layer + ".gelu_mul", "gelu.half"}, y)
		return
	}
	b.node(op, layer+"/"+op, []string{z}, y)
}

// node appends a node of op type op with one output.
func (b *onnxBuilder) node(op, name string, in []string, out string, attrs ...*onnxpb.AttributeProto) {
	b.g.Node = append(b.g.Node, &onnxpb.NodeProto{
		OpType: proto.String(op), Name: proto.String(name),
		Input: in, Output: []string{out}, Attribute: attrs,
	})
}

// init adds a float32 initializer of shape dims (nil: a scalar) once.
func (b *onnxBuilder) init(name string, dims []int64, data []float32) {
	if b.inits[name] {
		return
	}
	b.inits[name] = true
	raw := make([]byte, 4*len(data))
	for i, v := range data {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(v))
	}
	b.g.Initializer = append(b.g.Initializer, &onnxpb.TensorProto{
		Name: proto.String(name), Dims: dims,
		DataType: proto.Int32(int32(onnxpb.TensorProto_FLOAT)), RawData: raw,
	})
}

func onnxInt(name string, v int64) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: onnxpb.AttributeProto_INT.Enum(), I: proto.Int64(v)}
}

func onnxFloat(name string, v float32) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: onnxpb.AttributeProto_FLOAT.Enum(), F: proto.Float32(v)}
}

// onnxValue is a float32 [batch, cols] graph input or output.
func onnxValue(name string, cols int) *onnxpb.ValueInfoProto {
	return &onnxpb.ValueInfoProto{
		Name: proto.String(name),
		Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{TensorType: &onnxpb.TypeProto_Tensor{
			ElemType: proto.Int32(int32(onnxpb.TensorProto_FLOAT)),
			Shape: &onnxpb.TensorShapeProto{Dim: []*onnxpb.TensorShapeProto_Dimension{
				{Value: &onnxpb.TensorShapeProto_Dimension_DimParam{DimParam: ONNXBatch}},
				{Value: &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: int64(cols)}},
			}},
		}}},
	}
}

// docString states what the graph computes, value by value.
func (b *onnxBuilder) docString(c Config, part ONNXPart, noScaler bool) string {
	a := b.m.Arch
	var sb strings.Builder
	tied := ""
	if a.Tied {
		tied = ", tied weights"
	}
	fmt.Fprintf(&sb, "aegpu %s: the %s of a %s autoencoder %s (hidden %s, latent %s, output %s%s), ONNX opset %d, float32.\n",
		Version, part, c.Variant, a, a.Hidden, a.Latent, a.Output, tied, b.opset)
	sb.WriteString("Every input and output is [batch, width]: dimension 0 is dynamic (\"batch\", any number of rows), and rows are independent.\n")
	if a.VAE && part == ONNXModel {
		sb.WriteString("The decoder reads μ (no sampling), as aegpu reconstruct does.\n")
	}
	if noScaler && c.Scaler.Kind != "" && c.Scaler.Kind != dataset.ScaleNone {
		fmt.Fprintf(&sb, "Exported without the model's %s scaler: the rows must be scaled before, (x - offset) * scale (metadata aegpu_scaler), and reconstructions are in that scaled space.\n", c.Scaler.Kind)
	}
	sb.WriteString("\n")
	for _, l := range b.doc {
		sb.WriteString(l + "\n")
	}
	sb.WriteString("\nwhere · is the matrix product, Wᵀ the transpose of a weight stored [out, in] (PyTorch's nn.Linear layout), and the bias is added to every row")
	for _, d := range []struct {
		act engine.Act
		def string
	}{
		{engine.ReLU, "relu(z) = max(z, 0) (Relu)"},
		{engine.LeakyReLU, "leaky_relu(z) = z if z > 0 else 0.01 · z (LeakyRelu, alpha 0.01)"},
		{engine.Tanh, "tanh (Tanh)"},
		{engine.Sigmoid, "sigmoid(z) = 1 / (1 + exp(-z)) (Sigmoid)"},
		{engine.GELU, "gelu(z) = 0.5 · z · (1 + erf(z / √2)), the exact erf form (" + map[bool]string{false: "Div, Erf, Add and Mul nodes", true: "Gelu, approximate \"none\""}[b.opset >= 20] + ")"},
	} {
		if b.acts[d.act] {
			sb.WriteString("; " + d.def)
		}
	}
	sb.WriteString(".\n")
	return sb.String()
}

// onnxMetadata is an ONNX export's metadata_props: ExportMetadata's keys
// (but the safetensors "format"), the part, and whether the scaler is in
// the graph.
func onnxMetadata(c Config, part ONNXPart, sc dataset.Scaler) []*onnxpb.StringStringEntryProto {
	meta := ExportMetadata(c, part == ONNXEncoder)
	delete(meta, "format")
	meta["aegpu_part"] = part.String()
	meta["aegpu_scaler_in_graph"] = strconv.FormatBool(sc.Kind != dataset.ScaleNone)
	var out []*onnxpb.StringStringEntryProto
	for _, k := range slices.Sorted(maps.Keys(meta)) {
		out = append(out, &onnxpb.StringStringEntryProto{Key: proto.String(k), Value: proto.String(meta[k])})
	}
	return out
}
