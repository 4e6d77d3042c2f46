package safetensors

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestLayoutMatchesSpec checks the bytes against the format description,
// independently of Decode.
func TestLayoutMatchesSpec(t *testing.T) {
	var buf bytes.Buffer
	ts := []Tensor{
		{Name: "encoder.0.weight", Shape: []int{2, 3}, Data: []float32{1, 2, 3, 4, 5, 6}},
		{Name: "encoder.0.bias", Shape: []int{2}, Data: []float32{-1, 0.5}},
	}
	if err := Encode(&buf, ts, map[string]string{"format": "pt"}); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	n := binary.LittleEndian.Uint64(b[:8])
	if (8+n)%8 != 0 {
		t.Errorf("data section starts at %d, not 8-byte aligned", 8+n)
	}
	var hdr map[string]json.RawMessage
	if err := json.Unmarshal(b[8:8+n], &hdr); err != nil {
		t.Fatalf("header is not JSON: %v", err)
	}
	var bias, weight entry
	json.Unmarshal(hdr["encoder.0.bias"], &bias)
	json.Unmarshal(hdr["encoder.0.weight"], &weight)
	// Sorted by name: bias (8 bytes) first, then weight (24 bytes).
	if bias.Dtype != "F32" || bias.DataOffsets != [2]int{0, 8} || weight.DataOffsets != [2]int{8, 32} {
		t.Errorf("entries = %+v %+v", bias, weight)
	}
	if len(b)-int(8+n) != 32 {
		t.Errorf("data section is %d bytes, want 32", len(b)-int(8+n))
	}
	data := b[8+n:]
	if got := math.Float32frombits(binary.LittleEndian.Uint32(data[8+4*5:])); got != 6 {
		t.Errorf("last weight = %v, want 6", got)
	}
	if !strings.Contains(string(hdr["__metadata__"]), `"format":"pt"`) {
		t.Errorf("metadata = %s", hdr["__metadata__"])
	}
}

func TestRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	in := []Tensor{{Name: "a", Shape: []int{1, 1}, Data: []float32{float32(math.Pi)}}, {Name: "s", Shape: []int{}, Data: []float32{7}}}
	if err := Encode(&buf, in, nil); err != nil {
		t.Fatal(err)
	}
	f, err := Decode(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if f.Tensors["a"].Data[0] != float32(math.Pi) || f.Tensors["s"].Data[0] != 7 {
		t.Errorf("round trip = %+v", f.Tensors)
	}
}

func TestDecodeRejects(t *testing.T) {
	mk := func(h string, data int) []byte {
		b := binary.LittleEndian.AppendUint64(nil, uint64(len(h)))
		return append(append(b, h...), make([]byte, data)...)
	}
	for _, c := range []struct {
		name string
		in   []byte
		want string
	}{
		{"short", []byte{1, 2}, "shorter"},
		{"huge header", binary.LittleEndian.AppendUint64(nil, 1<<40), "exceeds"},
		{"not json", mk("{nope", 0), "JSON"},
		{"dtype", mk(`{"a":{"dtype":"I8","shape":[1],"data_offsets":[0,1]}}`, 1), "not supported"},
		{"offsets past end", mk(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, 4), "outside"},
		{"size mismatch", mk(`{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}`, 8), "needs 12 bytes"},
		{"overlap", mk(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, 8), "overlap"},
	} {
		_, err := Decode(c.in)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want it to mention %q", c.name, err, c.want)
		}
	}
}

func TestHalfPrecision(t *testing.T) {
	for _, c := range []struct {
		h    uint16
		want float32
	}{{0x3c00, 1}, {0xc000, -2}, {0x3555, 0.33325195}, {0x0001, 5.9604645e-8}, {0x7bff, 65504}} {
		if got := halfToFloat(c.h); got != c.want {
			t.Errorf("half %#04x = %v, want %v", c.h, got, c.want)
		}
	}
}

func FuzzDecode(f *testing.F) {
	var buf bytes.Buffer
	Encode(&buf, []Tensor{{Name: "w", Shape: []int{2, 2}, Data: []float32{1, 2, 3, 4}}}, map[string]string{"k": "v"})
	f.Add(buf.Bytes())
	f.Add([]byte{})
	f.Add(binary.LittleEndian.AppendUint64(nil, 2))
	f.Fuzz(func(t *testing.T, b []byte) {
		file, err := Decode(b)
		if err != nil {
			return
		}
		for name, ts := range file.Tensors {
			n := 1
			for _, d := range ts.Shape {
				n *= d
			}
			if n != len(ts.Data) {
				t.Fatalf("tensor %q: shape %v but %d values", name, ts.Shape, len(ts.Data))
			}
		}
	})
}

// zeros is an endless input of zero bytes, as /dev/zero.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// TestReadBounded: Read stops at the header of an endless input, refuses a
// header length beyond the limit before reading it, and reads no more
// than the tensors' bytes of a valid file followed by endless data.
func TestReadBounded(t *testing.T) {
	if _, err := Read(zeros{}, -1); err == nil || !strings.Contains(err.Error(), "safetensors header (bytes 8–8) is not a JSON object") {
		t.Errorf("endless zeros: %v", err)
	}
	var lenb [8]byte
	binary.LittleEndian.PutUint64(lenb[:], 1<<40)
	if _, err := Read(io.MultiReader(bytes.NewReader(lenb[:]), zeros{}), -1); err == nil || !strings.Contains(err.Error(), "header length 1099511627776 (bytes 0–7) exceeds the limit of 100 MiB") {
		t.Errorf("huge header length: %v", err)
	}
	binary.LittleEndian.PutUint64(lenb[:], 1000)
	if _, err := Read(bytes.NewReader(append(lenb[:], "{}"...)), -1); err == nil || !strings.Contains(err.Error(), "safetensors header (bytes 8–1008): unexpected EOF: 2 of 1000 bytes") {
		t.Errorf("short header: %v", err)
	}
	var buf bytes.Buffer
	ts := []Tensor{{Name: "w", Shape: []int{2, 2}, Data: []float32{1, 2, 3, 4}}}
	if err := Encode(&buf, ts, nil); err != nil {
		t.Fatal(err)
	}
	f, err := Read(io.MultiReader(bytes.NewReader(buf.Bytes()), zeros{}), -1)
	if err != nil || fmt.Sprint(f.Tensors["w"].Data) != "[1 2 3 4]" {
		t.Fatalf("valid file then endless zeros: %v, %v", f, err)
	}
	// A file that ends before the bytes its header promises.
	short := buf.Bytes()[:buf.Len()-4]
	if _, err := Read(bytes.NewReader(short), int64(len(short))); err == nil || !strings.Contains(err.Error(), "outside the 12 data bytes") {
		t.Errorf("truncated data: %v", err)
	}
}

// TestReadFileDevZero reads /dev/zero as model.safetensors: an error at
// once, not memory growing until the process is killed.
func TestReadFileDevZero(t *testing.T) {
	if _, err := os.Stat("/dev/zero"); err != nil {
		t.Skip("no /dev/zero")
	}
	p := filepath.Join(t.TempDir(), "model.safetensors")
	if err := os.Symlink("/dev/zero", p); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, err := ReadFile(p); done <- err }()
	select {
	case err := <-done:
		if err == nil || !strings.HasPrefix(err.Error(), "read "+p+": safetensors header (bytes 8–8)") {
			t.Errorf("ReadFile(/dev/zero): %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("ReadFile(/dev/zero) still running after 10s")
	}
}
