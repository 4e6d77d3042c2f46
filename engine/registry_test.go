package engine

import (
	"errors"
	"strings"
	"testing"
)

func TestOpenErrors(t *testing.T) {
	for _, spec := range []string{"tpu", "cuda:x", "cuda:-1"} {
		if _, _, err := Open(spec); err == nil {
			t.Errorf("Open(%q) succeeded, want an error", spec)
		}
	}
	if _, ok := driver("cuda"); !ok {
		_, _, err := Open("cuda")
		if !errors.Is(err, ErrNoCUDA) || !strings.Contains(err.Error(), "without the CUDA backend") {
			t.Errorf("Open(cuda) without a cuda driver: %v", err)
		}
	}
}

func TestParseNames(t *testing.T) {
	for a := Linear; a <= GELU; a++ {
		if got, err := ParseAct(a.String()); err != nil || got != a {
			t.Errorf("ParseAct(%q) = %v, %v", a, got, err)
		}
	}
	if _, err := ParseAct("swish"); err == nil {
		t.Error("ParseAct(swish) should fail")
	}
	for o := SGD; o <= AdamW; o++ {
		if got, err := ParseOpt(o.String()); err != nil || got != o {
			t.Errorf("ParseOpt(%q) = %v, %v", o, got, err)
		}
	}
}
