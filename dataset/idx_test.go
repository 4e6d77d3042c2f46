package dataset

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"io"
	"reflect"
	"testing"
)

// idxBytes builds an IDX file: magic 00 00 typ len(dims), the dims as
// big-endian uint32, then data.
func idxBytes(typ byte, dims []uint32, data []byte) []byte {
	b := []byte{0, 0, typ, byte(len(dims))}
	for _, d := range dims {
		b = binary.BigEndian.AppendUint32(b, d)
	}
	return append(b, data...)
}

func gz(p []byte) []byte {
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	w.Write(p)
	w.Close()
	return b.Bytes()
}

func TestReadIDX(t *testing.T) {
	B := binary.BigEndian
	images := make([]byte, 3*2*2)
	for i := range images {
		images[i] = byte(i * 20)
	}
	wantImages := make([]float32, len(images))
	for i, v := range images {
		wantImages[i] = float32(v)
	}
	tests := []struct {
		name       string
		file       []byte
		rows, cols int
		shape      []int
		want       []float32
	}{
		{"ubyte images", idxBytes(0x08, []uint32{3, 2, 2}, images), 3, 4, []int{3, 2, 2}, wantImages},
		{"ubyte labels", idxBytes(0x08, []uint32{4}, []byte{7, 2, 1, 0}), 4, 1, []int{4}, []float32{7, 2, 1, 0}},
		{"int8", idxBytes(0x09, []uint32{2}, []byte{0xff, 0x7f}), 2, 1, []int{2}, []float32{-1, 127}},
		{"int16", idxBytes(0x0B, []uint32{2}, le(B, []int16{-300, 300})), 2, 1, []int{2}, []float32{-300, 300}},
		{"int32", idxBytes(0x0C, []uint32{1, 2}, le(B, []int32{-70000, 70000})), 1, 2, []int{1, 2}, []float32{-70000, 70000}},
		{"float32", idxBytes(0x0D, []uint32{2, 1}, le(B, []float32{0.5, -2})), 2, 1, []int{2, 1}, []float32{0.5, -2}},
		{"float64", idxBytes(0x0E, []uint32{1}, le(B, []float64{1.25})), 1, 1, []int{1}, []float32{1.25}},
		{"trailing bytes ignored", idxBytes(0x08, []uint32{1}, []byte{5, 6, 7}), 1, 1, []int{1}, []float32{5}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, v := range []struct {
				name string
				r    io.Reader
			}{
				{"raw", bytes.NewReader(tc.file)},
				{"raw stream", onlyReader{bytes.NewReader(tc.file)}},
				{"gzip", bytes.NewReader(gz(tc.file))},
			} {
				tb, err := ReadIDX(v.r, "x-ubyte")
				if err != nil {
					t.Fatalf("%s: %v", v.name, err)
				}
				if tb.Rows != tc.rows || tb.Cols != tc.cols || !reflect.DeepEqual(tb.Shape, tc.shape) || tb.Header != nil {
					t.Fatalf("%s: got %d×%d shape %v, want %d×%d %v", v.name, tb.Rows, tb.Cols, tb.Shape, tc.rows, tc.cols, tc.shape)
				}
				if !reflect.DeepEqual(tb.Data, tc.want) {
					t.Fatalf("%s: data %v, want %v", v.name, tb.Data, tc.want)
				}
			}
		})
	}
}

func TestReadIDXErrors(t *testing.T) {
	good := idxBytes(0x08, []uint32{2, 3}, []byte{1, 2, 3, 4, 5, 6})
	zipped := gz(good)
	badCRC := append([]byte{}, zipped...)
	badCRC[len(badCRC)-8] ^= 0xff // CRC-32 is the trailer's first 4 bytes
	badBody := append([]byte{}, zipped...)
	badBody[12] ^= 0xff
	tests := []struct {
		name string
		file []byte
		want []string
	}{
		{"empty", nil, []string{"not an IDX file: empty"}},
		{"wrong magic", append([]byte{1, 2}, good[2:]...), []string{"not an IDX file: bad magic 01 02 08 02"}},
		{"npy file", []byte("\x93NUMPY\x01\x00"), []string{"bad magic 93 4e 55 4d"}},
		{"short magic", []byte{0, 0, 8}, []string{"truncated header"}},
		{"unknown type", append([]byte{0, 0, 0x0A}, good[3:]...), []string{"unsupported IDX data type 0x0a"}},
		{"zero dims", []byte{0, 0, 8, 0}, []string{"0 dimensions"}},
		{"truncated dims", good[:9], []string{"truncated header", "expected 8 bytes of dimensions", "found 5"}},
		{"truncated data", good[:12+4], []string{"truncated data", "expected 6 bytes", "found 4"}},
		{"zero images", idxBytes(0x08, []uint32{0, 28, 28}, nil), []string{"no rows"}},
		{"too large", idxBytes(0x08, []uint32{1 << 31, 1 << 31}, nil), []string{"too large"}},
		{"huge, no data", idxBytes(0x08, []uint32{40000, 50000}, nil), []string{"truncated data", "expected 2000000000 bytes", "found 0"}},
		{"gzip truncated", zipped[:len(zipped)/2], []string{"corrupt or truncated gzip stream"}},
		{"gzip trailer cut", zipped[:len(zipped)-3], []string{"corrupt or truncated gzip stream", "unexpected EOF"}},
		{"gzip bad checksum", badCRC, []string{"corrupt or truncated gzip stream", "checksum"}},
		{"gzip bad header", append([]byte{0x1f, 0x8b, 0x99}, make([]byte, 20)...), []string{"corrupt gzip stream"}},
		{"gzip of truncated IDX", gz(good[:14]), []string{"truncated data", "expected 6 bytes", "found 2"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ReadIDX(bytes.NewReader(tc.file), "x-ubyte.gz")
			wantErr(t, err, append([]string{"read x-ubyte.gz: "}, tc.want...)...)
			_, err = ReadIDX(onlyReader{bytes.NewReader(tc.file)}, "x-ubyte.gz")
			wantErr(t, err, append([]string{"read x-ubyte.gz: "}, tc.want...)...)
		})
	}
	// The body corruption may be caught by inflate or by the checksum; both
	// must name the file and say gzip.
	_, err := ReadIDX(bytes.NewReader(badBody), "x-ubyte.gz")
	wantErr(t, err, "read x-ubyte.gz: ", "gzip")
}
