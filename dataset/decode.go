package dataset

import (
	"encoding/binary"
	"fmt"
	"math"
)

// elemType describes how one array element is stored.
type elemType struct {
	kind byte // 'f' float, 'i' signed int, 'u' unsigned int, 'b' bool
	size int  // bytes
	big  bool // big-endian
}

// decoder returns a function that converts len(src)/t.size stored values to
// float32, or nil when t is not supported.
func (t elemType) decoder() func(dst []float32, src []byte) {
	var bo binary.ByteOrder = binary.LittleEndian
	if t.big {
		bo = binary.BigEndian
	}
	switch {
	case t.kind == 'u' && t.size == 1, t.kind == 'b' && t.size == 1:
		return func(dst []float32, src []byte) {
			src = src[:len(dst)]
			for i, b := range src {
				dst[i] = float32(b)
			}
		}
	case t.kind == 'i' && t.size == 1:
		return func(dst []float32, src []byte) {
			src = src[:len(dst)]
			for i, b := range src {
				dst[i] = float32(int8(b))
			}
		}
	case t.kind == 'f' && t.size == 4 && !t.big:
		return func(dst []float32, src []byte) {
			src = src[:4*len(dst)]
			for i := range dst {
				dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(src[4*i:]))
			}
		}
	case t.kind == 'f' && t.size == 8 && !t.big:
		return func(dst []float32, src []byte) {
			src = src[:8*len(dst)]
			for i := range dst {
				dst[i] = float32(math.Float64frombits(binary.LittleEndian.Uint64(src[8*i:])))
			}
		}
	case t.kind == 'f' && t.size == 4:
		return func(dst []float32, src []byte) {
			for i := range dst {
				dst[i] = math.Float32frombits(bo.Uint32(src[4*i:]))
			}
		}
	case t.kind == 'f' && t.size == 8:
		return func(dst []float32, src []byte) {
			for i := range dst {
				dst[i] = float32(math.Float64frombits(bo.Uint64(src[8*i:])))
			}
		}
	case t.kind == 'f' && t.size == 2:
		return func(dst []float32, src []byte) {
			for i := range dst {
				dst[i] = halfToFloat32(bo.Uint16(src[2*i:]))
			}
		}
	case t.kind == 'i' && t.size == 2:
		return func(dst []float32, src []byte) {
			for i := range dst {
				dst[i] = float32(int16(bo.Uint16(src[2*i:])))
			}
		}
	case t.kind == 'u' && t.size == 2:
		return func(dst []float32, src []byte) {
			for i := range dst {
				dst[i] = float32(bo.Uint16(src[2*i:]))
			}
		}
	case t.kind == 'i' && t.size == 4:
		return func(dst []float32, src []byte) {
			for i := range dst {
				dst[i] = float32(int32(bo.Uint32(src[4*i:])))
			}
		}
	case t.kind == 'u' && t.size == 4:
		return func(dst []float32, src []byte) {
			for i := range dst {
				dst[i] = float32(bo.Uint32(src[4*i:]))
			}
		}
	case t.kind == 'i' && t.size == 8:
		return func(dst []float32, src []byte) {
			for i := range dst {
				dst[i] = float32(int64(bo.Uint64(src[8*i:])))
			}
		}
	case t.kind == 'u' && t.size == 8:
		return func(dst []float32, src []byte) {
			for i := range dst {
				dst[i] = float32(bo.Uint64(src[8*i:]))
			}
		}
	}
	return nil
}

// halfToFloat32 converts an IEEE 754 binary16 value to float32 exactly.
func halfToFloat32(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h) & 0x3ff
	switch {
	case exp == 0x1f: // Inf or NaN
		return math.Float32frombits(sign | 0x7f800000 | mant<<13)
	case exp != 0: // normal
		return math.Float32frombits(sign | (exp+127-15)<<23 | mant<<13)
	case mant == 0: // ±0
		return math.Float32frombits(sign)
	}
	// Subnormal: value = mant × 2^-24, exact in float32.
	v := float32(mant) * (1.0 / (1 << 24))
	if sign != 0 {
		v = -v
	}
	return v
}

// String names an element type, e.g. "float32" or "big-endian int16".
func (t elemType) String() string {
	var name string
	switch t.kind {
	case 'f':
		name = fmt.Sprintf("float%d", 8*t.size)
	case 'i':
		name = fmt.Sprintf("int%d", 8*t.size)
	case 'u':
		name = fmt.Sprintf("uint%d", 8*t.size)
	case 'b':
		return "bool"
	default:
		return fmt.Sprintf("%c%d", t.kind, t.size)
	}
	if t.big && t.size > 1 {
		name = "big-endian " + name
	}
	return name
}
