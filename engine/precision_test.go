package engine

import (
	"errors"
	"strings"
	"testing"
)

func TestParsePrecision(t *testing.T) {
	for s, want := range map[string]Precision{"": FP32, "fp32": FP32, "tf32": TF32, "bf16": BF16} {
		if p, err := ParsePrecision(s); err != nil || p != want {
			t.Errorf("ParsePrecision(%q) = %v, %v", s, p, err)
		}
	}
	for _, s := range []string{"BF16x", "TF32x", "fp16"} {
		if _, err := ParsePrecision(s); err == nil {
			t.Errorf("ParsePrecision(%q) succeeded", s)
		}
	}
	if TF32.String() != "tf32" || BF16.String() != "bf16" || FP32.String() != "fp32" || !strings.Contains(Precision(7).String(), "7") {
		t.Error("Precision.String")
	}
}

// A backend without PrecisionSetter accepts fp32 and refuses tf32 with a
// message naming the requirement.
func TestSetPrecisionWithout(t *testing.T) {
	var b Backend = infoOnly{}
	if err := SetPrecision(b, FP32); err != nil {
		t.Fatal(err)
	}
	err := SetPrecision(b, TF32)
	if err == nil || !strings.Contains(err.Error(), "compute capability ≥ 8.0") || !strings.Contains(err.Error(), "the cpu backend computes in fp32") {
		t.Errorf("SetPrecision(tf32) on the CPU = %v", err)
	}
	var pe *PrecisionError
	if !errors.As(err, &pe) || pe.Precision != TF32 || pe.Reason != "the cpu backend computes in fp32" ||
		err.Error() != "precision tf32 needs a GPU with tensor cores (compute capability ≥ 8.0); the cpu backend computes in fp32" {
		t.Errorf("SetPrecision(tf32) on the CPU = %#v, want a *PrecisionError in API words", err)
	}
}

type infoOnly struct{ Backend }

func (infoOnly) Info() DeviceInfo { return DeviceInfo{Backend: "cpu"} }
