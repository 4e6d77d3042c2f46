package dataset

import (
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// checkReaderLikeLoad is the property of every Reader: reading the file at
// p never panics, and when Load succeeds the Reader gives the same values,
// whole, by ReadRows (.npy) and as two shards.
func checkReaderLikeLoad(t *testing.T, p string, per int, npy bool) {
	opt := ReaderOptions{NaN: NaNZero}
	want, loadErr := Load(p, LoadOptions{NaN: NaNZero})
	got, err := fuzzRead(p, opt, per)
	if loadErr != nil {
		return // the stream may accept more (no rows, huge shapes) or fail
	}
	if err != nil {
		t.Fatalf("Load read %d×%d, the stream failed: %v", want.Rows, want.Cols, err)
	}
	if !sameBits(got, want.Data) {
		t.Fatalf("stream gave %v, Load %v", clipFloats(got), clipFloats(want.Data))
	}
	var cat []float32
	for i := range 2 {
		part, err := fuzzRead(p, ReaderOptions{NaN: NaNZero, Shard: i, ShardCount: 2}, per)
		if err != nil {
			t.Fatalf("shard %d/2: %v", i, err)
		}
		cat = append(cat, part...)
	}
	if !sameBits(cat, want.Data) {
		t.Fatalf("shards gave %v, Load %v", clipFloats(cat), clipFloats(want.Data))
	}
	if npy {
		s, err := OpenReader([]string{p}, opt)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		dst := make([]float32, len(want.Data))
		start := int64(want.Rows / 2)
		n, err := s.ReadRows(start, dst)
		if err != nil || n != want.Rows-int(start) || !sameBits(dst[:n*want.Cols], want.Data[int(start)*want.Cols:]) {
			t.Fatalf("ReadRows(%d): %d rows, %v", start, n, err)
		}
	}
}

// fuzzRead reads the whole of p, per rows at a time.
func fuzzRead(p string, opt ReaderOptions, per int) ([]float32, error) {
	s, err := OpenReader([]string{p}, opt)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	if s.Cols() > 1<<16 {
		per = 1 // keep memory small for wide fuzzed rows
	}
	if s.Cols() > 1<<24 {
		// Too wide to allocate a row here; Load could not hold such a
		// table from a fuzzed input either.
		return nil, fmt.Errorf("%d columns", s.Cols())
	}
	var out []float32
	dst := make([]float32, per*s.Cols())
	for {
		n, err := s.Read(dst)
		out = append(out, dst[:n*s.Cols()]...)
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

func FuzzReaderNPY(f *testing.F) {
	L := binary.LittleEndian
	var good []byte
	{
		p := filepath.Join(f.TempDir(), "g.npy")
		if err := WriteNPY(p, 3, 2, []float32{1, 2, 3, 4, 5, 6}); err != nil {
			f.Fatal(err)
		}
		good, _ = os.ReadFile(p)
	}
	for _, seed := range [][]byte{
		good,
		good[:20],
		good[:len(good)-5],
		nil,
		[]byte("\x93NUMPY"),
		npyBytes(1, dict("<f8", "(3,)"), le(L, []float64{1, 2, 3})),
		npyBytes(2, dict("|u1", "(2, 2)"), []byte{1, 2, 3, 4}),
		npyBytes(3, dict("<i8", "(1, 1, 2)"), le(L, []int64{1, 2})),
		npyBytes(1, dict("<f2", "(5,)"), le(L, []uint16{0x3c00, 0x7c00, 0x7e00, 0, 1})),
		npyBytes(1, dict(">i2", "()"), []byte{0, 1}),
		npyBytes(1, dict(">f4", "(3, 1)"), le(binary.BigEndian, []float32{1, 2, 3})),
		npyBytes(1, dict("<f4", "(2000000000,)"), nil),
		npyBytes(1, dict("<f4", "(4294967296, 4294967296)"), nil),
		npyBytes(1, dict("<f4", "(9223372036854775807, 2)"), nil),
		npyBytes(1, "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", make([]byte, 16)),
		npyBytes(1, "{'descr': '<f4', 'fortran_order': True, 'shape': (2,), }", make([]byte, 8)),
		npyBytes(1, "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }", make([]byte, 4)),
		npyBytes(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1,)", make([]byte, 4)),
		npyBytes(1, dict("<f4", "(0, 5)"), nil),
		npyBytes(1, dict("<f4", "(5, 0)"), nil),
		npyBytes(1, dict("|b1", "(4,)"), []byte{0, 1, 2, 255, 9}),
		gz(npyBytes(1, dict("<f4", "(2, 1)"), le(L, []float32{1, 2}))),
	} {
		f.Add(seed, uint8(1))
		f.Add(seed, uint8(2))
	}
	f.Fuzz(func(t *testing.T, b []byte, per uint8) {
		p := filepath.Join(t.TempDir(), "f.npy")
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		checkReaderLikeLoad(t, p, 1+int(per%5), !isGzip(b))
	})
}

func FuzzReaderCSV(f *testing.F) {
	for _, seed := range []string{
		"1,2,3\n4,5,6\n",
		"a,b\n1,2\n",
		"a,b\n",
		"",
		"\n\n",
		"1,2\n3\n",
		"1,x\n2,3\n",
		"a,b\n1,2\nc,d\n",
		"nan,inf\n-Inf,1e39\n",
		"\"1\",\"2\"\n3,4\n",
		"1,\"2\n",
		"\"1\n2\",3\n4,5\n",
		"# c\n1\n",
		"\ufeffh\n1\n",
		" 1 , 2 \r\n3,4",
		"1\n2\n3\n4\n5\n6\n7\n",
	} {
		f.Add([]byte(seed), uint8(1))
		f.Add([]byte(seed), uint8(3))
	}
	f.Fuzz(func(t *testing.T, b []byte, per uint8) {
		p := filepath.Join(t.TempDir(), "f.csv")
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		checkReaderLikeLoad(t, p, 1+int(per%5), false)
	})
}
