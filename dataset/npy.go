package dataset

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/aegpu/aegpu/internal/atomicfile"
)

// npyMagic starts every .npy file.
var npyMagic = []byte("\x93NUMPY")

// maxNPYHeader bounds the header dictionary's length. NumPy itself refuses
// headers over 10 000 bytes unless told otherwise.
const maxNPYHeader = 1 << 20

// npySupported lists the dtypes ReadNPY accepts, for error messages.
const npySupported = "float16/32/64 ('<f2' '<f4' '<f8'), int8/16/32/64 ('|i1' '<i2' '<i4' '<i8'), uint8/16/32/64 ('|u1' '<u2' '<u4' '<u8') and bool ('|b1'), little- or big-endian"

// ReadNPY reads a NumPy .npy array (format versions 1.0, 2.0 and 3.0) from r
// and converts it to float32. name is used in error messages.
//
// Supported element types are listed in the error for any other; structured
// dtypes and Fortran-order arrays of two or more dimensions are rejected.
// When r is an *os.File or an in-memory reader the data size is checked
// against what is there before anything is allocated; for other readers the
// result grows as data arrives. Bytes after the array are ignored.
func ReadNPY(r io.Reader, name string) (*Table, error) {
	t, err := readNPY(r, sizeOf(r))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	return t, nil
}

// readNPY reads a .npy stream; sz says what is known of its size.
func readNPY(r io.Reader, sz sizeInfo) (*Table, error) {
	h, et, _, err := readNPYHeader(r, &sz)
	if err != nil {
		return nil, err
	}
	rows, cols, shape, err := tableShape(h.shape)
	if err != nil {
		return nil, err
	}
	n := int64(rows) * int64(cols)
	data, err := readValues(r, n, et.size, sz, et.decoder())
	if err != nil {
		if isTruncated(err) {
			return nil, fmt.Errorf("%w (shape %v of %s)", err, h.shape, h.descr)
		}
		return nil, err
	}
	return &Table{Rows: rows, Cols: cols, Data: data, Shape: shape}, nil
}

// readNPYHeader reads and checks a .npy header (magic, version, length and
// dictionary) from r, leaving r at the first byte of array data. It returns
// the header, the element type, and the header's length in bytes, which is
// the offset of the data. sz is updated for the bytes consumed.
func readNPYHeader(r io.Reader, sz *sizeInfo) (npyHeader, elemType, int64, error) {
	var none npyHeader
	var noType elemType
	var pre [8]byte
	if n, err := readFull(r, pre[:6]); err != nil {
		if err == io.EOF {
			if n == 0 {
				return none, noType, 0, fmt.Errorf("not a .npy file: empty")
			}
			if string(pre[:n]) != string(npyMagic[:n]) {
				return none, noType, 0, fmt.Errorf("not a .npy file: bad magic %q (want %q)", pre[:n], npyMagic)
			}
			return none, noType, 0, fmt.Errorf("truncated header: expected at least 10 bytes, found %d", n)
		}
		return none, noType, 0, err
	}
	if string(pre[:6]) != string(npyMagic) {
		return none, noType, 0, fmt.Errorf("not a .npy file: bad magic %q (want %q)", pre[:6], npyMagic)
	}
	if err := readHeader(r, pre[6:8], "version"); err != nil {
		return none, noType, 0, err
	}
	major, minor := pre[6], pre[7]
	var hlen int64
	consumed := int64(8)
	switch major {
	case 1:
		var b [2]byte
		if err := readHeader(r, b[:], "header length"); err != nil {
			return none, noType, 0, err
		}
		hlen = int64(binary.LittleEndian.Uint16(b[:]))
		consumed += 2
	case 2, 3:
		var b [4]byte
		if err := readHeader(r, b[:], "header length"); err != nil {
			return none, noType, 0, err
		}
		hlen = int64(binary.LittleEndian.Uint32(b[:]))
		consumed += 4
	default:
		return none, noType, 0, fmt.Errorf("unsupported .npy format version %d.%d (want 1.0, 2.0 or 3.0)", major, minor)
	}
	if hlen > maxNPYHeader {
		return none, noType, 0, fmt.Errorf("header length %d (at byte 8) is implausibly large: a .npy header may have at most %d bytes", hlen, maxNPYHeader)
	}
	sz.consume(consumed)
	if sz.avail >= 0 && sz.avail < hlen {
		return none, noType, 0, fmt.Errorf("truncated header: expected %d bytes of header dictionary, found %d", hlen, sz.avail)
	}
	hdr := make([]byte, hlen)
	if err := readHeader(r, hdr, "header dictionary"); err != nil {
		return none, noType, 0, err
	}
	sz.consume(hlen)

	h, err := parseNPYHeader(string(hdr))
	if err != nil {
		return none, noType, 0, fmt.Errorf("bad header %q: %w", clip(string(hdr), 200), err)
	}
	et, err := parseDescr(h.descr)
	if err != nil {
		return none, noType, 0, err
	}
	if h.fortran && len(h.shape) >= 2 {
		return none, noType, 0, fmt.Errorf("Fortran-order arrays are not supported; save with np.ascontiguousarray")
	}
	return h, et, consumed + hlen, nil
}

// clip shortens s for an error message.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// parseDescr parses a dtype string such as '<f4'.
func parseDescr(descr string) (elemType, error) {
	unsupported := fmt.Errorf("unsupported dtype %q: supported are %s", descr, npySupported)
	s := descr
	var t elemType
	if s != "" {
		switch s[0] {
		case '<', '|':
			s = s[1:]
		case '>':
			t.big = true
			s = s[1:]
		case '=':
			t.big = !littleEndianHost
			s = s[1:]
		}
	}
	if len(s) < 2 {
		return t, unsupported
	}
	t.kind = s[0]
	size, err := strconv.Atoi(s[1:])
	if err != nil {
		return t, unsupported
	}
	t.size = size
	if t.size == 1 {
		t.big = false
	}
	if t.decoder() == nil {
		return t, unsupported
	}
	return t, nil
}

// littleEndianHost is true on little-endian machines.
var littleEndianHost = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

// npyHeader is the content of a .npy header dictionary.
type npyHeader struct {
	descr   string
	fortran bool
	shape   []int64
}

// parseNPYHeader parses the Python dict literal of a .npy header, e.g.
// "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }".
func parseNPYHeader(s string) (npyHeader, error) {
	var h npyHeader
	p := &pyParser{s: s}
	v, err := p.value(0)
	if err != nil {
		return h, err
	}
	p.skipSpace()
	for p.i < len(p.s) && p.s[p.i] == 0 { // some writers pad with NULs
		p.i++
	}
	if p.i != len(p.s) {
		return h, fmt.Errorf("unexpected %q after the dictionary", clip(p.s[p.i:], 20))
	}
	d, ok := v.(pyDict)
	if !ok {
		return h, fmt.Errorf("want a dictionary, found %s", pyTypeName(v))
	}
	var seen [3]bool
	for _, kv := range d {
		switch kv.key {
		case "descr":
			s, ok := kv.val.(string)
			if !ok {
				return h, fmt.Errorf("unsupported dtype %s (structured arrays are not supported): supported are %s", pyTypeName(kv.val), npySupported)
			}
			h.descr, seen[0] = s, true
		case "fortran_order":
			b, ok := kv.val.(bool)
			if !ok {
				return h, fmt.Errorf("'fortran_order' is %s, want True or False", pyTypeName(kv.val))
			}
			h.fortran, seen[1] = b, true
		case "shape":
			tup, ok := kv.val.(pyTuple)
			if !ok {
				return h, fmt.Errorf("'shape' is %s, want a tuple of integers", pyTypeName(kv.val))
			}
			h.shape = make([]int64, len(tup))
			for i, e := range tup {
				n, ok := e.(int64)
				if !ok {
					return h, fmt.Errorf("'shape' holds %s, want integers", pyTypeName(e))
				}
				if n < 0 {
					return h, fmt.Errorf("'shape' holds negative dimension %d", n)
				}
				h.shape[i] = n
			}
			seen[2] = true
		}
	}
	for i, k := range []string{"descr", "fortran_order", "shape"} {
		if !seen[i] {
			return h, fmt.Errorf("missing key '%s'", k)
		}
	}
	return h, nil
}

// Values of the small Python literal subset .npy headers use.
type (
	pyTuple []any // tuple or list
	pyDict  []pyKV
	pyKV    struct {
		key string
		val any
	}
)

func pyTypeName(v any) string {
	switch v := v.(type) {
	case string:
		return fmt.Sprintf("string %q", v)
	case bool:
		return "a boolean"
	case int64:
		return fmt.Sprintf("integer %d", v)
	case nil:
		return "None"
	case pyTuple:
		return "a tuple or list"
	case pyDict:
		return "a dictionary"
	}
	return fmt.Sprintf("%T", v)
}

// pyParser is a recursive-descent parser for Python literals: strings,
// integers, True/False/None, tuples, lists and dicts with string keys.
type pyParser struct {
	s string
	i int
}

const maxPyDepth = 16

func (p *pyParser) skipSpace() {
	for p.i < len(p.s) {
		switch p.s[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *pyParser) errf(format string, args ...any) error {
	return fmt.Errorf("offset %d: %s", p.i, fmt.Sprintf(format, args...))
}

func (p *pyParser) value(depth int) (any, error) {
	if depth > maxPyDepth {
		return nil, p.errf("nested too deeply")
	}
	p.skipSpace()
	if p.i >= len(p.s) {
		return nil, p.errf("unexpected end, want a value")
	}
	c := p.s[p.i]
	switch {
	case c == '{':
		return p.dict(depth)
	case c == '(':
		return p.seq(depth, ')')
	case c == '[':
		return p.seq(depth, ']')
	case c == '\'' || c == '"':
		return p.str()
	case (c == 'u' || c == 'b' || c == 'U' || c == 'B') && p.i+1 < len(p.s) && (p.s[p.i+1] == '\'' || p.s[p.i+1] == '"'):
		p.i++
		return p.str()
	case c == '-' || c == '+' || (c >= '0' && c <= '9'):
		return p.int()
	}
	for _, w := range []struct {
		word string
		val  any
	}{{"True", true}, {"False", false}, {"None", nil}} {
		if strings.HasPrefix(p.s[p.i:], w.word) {
			p.i += len(w.word)
			return w.val, nil
		}
	}
	return nil, p.errf("unexpected %q", clip(p.s[p.i:], 20))
}

func (p *pyParser) str() (string, error) {
	q := p.s[p.i]
	p.i++
	var b strings.Builder
	for p.i < len(p.s) {
		c := p.s[p.i]
		p.i++
		switch c {
		case q:
			return b.String(), nil
		case '\\':
			if p.i >= len(p.s) {
				return "", p.errf("unterminated string")
			}
			b.WriteByte(p.s[p.i])
			p.i++
		default:
			b.WriteByte(c)
		}
	}
	return "", p.errf("unterminated string")
}

func (p *pyParser) int() (int64, error) {
	start := p.i
	if p.s[p.i] == '-' || p.s[p.i] == '+' {
		p.i++
	}
	for p.i < len(p.s) && p.s[p.i] >= '0' && p.s[p.i] <= '9' {
		p.i++
	}
	n, err := strconv.ParseInt(p.s[start:p.i], 10, 64)
	if err != nil {
		p.i = start
		return 0, p.errf("bad integer %q", clip(p.s[start:], 20))
	}
	if p.i < len(p.s) && (p.s[p.i] == 'L' || p.s[p.i] == 'l') { // Python 2 long
		p.i++
	}
	return n, nil
}

// seq parses a tuple or list; p.s[p.i] is its opening bracket.
func (p *pyParser) seq(depth int, end byte) (pyTuple, error) {
	p.i++
	t := pyTuple{}
	for {
		p.skipSpace()
		if p.i < len(p.s) && p.s[p.i] == end {
			p.i++
			return t, nil
		}
		v, err := p.value(depth + 1)
		if err != nil {
			return nil, err
		}
		t = append(t, v)
		p.skipSpace()
		if p.i >= len(p.s) {
			return nil, p.errf("unexpected end, want ',' or %q", end)
		}
		switch p.s[p.i] {
		case ',':
			p.i++
		case end:
			p.i++
			return t, nil
		default:
			return nil, p.errf("unexpected %q, want ',' or %q", p.s[p.i], end)
		}
	}
}

// dict parses a dict with string keys; p.s[p.i] is '{'.
func (p *pyParser) dict(depth int) (pyDict, error) {
	p.i++
	d := pyDict{}
	for {
		p.skipSpace()
		if p.i >= len(p.s) {
			return nil, p.errf("unexpected end, want a key or '}'")
		}
		if p.s[p.i] == '}' {
			p.i++
			return d, nil
		}
		k, err := p.value(depth + 1)
		if err != nil {
			return nil, err
		}
		key, ok := k.(string)
		if !ok {
			return nil, p.errf("dictionary key is %s, want a string", pyTypeName(k))
		}
		p.skipSpace()
		if p.i >= len(p.s) || p.s[p.i] != ':' {
			return nil, p.errf("want ':' after key %q", key)
		}
		p.i++
		v, err := p.value(depth + 1)
		if err != nil {
			return nil, err
		}
		for _, kv := range d {
			if kv.key == key {
				return nil, p.errf("duplicate key %q", key)
			}
		}
		d = append(d, pyKV{key, v})
		p.skipSpace()
		if p.i >= len(p.s) {
			return nil, p.errf("unexpected end, want ',' or '}'")
		}
		switch p.s[p.i] {
		case ',':
			p.i++
		case '}':
			p.i++
			return d, nil
		default:
			return nil, p.errf("unexpected %q, want ',' or '}'", p.s[p.i])
		}
	}
}

// npyHeaderBytes returns the complete header (magic, version, length,
// dictionary, padding and newline) for a rows×cols float32 C-order array.
// Its length is a multiple of 64 so that the data that follows is aligned.
func npyHeaderBytes(rows, cols int) []byte {
	dict := fmt.Sprintf("{'descr': '<f4', 'fortran_order': False, 'shape': (%d, %d), }", rows, cols)
	const align = 64
	pre := 10 // magic 6 + version 2 + uint16 length
	total := (pre + len(dict) + 1 + align - 1) / align * align
	version := byte(1)
	if total-pre > math.MaxUint16 {
		pre = 12
		total = (pre + len(dict) + 1 + align - 1) / align * align
		version = 2
	}
	hlen := total - pre
	b := make([]byte, 0, total)
	b = append(b, npyMagic...)
	b = append(b, version, 0)
	if version == 1 {
		b = binary.LittleEndian.AppendUint16(b, uint16(hlen))
	} else {
		b = binary.LittleEndian.AppendUint32(b, uint32(hlen))
	}
	b = append(b, dict...)
	for len(b) < total-1 {
		b = append(b, ' ')
	}
	return append(b, '\n')
}

// EncodeNPY writes rows×cols float32 values as a .npy array: dtype '<f4',
// C order, format version 1.0, with the header padded so the data starts at
// a multiple of 64 bytes.
func EncodeNPY(w io.Writer, rows, cols int, data []float32) error {
	if err := checkDims(rows, cols, data); err != nil {
		return fmt.Errorf("encode npy: %w", err)
	}
	return encodeNPY(w, rows, cols, data)
}

func encodeNPY(w io.Writer, rows, cols int, data []float32) error {
	if _, err := w.Write(npyHeaderBytes(rows, cols)); err != nil {
		return err
	}
	buf := make([]byte, 0, min(readChunk, 4*len(data)))
	for len(data) > 0 {
		k := min(len(data), cap(buf)/4)
		buf = buf[:4*k]
		for i, v := range data[:k] {
			binary.LittleEndian.PutUint32(buf[4*i:], math.Float32bits(v))
		}
		if _, err := w.Write(buf); err != nil {
			return err
		}
		data = data[k:]
	}
	return nil
}

// WriteNPY writes rows×cols float32 values to path as a .npy file (see
// EncodeNPY). The file is written to a temporary name and renamed into
// place, so path never holds a partial array.
func WriteNPY(path string, rows, cols int, data []float32) error {
	if err := checkDims(rows, cols, data); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return atomicfile.Write(path, func(w io.Writer) error {
		return encodeNPY(w, rows, cols, data)
	})
}
