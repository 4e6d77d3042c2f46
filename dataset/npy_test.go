package dataset

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

// npyBytes builds a .npy file by hand: format version major.0, the given
// header dictionary (padded with spaces and a newline to a multiple of 64
// bytes) and raw data.
func npyBytes(major byte, dict string, data []byte) []byte {
	pre := 10
	if major >= 2 {
		pre = 12
	}
	total := (pre + len(dict) + 1 + 63) / 64 * 64
	hlen := total - pre
	var b bytes.Buffer
	b.WriteString("\x93NUMPY")
	b.WriteByte(major)
	b.WriteByte(0)
	if major == 1 {
		binary.Write(&b, binary.LittleEndian, uint16(hlen))
	} else {
		binary.Write(&b, binary.LittleEndian, uint32(hlen))
	}
	b.WriteString(dict)
	b.WriteString(strings.Repeat(" ", hlen-len(dict)-1))
	b.WriteByte('\n')
	b.Write(data)
	return b.Bytes()
}

// le encodes values little-endian (or big-endian with bo) as raw bytes.
func le(bo binary.ByteOrder, vals any) []byte {
	var b bytes.Buffer
	if err := binary.Write(&b, bo, vals); err != nil {
		panic(err)
	}
	return b.Bytes()
}

func dict(descr, shape string) string {
	return fmt.Sprintf("{'descr': '%s', 'fortran_order': False, 'shape': %s, }", descr, shape)
}

func TestReadNPYTypes(t *testing.T) {
	L, B := binary.LittleEndian, binary.BigEndian
	tests := []struct {
		name      string
		file      []byte
		rows, col int
		shape     []int
		want      []float32
	}{
		{"f4 v1", npyBytes(1, dict("<f4", "(2, 2)"), le(L, []float32{1.5, -2, 3e-38, 4})), 2, 2, []int{2, 2}, []float32{1.5, -2, 3e-38, 4}},
		{"f8 v1", npyBytes(1, dict("<f8", "(3,)"), le(L, []float64{0.1, -1e10, 7})), 3, 1, []int{3}, []float32{0.1, -1e10, 7}},
		{"f8 v2", npyBytes(2, dict("<f8", "(1, 3)"), le(L, []float64{1, 2, 3})), 1, 3, []int{1, 3}, []float32{1, 2, 3}},
		{"u1 v1", npyBytes(1, dict("|u1", "(2, 3)"), []byte{0, 1, 2, 253, 254, 255}), 2, 3, []int{2, 3}, []float32{0, 1, 2, 253, 254, 255}},
		{"u1 v3", npyBytes(3, dict("|u1", "(2,)"), []byte{9, 200}), 2, 1, []int{2}, []float32{9, 200}},
		{"i1", npyBytes(1, dict("|i1", "(3,)"), []byte{0x80, 0xff, 5}), 3, 1, []int{3}, []float32{-128, -1, 5}},
		{"i4 v1", npyBytes(1, dict("<i4", "(2, 2)"), le(L, []int32{-5, 0, 1 << 20, math.MaxInt32})), 2, 2, []int{2, 2}, []float32{-5, 0, 1 << 20, math.MaxInt32}},
		{"i4 v3", npyBytes(3, dict("<i4", "(1, 2)"), le(L, []int32{7, -7})), 1, 2, []int{1, 2}, []float32{7, -7}},
		{"i8 v2", npyBytes(2, dict("<i8", "(2,)"), le(L, []int64{-3, 1 << 40})), 2, 1, []int{2}, []float32{-3, 1 << 40}},
		{"u2", npyBytes(1, dict("<u2", "(2,)"), le(L, []uint16{1, 65535})), 2, 1, []int{2}, []float32{1, 65535}},
		{"i2", npyBytes(1, dict("<i2", "(2,)"), le(L, []int16{-1, 300})), 2, 1, []int{2}, []float32{-1, 300}},
		{"u4", npyBytes(1, dict("<u4", "(1,)"), le(L, []uint32{4000000000})), 1, 1, []int{1}, []float32{4000000000}},
		{"u8", npyBytes(1, dict("<u8", "(1,)"), le(L, []uint64{1 << 50})), 1, 1, []int{1}, []float32{1 << 50}},
		{"b1", npyBytes(1, dict("|b1", "(2,)"), []byte{1, 0}), 2, 1, []int{2}, []float32{1, 0}},
		// float16: 1.0 = 0x3c00, -2.0 = 0xc000, 2^-24 (smallest subnormal) = 0x0001, +Inf = 0x7c00.
		{"f2", npyBytes(1, dict("<f2", "(4,)"), le(L, []uint16{0x3c00, 0xc000, 0x0001, 0x7c00})), 4, 1, []int{4}, []float32{1, -2, 1.0 / (1 << 24), float32(math.Inf(1))}},
		{"f4 big-endian", npyBytes(1, dict(">f4", "(2,)"), le(B, []float32{1.25, -8})), 2, 1, []int{2}, []float32{1.25, -8}},
		{"f8 big-endian", npyBytes(1, dict(">f8", "(1,)"), le(B, []float64{3.5})), 1, 1, []int{1}, []float32{3.5}},
		{"i4 big-endian", npyBytes(1, dict(">i4", "(1,)"), le(B, []int32{-9})), 1, 1, []int{1}, []float32{-9}},
		{"3-D flattened", npyBytes(1, dict("<f4", "(2, 2, 3)"), le(L, []float32{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11})), 2, 6, []int{2, 2, 3}, []float32{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}},
		{"4-D flattened", npyBytes(1, dict("|u1", "(1, 2, 1, 2)"), []byte{1, 2, 3, 4}), 1, 4, []int{1, 2, 1, 2}, []float32{1, 2, 3, 4}},
		{"0-D scalar", npyBytes(1, dict("<f4", "()"), le(L, []float32{42})), 1, 1, []int{}, []float32{42}},
		{"key order, spacing, no trailing comma", npyBytes(1, "{ 'shape' : ( 2 , ) ,'fortran_order':False,\"descr\":'<f4'}", le(L, []float32{1, 2})), 2, 1, []int{2}, []float32{1, 2}},
		{"python 2 long ints", npyBytes(1, dict("<f4", "(1L, 2L)"), le(L, []float32{1, 2})), 1, 2, []int{1, 2}, []float32{1, 2}},
		{"fortran 1-D is C order", npyBytes(1, "{'descr': '<f4', 'fortran_order': True, 'shape': (2,), }", le(L, []float32{1, 2})), 2, 1, []int{2}, []float32{1, 2}},
		{"extra key ignored", npyBytes(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'x': [1, (2,), None]}", le(L, []float32{5})), 1, 1, []int{1}, []float32{5}},
		{"trailing bytes ignored", npyBytes(1, dict("<f4", "(1,)"), le(L, []float32{5, 6})), 1, 1, []int{1}, []float32{5}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, src := range []struct {
				name string
				r    func() *Table
			}{
				{"bytes.Reader", func() *Table { tb, err := ReadNPY(bytes.NewReader(tc.file), "x.npy"); must(t, err); return tb }},
				{"plain reader", func() *Table {
					tb, err := ReadNPY(onlyReader{bytes.NewReader(tc.file)}, "x.npy")
					must(t, err)
					return tb
				}},
			} {
				tb := src.r()
				if tb == nil {
					continue
				}
				if tb.Rows != tc.rows || tb.Cols != tc.col || !reflect.DeepEqual(tb.Shape, tc.shape) {
					t.Fatalf("%s: got %d×%d shape %v, want %d×%d shape %v", src.name, tb.Rows, tb.Cols, tb.Shape, tc.rows, tc.col, tc.shape)
				}
				if !reflect.DeepEqual(tb.Data, tc.want) {
					t.Fatalf("%s: data = %v, want %v", src.name, tb.Data, tc.want)
				}
			}
		})
	}
}

// onlyReader hides every method but Read, so the reader cannot tell the size.
type onlyReader struct{ r *bytes.Reader }

func (o onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestNPYRoundTrip(t *testing.T) {
	dir := t.TempDir()
	for _, sz := range []struct{ rows, cols int }{{1, 1}, {3, 5}, {17, 1}, {1000, 33}, {70000, 1}} {
		data := make([]float32, sz.rows*sz.cols)
		for i := range data {
			data[i] = float32(math.Sin(float64(i))*1e3) / 7
		}
		data[0] = float32(math.NaN())
		if len(data) > 1 {
			data[1] = float32(math.Inf(-1))
		}
		p := filepath.Join(dir, fmt.Sprintf("a%dx%d.npy", sz.rows, sz.cols))
		must(t, WriteNPY(p, sz.rows, sz.cols, data))
		f, err := os.Open(p)
		must(t, err)
		tb, err := ReadNPY(f, p)
		f.Close()
		must(t, err)
		if tb.Rows != sz.rows || tb.Cols != sz.cols || !reflect.DeepEqual(tb.Shape, []int{sz.rows, sz.cols}) {
			t.Fatalf("%s: got %d×%d %v", p, tb.Rows, tb.Cols, tb.Shape)
		}
		for i := range data {
			if math.Float32bits(tb.Data[i]) != math.Float32bits(data[i]) {
				t.Fatalf("%s: value %d = %v, want %v", p, i, tb.Data[i], data[i])
			}
		}
	}
}

// TestNPYHeaderFormat checks the written header against the .npy format
// specification: magic, version 1.0, little-endian uint16 header length,
// the dict literal in NumPy's own spelling, space padding and a final
// newline, with the total a multiple of 64 (the spec asks for 16; NumPy
// ≥ 1.? aligns to 64).
func TestNPYHeaderFormat(t *testing.T) {
	for _, sz := range []struct{ rows, cols int }{{0, 0}, {1, 1}, {60000, 784}, {math.MaxInt32, 3}, {math.MaxInt >> 20, 1 << 20}} {
		h := npyHeaderBytes(sz.rows, sz.cols)
		if len(h)%64 != 0 {
			t.Errorf("%v: header length %d is not a multiple of 64", sz, len(h))
		}
		if string(h[:8]) != "\x93NUMPY\x01\x00" {
			t.Errorf("%v: header starts %q", sz, h[:8])
		}
		if n := int(binary.LittleEndian.Uint16(h[8:10])); n != len(h)-10 {
			t.Errorf("%v: stored header length %d, want %d", sz, n, len(h)-10)
		}
		want := fmt.Sprintf("{'descr': '<f4', 'fortran_order': False, 'shape': (%d, %d), }", sz.rows, sz.cols)
		rest := string(h[10:])
		if !strings.HasPrefix(rest, want) {
			t.Errorf("%v: dict = %q, want %q", sz, rest, want)
		}
		if !regexp.MustCompile(`^ *\n$`).MatchString(rest[len(want):]) {
			t.Errorf("%v: padding %q is not spaces then a newline", sz, rest[len(want):])
		}
	}
	var b bytes.Buffer
	must(t, EncodeNPY(&b, 2, 3, []float32{1, 2, 3, 4, 5, 6}))
	if b.Len() != 128+24 {
		t.Fatalf("EncodeNPY wrote %d bytes, want 152", b.Len())
	}
	if err := EncodeNPY(&b, 2, 3, []float32{1}); err == nil {
		t.Fatal("EncodeNPY accepted 1 value for a 2×3 array")
	}
	if err := EncodeNPY(failWriter{200}, 100, 1, make([]float32, 100)); err == nil {
		t.Fatal("EncodeNPY ignored a write error")
	}
}

func TestReadNPYErrors(t *testing.T) {
	L := binary.LittleEndian
	good := npyBytes(1, dict("<f4", "(2, 3)"), le(L, make([]float32, 6)))
	v2 := npyBytes(2, dict("<f4", "(2, 3)"), le(L, make([]float32, 6)))
	tests := []struct {
		name string
		file []byte
		want []string // substrings of the error
	}{
		{"empty", nil, []string{"x.npy", "not a .npy file"}},
		{"wrong magic", append([]byte("\x93NUMPX"), good[6:]...), []string{"bad magic"}},
		{"text file", []byte("1,2,3\n4,5,6\n"), []string{"bad magic"}},
		{"magic only", good[:6], []string{"truncated header"}},
		{"no header length", good[:9], []string{"truncated header"}},
		{"truncated header dict", good[:40], []string{"truncated header", "expected 118 bytes of header dictionary", "found 30"}},
		{"truncated v2 header length", v2[:10], []string{"truncated header"}},
		{"truncated data", good[:128+10], []string{"truncated data", "expected 24 bytes", "found 10"}},
		{"no data", good[:128], []string{"truncated data", "expected 24 bytes", "found 0"}},
		{"version 4", append(append([]byte{}, good[:6]...), append([]byte{4, 0}, good[8:]...)...), []string{"unsupported .npy format version 4.0"}},
		{"unsupported dtype complex", npyBytes(1, dict("<c8", "(1,)"), make([]byte, 8)), []string{"unsupported dtype \"<c8\"", "<f4"}},
		{"unsupported dtype string", npyBytes(1, dict("<U3", "(1,)"), make([]byte, 12)), []string{"unsupported dtype \"<U3\""}},
		{"unsupported dtype object", npyBytes(1, dict("|O", "(1,)"), make([]byte, 8)), []string{"unsupported dtype \"|O\""}},
		{"structured dtype", npyBytes(1, "{'descr': [('a', '<f4'), ('b', '<i4')], 'fortran_order': False, 'shape': (1,), }", make([]byte, 8)), []string{"structured arrays are not supported"}},
		{"fortran order", npyBytes(1, "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }", le(L, make([]float32, 6))), []string{"Fortran-order arrays are not supported; save with np.ascontiguousarray"}},
		{"missing shape", npyBytes(1, "{'descr': '<f4', 'fortran_order': False}", nil), []string{"missing key 'shape'"}},
		{"missing descr", npyBytes(1, "{'fortran_order': False, 'shape': (1,)}", nil), []string{"missing key 'descr'"}},
		{"not a dict", npyBytes(1, "('<f4', False, (1,))", nil), []string{"want a dictionary"}},
		{"unterminated dict", npyBytes(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1,)", nil), []string{"bad header", "unexpected end"}},
		{"unterminated string", npyBytes(1, "{'descr: '<f4'}", nil), []string{"bad header"}},
		{"junk after dict", npyBytes(1, dict("<f4", "(1,)")+" junk", nil), []string{"bad header", "after the dictionary"}},
		{"shape not a tuple", npyBytes(1, dict("<f4", "5"), nil), []string{"'shape' is integer 5"}},
		{"shape of strings", npyBytes(1, dict("<f4", "('a',)"), nil), []string{"'shape' holds string"}},
		{"negative dim", npyBytes(1, dict("<f4", "(-1, 2)"), nil), []string{"negative dimension"}},
		{"fortran_order not bool", npyBytes(1, "{'descr': '<f4', 'fortran_order': 0, 'shape': (1,)}", nil), []string{"'fortran_order' is integer 0"}},
		{"duplicate key", npyBytes(1, "{'descr': '<f4', 'descr': '<f8', 'fortran_order': False, 'shape': (1,)}", nil), []string{"duplicate key"}},
		{"huge int", npyBytes(1, dict("<f4", "(99999999999999999999,)"), nil), []string{"bad integer"}},
		{"deep nesting", npyBytes(1, "{'x': "+strings.Repeat("(", 40)+strings.Repeat(")", 40)+"}", nil), []string{"nested too deeply"}},
		{"zero rows", npyBytes(1, dict("<f4", "(0, 3)"), nil), []string{"no rows"}},
		{"zero cols", npyBytes(1, dict("<f4", "(3, 0)"), nil), []string{"no columns"}},
		{"overflowing shape", npyBytes(1, dict("<f4", "(4294967296, 4294967296, 4294967296)"), nil), []string{"too large"}},
		{"absurd shape, no data", npyBytes(1, dict("<f4", "(2000000000,)"), nil), []string{"truncated data", "expected 8000000000 bytes", "found 0"}},
		{"huge v2 header length", append(append([]byte{}, v2[:8]...), 0xff, 0xff, 0xff, 0x7f), []string{"implausibly large"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, r := range []io.Reader{bytes.NewReader(tc.file), onlyReader{bytes.NewReader(tc.file)}} {
				_, err := ReadNPY(r, "x.npy")
				wantErr(t, err, append([]string{"read x.npy: "}, tc.want...)...)
			}
		})
	}
}

// wantErr fails unless err is non-nil, starts with want[0] and contains the
// rest of want.
func wantErr(t *testing.T, err error, want ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one containing %q", want)
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, want[0]) {
		t.Errorf("error %q does not start with %q", msg, want[0])
	}
	for _, w := range want[1:] {
		if !strings.Contains(msg, w) {
			t.Errorf("error %q does not contain %q", msg, w)
		}
	}
}

func TestReadNPYFromFileChecksSizeFirst(t *testing.T) {
	// A header claiming 2e9 float32 values on a 64-byte file must fail from
	// the file size, before allocating 8 GB.
	p := filepath.Join(t.TempDir(), "liar.npy")
	must(t, os.WriteFile(p, npyBytes(1, dict("<f4", "(2000000000,)"), nil), 0o644))
	f, err := os.Open(p)
	must(t, err)
	defer f.Close()
	var ms0, ms1 runtimeMem
	ms0.read()
	_, err = ReadNPY(f, p)
	ms1.read()
	wantErr(t, err, "read "+p+": ", "truncated data", "expected 8000000000 bytes", "found 0")
	if d := ms1.total - ms0.total; d > 64<<20 {
		t.Errorf("allocated %d bytes before failing", d)
	}
}

func TestHalfToFloat32(t *testing.T) {
	tests := []struct {
		h    uint16
		want float32
	}{
		{0x0000, 0}, {0x3c00, 1}, {0x3555, 0.333251953125}, {0x7bff, 65504}, {0x0400, 1.0 / (1 << 14)},
		{0x03ff, 1023.0 / (1 << 24)}, {0xfc00, float32(math.Inf(-1))},
	}
	for _, tc := range tests {
		if got := halfToFloat32(tc.h); got != tc.want {
			t.Errorf("halfToFloat32(%#04x) = %v, want %v", tc.h, got, tc.want)
		}
	}
	if v := halfToFloat32(0x7e00); !math.IsNaN(float64(v)) {
		t.Errorf("halfToFloat32(0x7e00) = %v, want NaN", v)
	}
	if v := halfToFloat32(0x8000); v != 0 || !math.Signbit(float64(v)) {
		t.Errorf("halfToFloat32(0x8000) = %v, want -0", v)
	}
}

// failWriter accepts n bytes, then fails.
type failWriter struct{ n int }

func (w failWriter) Write(p []byte) (int, error) {
	if len(p) > w.n {
		return w.n, io.ErrShortWrite
	}
	return len(p), nil
}
