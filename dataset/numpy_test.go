package dataset

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// The files in testdata/numpy were written by NumPy 1.24.2 (see gen.py
// there), so these tests check the reader and writer against NumPy itself
// rather than against this package's idea of the format.

func TestReadNumPyFixtures(t *testing.T) {
	a := []float32{1.5, -2, 3, 4, 5.25, -6}
	tests := []struct {
		file       string
		rows, cols int
		shape      []int
		want       []float32
	}{
		{"f4_2x3.npy", 2, 3, []int{2, 3}, a},
		{"f4_2x3_v2.npy", 2, 3, []int{2, 3}, a},
		{"f4_2x3_v3.npy", 2, 3, []int{2, 3}, a},
		{"f4_be.npy", 2, 3, []int{2, 3}, a},
		{"f8_vec.npy", 3, 1, []int{3}, []float32{0.5, -1, 2}},
		{"u1_2x2x3.npy", 2, 6, []int{2, 2, 3}, []float32{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}},
		{"i4_2x2.npy", 2, 2, []int{2, 2}, []float32{-7, 0, 1 << 20, 3}},
		{"i8_vec.npy", 5, 1, []int{5}, []float32{3, 1, 4, 1, 5}},
		{"i1_vec.npy", 3, 1, []int{3}, []float32{-128, -1, 127}},
		{"u2_vec.npy", 2, 1, []int{2}, []float32{0, 65535}},
		{"b1_vec.npy", 3, 1, []int{3}, []float32{1, 0, 1}},
		{"f2_vec.npy", 3, 1, []int{3}, []float32{1, -2, 0.5}},
		{"f4_scalar.npy", 1, 1, []int{}, []float32{42}},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			tb, err := Load(filepath.Join("testdata", "numpy", tc.file), LoadOptions{})
			must(t, err)
			if tb.Rows != tc.rows || tb.Cols != tc.cols || !reflect.DeepEqual(tb.Shape, tc.shape) {
				t.Fatalf("got %d×%d shape %v, want %d×%d %v", tb.Rows, tb.Cols, tb.Shape, tc.rows, tc.cols, tc.shape)
			}
			if !reflect.DeepEqual(tb.Data, tc.want) {
				t.Fatalf("data %v, want %v", tb.Data, tc.want)
			}
		})
	}
}

func TestReadNumPyFixtureErrors(t *testing.T) {
	for _, tc := range []struct{ file, want string }{
		{"f4_fortran.npy", "Fortran-order arrays are not supported; save with np.ascontiguousarray"},
		{"structured.npy", "structured arrays are not supported"},
		{"c8_vec.npy", `unsupported dtype "<c8"`},
		{"f4_empty.npy", "no rows"},
	} {
		p := filepath.Join("testdata", "numpy", tc.file)
		_, err := Load(p, LoadOptions{})
		wantErr(t, err, "read "+p+": ", tc.want)
	}
}

// TestEncodeNPYMatchesNumPy checks that EncodeNPY writes the very bytes
// np.save writes for the same float32 array.
func TestEncodeNPYMatchesNumPy(t *testing.T) {
	want, err := os.ReadFile(filepath.Join("testdata", "numpy", "f4_2x3.npy"))
	must(t, err)
	var b bytes.Buffer
	must(t, EncodeNPY(&b, 2, 3, []float32{1.5, -2, 3, 4, 5.25, -6}))
	if !bytes.Equal(b.Bytes(), want) {
		t.Fatalf("EncodeNPY wrote\n%q\nnp.save wrote\n%q", b.Bytes(), want)
	}
}
