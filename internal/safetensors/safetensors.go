// Package safetensors reads and writes the safetensors format used by
// Hugging Face and PyTorch tooling:
//
//	8 bytes   N, the header length, unsigned little-endian
//	N bytes   a UTF-8 JSON object: tensor name → {"dtype", "shape",
//	          "data_offsets": [begin, end]} plus an optional "__metadata__"
//	          object of string → string; padded with spaces
//	rest      the tensors' bytes, little-endian, row-major; offsets are
//	          relative to the start of this section
//
// aegpu writes float32 ("F32") tensors only, in name order, with the header
// padded so the data starts 8-byte aligned. Reading accepts F32, and F64 and
// F16/BF16 converted to float32, so weights saved elsewhere can be imported.
package safetensors

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"sort"

	"github.com/aegpu/aegpu/internal/atomicfile"
)

// Tensor is a named float32 tensor.
type Tensor struct {
	Name  string
	Shape []int
	Data  []float32
}

type entry struct {
	Dtype       string `json:"dtype"`
	Shape       []int  `json:"shape"`
	DataOffsets [2]int `json:"data_offsets"`
}

// Encode writes tensors (sorted by name) and metadata to w.
func Encode(w io.Writer, tensors []Tensor, meta map[string]string) error {
	ts := append([]Tensor(nil), tensors...)
	sort.Slice(ts, func(i, j int) bool { return ts[i].Name < ts[j].Name })
	hdr := make(map[string]any, len(ts)+1)
	off := 0
	for i, t := range ts {
		if t.Name == "" || t.Name == "__metadata__" {
			return fmt.Errorf("safetensors: bad tensor name %q", t.Name)
		}
		if i > 0 && ts[i-1].Name == t.Name {
			return fmt.Errorf("safetensors: duplicate tensor %q", t.Name)
		}
		n := 1
		for _, d := range t.Shape {
			n *= d
		}
		if n != len(t.Data) {
			return fmt.Errorf("safetensors: tensor %q has shape %v but %d values", t.Name, t.Shape, len(t.Data))
		}
		shape := t.Shape
		if shape == nil {
			shape = []int{}
		}
		hdr[t.Name] = entry{Dtype: "F32", Shape: shape, DataOffsets: [2]int{off, off + 4*n}}
		off += 4 * n
	}
	if len(meta) > 0 {
		hdr["__metadata__"] = meta
	}
	js, err := json.Marshal(hdr)
	if err != nil {
		return err
	}
	for (8+len(js))%8 != 0 {
		js = append(js, ' ')
	}
	var lenb [8]byte
	binary.LittleEndian.PutUint64(lenb[:], uint64(len(js)))
	if _, err := w.Write(lenb[:]); err != nil {
		return err
	}
	if _, err := w.Write(js); err != nil {
		return err
	}
	buf := make([]byte, 0, 1<<16)
	for _, t := range ts {
		for _, v := range t.Data {
			buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(v))
			if len(buf) == cap(buf) {
				if _, err := w.Write(buf); err != nil {
					return err
				}
				buf = buf[:0]
			}
		}
	}
	_, err = w.Write(buf)
	return err
}

// WriteFile writes tensors to path atomically.
func WriteFile(path string, tensors []Tensor, meta map[string]string) error {
	return atomicfile.Write(path, func(w io.Writer) error { return Encode(w, tensors, meta) })
}

// File is a decoded safetensors file.
type File struct {
	Tensors  map[string]Tensor
	Metadata map[string]string
}

// maxHeader bounds the JSON header (the reference implementation uses 100 MB).
const maxHeader = 100 << 20

// ReadFile reads and validates a safetensors file. It reads the header
// first and then only the data bytes the header's tensors cover, so an
// input without end (a pipe, /dev/zero) fails at its header instead of
// being read into memory.
func ReadFile(path string) (*File, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	size := int64(-1)
	if st, err := fh.Stat(); err == nil && st.Mode().IsRegular() {
		size = st.Size()
	}
	f, err := Read(fh, size)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return f, nil
}

// Read reads and validates a safetensors file from r; size is its length
// in bytes, or -1 when unknown (then memory grows only as data arrives).
// The header may have at most 100 MiB; the data are read up to the end of
// the last tensor's bytes, and anything after them is left unread.
func Read(r io.Reader, size int64) (*File, error) {
	var lenb [8]byte
	if n, err := io.ReadFull(r, lenb[:]); err != nil {
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return nil, fmt.Errorf("not a safetensors file: %d bytes, shorter than its 8-byte header length", n)
		}
		return nil, err
	}
	n := binary.LittleEndian.Uint64(lenb[:])
	if n > maxHeader {
		return nil, fmt.Errorf("safetensors header length %d (bytes 0–7) exceeds the limit of %d MiB on a header", n, maxHeader>>20)
	}
	if size >= 0 && n > uint64(size-8) {
		return nil, fmt.Errorf("safetensors header length %d exceeds the file (%d bytes)", n, size)
	}
	hdr, err := readN(r, int64(n))
	if err != nil {
		return nil, fmt.Errorf("safetensors header (bytes 8–%d): %w", 8+n, err)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(hdr, &raw); err != nil {
		return nil, fmt.Errorf("safetensors header (bytes 8–%d) is not a JSON object: %w", 8+n, err)
	}
	end := 0 // the data bytes the tensors cover
	for name, msg := range raw {
		if name == "__metadata__" {
			continue
		}
		var e entry
		if json.Unmarshal(msg, &e) == nil && e.DataOffsets[1] > end {
			end = e.DataOffsets[1] // checked by Decode
		}
	}
	if size >= 0 {
		end = int(min(int64(end), size-8-int64(n))) // Decode reports the shortfall
	}
	data, err := readN(r, int64(end))
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		return nil, fmt.Errorf("safetensors data (from byte %d): %w", 8+n, err)
	}
	b := make([]byte, 0, 8+len(hdr)+len(data))
	b = append(append(append(b, lenb[:]...), hdr...), data...)
	return Decode(b)
}

// readN reads n bytes from r, allocating as they arrive; a short input
// returns what there is with io.ErrUnexpectedEOF.
func readN(r io.Reader, n int64) ([]byte, error) {
	var buf bytes.Buffer
	buf.Grow(int(min(n, 1<<20)))
	got, err := io.CopyN(&buf, r, n)
	if err == io.EOF {
		return buf.Bytes(), fmt.Errorf("%w: %d of %d bytes", io.ErrUnexpectedEOF, got, n)
	}
	return buf.Bytes(), err
}

// Decode parses a whole safetensors file held in memory.
func Decode(b []byte) (*File, error) {
	if len(b) < 8 {
		return nil, errors.New("not a safetensors file: shorter than its 8-byte header length")
	}
	n := binary.LittleEndian.Uint64(b)
	if n > maxHeader || n > uint64(len(b)-8) {
		return nil, fmt.Errorf("safetensors header length %d exceeds the file (%d bytes)", n, len(b))
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b[8:8+n], &raw); err != nil {
		return nil, fmt.Errorf("safetensors header is not a JSON object: %w", err)
	}
	data := b[8+n:]
	f := &File{Tensors: map[string]Tensor{}}
	type span struct {
		b, e int
		name string
	}
	var spans []span
	for name, msg := range raw {
		if name == "__metadata__" {
			if err := json.Unmarshal(msg, &f.Metadata); err != nil {
				return nil, fmt.Errorf("safetensors __metadata__ must map strings to strings: %w", err)
			}
			continue
		}
		var e entry
		if err := json.Unmarshal(msg, &e); err != nil {
			return nil, fmt.Errorf("tensor %q: bad header entry: %w", name, err)
		}
		size, conv := dtypeConv(e.Dtype)
		if conv == nil {
			return nil, fmt.Errorf("tensor %q: dtype %s is not supported (want F32, F64, F16 or BF16)", name, e.Dtype)
		}
		count := 1
		for _, d := range e.Shape {
			if d < 0 || (d > 0 && count > math.MaxInt32/d) {
				return nil, fmt.Errorf("tensor %q: bad shape %v", name, e.Shape)
			}
			count *= d
		}
		lo, hi := e.DataOffsets[0], e.DataOffsets[1]
		if lo < 0 || hi < lo || hi > len(data) {
			return nil, fmt.Errorf("tensor %q: data_offsets [%d, %d] outside the %d data bytes", name, lo, hi, len(data))
		}
		if hi-lo != count*size {
			return nil, fmt.Errorf("tensor %q: shape %v of %s needs %d bytes, data_offsets give %d", name, e.Shape, e.Dtype, count*size, hi-lo)
		}
		vals := make([]float32, count)
		for i := range vals {
			vals[i] = conv(data[lo+i*size:])
		}
		f.Tensors[name] = Tensor{Name: name, Shape: e.Shape, Data: vals}
		spans = append(spans, span{lo, hi, name})
	}
	sort.Slice(spans, func(i, j int) bool { return spans[i].b < spans[j].b })
	for i := 1; i < len(spans); i++ {
		if spans[i].b < spans[i-1].e {
			return nil, fmt.Errorf("tensors %q and %q overlap", spans[i-1].name, spans[i].name)
		}
	}
	return f, nil
}

func dtypeConv(dt string) (int, func([]byte) float32) {
	switch dt {
	case "F32":
		return 4, func(b []byte) float32 { return math.Float32frombits(binary.LittleEndian.Uint32(b)) }
	case "F64":
		return 8, func(b []byte) float32 { return float32(math.Float64frombits(binary.LittleEndian.Uint64(b))) }
	case "BF16":
		return 2, func(b []byte) float32 { return math.Float32frombits(uint32(binary.LittleEndian.Uint16(b)) << 16) }
	case "F16":
		return 2, func(b []byte) float32 { return halfToFloat(binary.LittleEndian.Uint16(b)) }
	}
	return 0, nil
}

func halfToFloat(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h) & 0x3ff
	switch {
	case exp == 0 && mant == 0:
		return math.Float32frombits(sign)
	case exp == 0: // subnormal
		v := float32(mant) / 1024 / 16384
		if sign != 0 {
			v = -v
		}
		return v
	case exp == 0x1f:
		return math.Float32frombits(sign | 0xff<<23 | mant<<13)
	}
	return math.Float32frombits(sign | (exp+112)<<23 | mant<<13)
}
