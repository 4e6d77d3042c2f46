package dataset

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
)

// maxElements bounds the number of values one array may hold (8 GiB of
// float32). Shapes beyond it are rejected before anything is allocated.
const maxElements = 1 << 31

// growChunk is how many values a reader of unknown length allocates at
// first; it then grows as data actually arrives, so a header that lies about
// its size cannot make it allocate more than the data present.
const growChunk = 1 << 20

// readChunk is the size of the byte buffer array data is decoded through.
// It is a multiple of every element size.
const readChunk = 256 << 10

// sizeInfo says what is known about the bytes left in a stream.
type sizeInfo struct {
	// avail is exactly how many bytes are left, or -1 when unknown.
	avail int64
	// hint is how many bytes are probably left (from a gzip trailer), or -1.
	// It only sizes allocations and is never above what the input could
	// really hold.
	hint int64
}

// sizeOf returns what is cheaply known about the bytes left in r.
func sizeOf(r io.Reader) sizeInfo { return sizeInfo{avail: remaining(r), hint: -1} }

// consume records that n bytes have been read.
func (s *sizeInfo) consume(n int64) {
	if s.avail >= 0 {
		s.avail = max(s.avail-n, 0)
	}
	if s.hint >= 0 {
		s.hint = max(s.hint-n, 0)
	}
}

// remaining returns how many bytes are left to read from r when that can be
// known cheaply (regular files and in-memory readers), else -1.
func remaining(r io.Reader) int64 {
	switch v := r.(type) {
	case *os.File:
		st, err := v.Stat()
		if err != nil || !st.Mode().IsRegular() {
			return -1
		}
		off, err := v.Seek(0, io.SeekCurrent)
		if err != nil {
			return -1
		}
		if n := st.Size() - off; n >= 0 {
			return n
		}
		return -1
	case interface{ Len() int }: // bytes.Reader, bytes.Buffer, strings.Reader
		return int64(v.Len())
	}
	return -1
}

// tableShape turns an array's dimensions into a Table's rows and columns:
// 0-D → 1×1, 1-D → N×1, 2-D as is, more → N×prod(rest).
func tableShape(dims []int64) (rows, cols int, shape []int, err error) {
	shape = make([]int, len(dims))
	total := int64(1)
	for i, d := range dims {
		if d < 0 {
			return 0, 0, nil, fmt.Errorf("negative dimension %d in shape %v", d, dims)
		}
		if d > maxElements {
			return 0, 0, nil, fmt.Errorf("shape %v is too large (limit %d values)", dims, int64(maxElements))
		}
		shape[i] = int(d)
		if total != 0 && d != 0 && total > maxElements/d {
			return 0, 0, nil, fmt.Errorf("shape %v is too large (limit %d values)", dims, int64(maxElements))
		}
		total *= d
	}
	switch len(dims) {
	case 0:
		rows, cols = 1, 1
	case 1:
		rows, cols = shape[0], 1
	default:
		rows = shape[0]
		cols = 1
		for _, d := range shape[1:] {
			cols *= d
		}
	}
	if rows == 0 {
		return 0, 0, nil, fmt.Errorf("no rows: shape %v", dims)
	}
	if cols == 0 {
		return 0, 0, nil, fmt.Errorf("no columns: shape %v", dims)
	}
	return rows, cols, shape, nil
}

// errTruncated reports array data that ends early.
type errTruncated struct{ want, have int64 }

func (e *errTruncated) Error() string {
	return fmt.Sprintf("truncated data: expected %d bytes of array data, found %d", e.want, e.have)
}

// readValues reads n values of size bytes each from r and decodes them with
// decode, which must fill len(src)/size values of dst. sz says what is known
// of the bytes left in r: when the exact count is known and too small the
// call fails before allocating; when it is known or a hint says the data is
// there, the result is allocated once; otherwise it grows as data arrives.
// Trailing bytes after the n values are not read.
func readValues(r io.Reader, n int64, size int, sz sizeInfo, decode func(dst []float32, src []byte)) ([]float32, error) {
	need := n * int64(size)
	if sz.avail >= 0 && sz.avail < need {
		return nil, &errTruncated{need, sz.avail}
	}
	var out []float32
	if sz.avail >= 0 || sz.hint >= need {
		out = make([]float32, 0, n)
	} else {
		out = make([]float32, 0, min(n, growChunk))
	}
	buf := make([]byte, min(int64(readChunk), need))
	var got int64
	for got < need {
		lim := int(min(int64(len(buf)), need-got))
		m, err := readFull(r, buf[:lim])
		if err != nil {
			if err == io.EOF {
				return nil, &errTruncated{need, got + int64(m)}
			}
			return nil, err
		}
		k := lim / size
		if cap(out)-len(out) < k {
			// Grow geometrically but never past n.
			c := min(max(2*cap(out), len(out)+k), int(n))
			grown := make([]float32, len(out), c)
			copy(grown, out)
			out = grown
		}
		decode(out[len(out):len(out)+k], buf[:lim])
		out = out[:len(out)+k]
		got += int64(lim)
	}
	return out, nil
}

// maxDeflateRatio bounds how much deflate can expand its input (258-byte
// matches coded in 2 bits): a gzip stream of c bytes holds at most about
// 1032·c bytes.
const maxDeflateRatio = 1032

// gzipSizeHint returns the uncompressed size that the gzip stream about to be
// read from r says it has in its trailer (ISIZE, the size modulo 2^32),
// capped at what its compressed size could hold. It returns -1 when r is not
// at the start of a gzip stream or cannot be inspected without reading it.
func gzipSizeHint(r io.Reader) int64 {
	rem := remaining(r)
	if rem < 18 { // 10-byte header + 8-byte trailer
		return -1
	}
	var ra io.ReaderAt
	var total int64
	switch v := r.(type) {
	case *os.File:
		st, err := v.Stat()
		if err != nil {
			return -1
		}
		ra, total = v, st.Size()
	case interface {
		io.ReaderAt
		Size() int64
	}:
		ra, total = v, v.Size()
	default:
		return -1
	}
	var b [4]byte
	if _, err := ra.ReadAt(b[:2], total-rem); err != nil || !isGzip(b[:2]) {
		return -1
	}
	if _, err := ra.ReadAt(b[:], total-4); err != nil {
		return -1
	}
	isize := int64(binary.LittleEndian.Uint32(b[:]))
	return min(isize, maxDeflateRatio*rem)
}

// readFull is io.ReadFull except that a stream ending early returns io.EOF
// (with the count read so far) while errors from r, including an
// io.ErrUnexpectedEOF of its own, come back unchanged.
func readFull(r io.Reader, p []byte) (int, error) {
	n, stalls := 0, 0
	for n < len(p) {
		k, err := r.Read(p[n:])
		n += k
		if n == len(p) {
			return n, nil
		}
		if err != nil {
			return n, err
		}
		if k == 0 {
			if stalls++; stalls > 100 {
				return n, io.ErrNoProgress
			}
		} else {
			stalls = 0
		}
	}
	return n, nil
}

// readHeader reads exactly len(p) header bytes (what names them), reporting
// a short read as a truncated header.
func readHeader(r io.Reader, p []byte, what string) error {
	n, err := readFull(r, p)
	if err == io.EOF {
		return fmt.Errorf("truncated header: expected %d bytes of %s, found %d", len(p), what, n)
	}
	return err
}

// isTruncated reports whether err is a truncation error from readValues.
func isTruncated(err error) bool {
	var e *errTruncated
	return errors.As(err, &e)
}
