package engine

import (
	"errors"
	"testing"
)

// fakeBuf is a Buffer of n elements, for calling the shape checks.
type fakeBuf int

func (b fakeBuf) Len() int { return int(b) }

func TestParseNoise(t *testing.T) {
	for _, c := range []struct {
		in    string
		kind  Noise
		level float32
	}{
		{"none", NoiseNone, 0},
		{"gaussian:0.3", NoiseGaussian, 0.3},
		{"gaussian:2.5", NoiseGaussian, 2.5}, // a standard deviation may exceed 1
		{"gaussian:0", NoiseGaussian, 0},
		{"gaussian:1e-3", NoiseGaussian, 1e-3},
		{"masking:0.25", NoiseMasking, 0.25},
		{"masking:0", NoiseMasking, 0},
		{"masking:1", NoiseMasking, 1},
		{"salt_pepper:0.1", NoiseSaltPepper, 0.1},
		{"salt-pepper:0.1", NoiseSaltPepper, 0.1},
		{"salt_pepper:1", NoiseSaltPepper, 1},
		{"  Masking:.5\n", NoiseMasking, 0.5}, // trimmed, case-insensitive
		{"SALT-PEPPER:0.2", NoiseSaltPepper, 0.2},
		{"NONE", NoiseNone, 0},
		{"salt_pepper:-0", NoiseSaltPepper, 0}, // −0 is ≥ 0: a zero level
	} {
		kind, level, err := ParseNoise(c.in)
		if err != nil || kind != c.kind || level != c.level {
			t.Errorf("ParseNoise(%q) = %v, %v, %v; want %v, %v", c.in, kind, level, err, c.kind, c.level)
			continue
		}
		// Whatever ParseNoise accepts, Corrupt accepts.
		m := Matrix{Buf: fakeBuf(8), Rows: 2, Cols: 4}
		if err := CheckCorrupt(m, m, kind, level); err != nil {
			t.Errorf("ParseNoise(%q) gave %v:%v, which CheckCorrupt rejects: %v", c.in, kind, level, err)
		}
	}
}

func TestParseNoiseErrors(t *testing.T) {
	for _, in := range []string{
		"", "dropout:0.1", "gauss:0.3", "gaussian", "masking", "salt_pepper", // unknown, or no level
		"gaussian:", "masking:abc", "masking:0.1:0.2", "gaussian:0x", // not a number
		"masking:-0.1", "gaussian:-1", // negative
		"masking:1.5", "salt_pepper:1.01", "masking:2", // a probability above 1
		"gaussian:NaN", "gaussian:inf", "gaussian:+Inf", "gaussian:1e39", // not finite in float32
		"none:0.5", // none takes no level
	} {
		kind, level, err := ParseNoise(in)
		if err == nil {
			t.Errorf("ParseNoise(%q) = %v, %v, want an error", in, kind, level)
		}
	}
}

// Every kind's name, as Noise.String prints it, parses back.
func TestNoiseNamesRoundTrip(t *testing.T) {
	for k := NoiseNone; k <= NoiseSaltPepper; k++ {
		s := k.String()
		if k != NoiseNone {
			s += ":0.5"
		}
		got, _, err := ParseNoise(s)
		if err != nil || got != k {
			t.Errorf("ParseNoise(%q) = %v, %v, want %v", s, got, err, k)
		}
	}
	if s := Noise(9).String(); s != "Noise(9)" {
		t.Errorf("Noise(9).String() = %q", s)
	}
	var se *ShapeError
	m := Matrix{Buf: fakeBuf(4), Rows: 1, Cols: 4}
	if err := CheckCorrupt(m, m, Noise(9), 0.1); !errors.As(err, &se) {
		t.Errorf("CheckCorrupt of an unknown kind: %v, want a *ShapeError", err)
	}
}
