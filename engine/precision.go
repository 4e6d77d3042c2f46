package engine

import "fmt"

// Precision is the arithmetic a backend uses for the matrix products of
// Dense and DenseBackward. Everything else (bias, activations, losses,
// reductions, optimizer, the parameters themselves) stays fp32 in every
// precision.
type Precision int

const (
	// FP32: products in float32 throughout (every backend's default).
	FP32 Precision = iota
	// TF32: the operands of the products rounded to TF32 (10 mantissa
	// bits, as NVIDIA's tensor cores take them), accumulated in fp32, on
	// GPUs of compute capability ≥ 8.0. Relative error of a product of
	// inner dimension K ≈ 2⁻¹⁰·√K of its scale (against 2⁻²⁴·√K in fp32).
	TF32
	// BF16: the operands of the products rounded to bfloat16 (7 explicit
	// mantissa bits, to nearest even), accumulated in fp32, on GPUs of
	// compute capability ≥ 8.0; weights, gradients and optimizer state stay
	// fp32. Relative error ≈ 2⁻⁸·√K of a product's scale.
	BF16
)

var precisionNames = [...]string{"fp32", "tf32", "bf16"}

func (p Precision) String() string {
	if p >= 0 && int(p) < len(precisionNames) {
		return precisionNames[p]
	}
	return fmt.Sprintf("Precision(%d)", int(p))
}

// ParsePrecision parses "fp32", "tf32" or "bf16" ("" is fp32).
func ParsePrecision(s string) (Precision, error) {
	if s == "" {
		return FP32, nil
	}
	for i, n := range precisionNames {
		if s == n {
			return Precision(i), nil
		}
	}
	return 0, fmt.Errorf("unknown precision %q (want fp32, tf32 or bf16)", s)
}

// PrecisionSetter is implemented by backends that can compute their matrix
// products in another precision than fp32 (the CUDA backend: TF32 or BF16
// on tensor cores). Backends without it compute in fp32 only.
type PrecisionSetter interface {
	// SetPrecision selects the precision of later Dense and DenseBackward
	// calls; an error (leaving the precision unchanged) when the device
	// cannot compute in p.
	SetPrecision(p Precision) error
}

// SetPrecision sets b's precision: nothing to do for FP32 on a backend
// without PrecisionSetter; otherwise b.SetPrecision, or an error saying
// that the backend computes in fp32 only.
func SetPrecision(b Backend, p Precision) error {
	if s, ok := b.(PrecisionSetter); ok {
		return s.SetPrecision(p)
	}
	if p == FP32 {
		return nil
	}
	return &PrecisionError{Precision: p, Reason: fmt.Sprintf("the %s backend computes in fp32", b.Info().Backend)}
}

// PrecisionError is SetPrecision's refusal of a precision the device
// cannot compute in: TF32 and BF16 need tensor cores (compute capability
// ≥ 8.0). Reason says what the device is instead.
type PrecisionError struct {
	Precision Precision
	Reason    string // e.g. "the cpu backend computes in fp32", "GPU X is sm_75 (compute capability 7.5)"
}

func (e *PrecisionError) Error() string {
	return fmt.Sprintf("precision %s needs a GPU with tensor cores (compute capability ≥ 8.0); %s", e.Precision, e.Reason)
}
