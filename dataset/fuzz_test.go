package dataset

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// checkTable is the property every reader must have: an error, or a table
// whose data matches its size.
func checkTable(t *testing.T, tb *Table, err error) {
	if err != nil {
		if tb != nil {
			t.Fatalf("both a table and an error: %v", err)
		}
		return
	}
	if tb.Rows <= 0 || tb.Cols <= 0 || len(tb.Data) != tb.Rows*tb.Cols {
		t.Fatalf("table %d×%d with %d values", tb.Rows, tb.Cols, len(tb.Data))
	}
	n := 1
	for _, d := range tb.Shape {
		n *= d
	}
	if n != len(tb.Data) {
		t.Fatalf("shape %v does not hold %d values", tb.Shape, len(tb.Data))
	}
	if tb.Header != nil && len(tb.Header) != tb.Cols {
		t.Fatalf("%d header names for %d columns", len(tb.Header), tb.Cols)
	}
}

func FuzzReadNPY(f *testing.F) {
	L := binary.LittleEndian
	var enc bytes.Buffer
	EncodeNPY(&enc, 2, 3, []float32{1, 2, 3, 4, 5, 6})
	good := enc.Bytes()
	for _, seed := range [][]byte{
		good,
		good[:20],
		good[:70],
		nil,
		[]byte("\x93NUMPY"),
		npyBytes(1, dict("<f8", "(3,)"), le(L, []float64{1, 2, 3})),
		npyBytes(2, dict("|u1", "(2, 2)"), []byte{1, 2, 3, 4}),
		npyBytes(3, dict("<i8", "(1, 1, 2)"), le(L, []int64{1, 2})),
		npyBytes(1, dict("<f2", "(1,)"), []byte{0, 0x3c}),
		npyBytes(1, dict(">i2", "()"), []byte{0, 1}),
		npyBytes(1, dict("<f4", "(2000000000,)"), nil),
		npyBytes(1, dict("<f4", "(4294967296, 4294967296)"), nil),
		npyBytes(1, "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", make([]byte, 16)),
		npyBytes(1, "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }", make([]byte, 4)),
		npyBytes(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1,)", make([]byte, 4)),
		npyBytes(1, "{'descr': '<c16', 'fortran_order': False, 'shape': (1,), }", make([]byte, 16)),
		npyBytes(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (0, 5), }", nil),
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		tb, err := ReadNPY(bytes.NewReader(b), "fuzz.npy")
		checkTable(t, tb, err)
		tb2, err2 := ReadNPY(onlyReader{bytes.NewReader(b)}, "fuzz.npy")
		checkTable(t, tb2, err2)
		if (err == nil) != (err2 == nil) {
			t.Fatalf("sized reader: %v; plain reader: %v", err, err2)
		}
	})
}

func FuzzReadCSV(f *testing.F) {
	for _, seed := range []string{
		"1,2,3\n4,5,6\n",
		"a,b\n1,2\n",
		"a,b\n",
		"",
		"\n\n",
		"1,2\n3\n",
		"1,x\n2,3\n",
		"nan,inf\n-Inf,1e39\n",
		"\"1\",\"2\"\n3,4\n",
		"1,\"2\n",
		"# c\n1\n",
		"\ufeffh\n1\n",
		" 1 , 2 \r\n3,4",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		tb, err := ReadCSV(bytes.NewReader(b), "fuzz.csv")
		checkTable(t, tb, err)
		if err == nil && len(tb.lines) != tb.Rows {
			t.Fatalf("%d line numbers for %d rows", len(tb.lines), tb.Rows)
		}
	})
}

func FuzzReadIDX(f *testing.F) {
	B := binary.BigEndian
	good := idxBytes(0x08, []uint32{2, 2, 2}, []byte{1, 2, 3, 4, 5, 6, 7, 8})
	for _, seed := range [][]byte{
		good,
		gz(good),
		gz(good)[:15],
		good[:10],
		nil,
		{0, 0, 8},
		{0, 0, 8, 0},
		idxBytes(0x08, []uint32{3}, []byte{1, 2, 3}),
		idxBytes(0x0D, []uint32{1, 2}, le(B, []float32{1, 2})),
		idxBytes(0x0E, []uint32{1}, le(B, []float64{1})),
		idxBytes(0x0B, []uint32{2}, le(B, []int16{1, 2})),
		idxBytes(0x08, []uint32{40000, 50000}, nil),
		idxBytes(0x08, []uint32{1 << 31, 1 << 31}, nil),
		idxBytes(0x07, []uint32{1}, []byte{1}),
		{1, 2, 3, 4},
		{0x1f, 0x8b, 8, 0},
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		tb, err := ReadIDX(bytes.NewReader(b), "fuzz-ubyte")
		checkTable(t, tb, err)
		tb2, err2 := ReadIDX(onlyReader{bytes.NewReader(b)}, "fuzz-ubyte")
		checkTable(t, tb2, err2)
		if (err == nil) != (err2 == nil) {
			t.Fatalf("sized reader: %v; plain reader: %v", err, err2)
		}
	})
}
