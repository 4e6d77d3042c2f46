package dataset

import (
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"fmt"
	"io"
)

// idxTypes maps the IDX type byte to the element type it stores. IDX data is
// big-endian.
var idxTypes = [256]elemType{
	0x08: {kind: 'u', size: 1},
	0x09: {kind: 'i', size: 1},
	0x0B: {kind: 'i', size: 2, big: true},
	0x0C: {kind: 'i', size: 4, big: true},
	0x0D: {kind: 'f', size: 4, big: true},
	0x0E: {kind: 'f', size: 8, big: true},
}

// ReadIDX reads an IDX file (the format of the MNIST and Fashion-MNIST
// files) from r, decompressing it first when it starts with the gzip magic
// number. name is used in error messages.
//
// Values are returned as stored: MNIST pixels are 0…255, not scaled. Label
// files (1-D) give a single column; image files [N, H, W] give N rows of H×W
// values with Shape [N H W]. Bytes after the array are ignored, but a gzip
// stream is read to its end so that its checksum is verified.
func ReadIDX(r io.Reader, name string) (*Table, error) {
	sz := sizeOf(r)
	hint := gzipSizeHint(r)
	br := bufio.NewReaderSize(r, 64<<10)
	head, _ := br.Peek(2)
	if !isGzip(head) {
		t, err := readIDX(br, sz)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", name, err)
		}
		return t, nil
	}
	zr, err := gzip.NewReader(br)
	if err != nil {
		return nil, fmt.Errorf("read %s: corrupt gzip stream: %w", name, err)
	}
	defer zr.Close()
	t, err := readIDX(gzipErrors{zr}, sizeInfo{avail: -1, hint: hint})
	if err != nil {
		// A damaged stream can decode to garbage that fails to parse; the
		// damage is then the error to report.
		if derr := drainGzip(zr); derr != nil {
			err = derr
		}
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	if err := drainGzip(zr); err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	return t, nil
}

// readIDX reads an uncompressed IDX stream; sz says what is known of its
// size.
func readIDX(r io.Reader, sz sizeInfo) (*Table, error) {
	et, dims, _, err := readIDXHeader(r, &sz)
	if err != nil {
		return nil, err
	}
	rows, cols, shape, err := tableShape(dims)
	if err != nil {
		return nil, err
	}
	data, err := readValues(r, int64(rows)*int64(cols), et.size, sz, et.decoder())
	if err != nil {
		if isTruncated(err) {
			return nil, fmt.Errorf("%w (shape %v)", err, dims)
		}
		return nil, err
	}
	return &Table{Rows: rows, Cols: cols, Data: data, Shape: shape}, nil
}

// readIDXHeader reads and checks an uncompressed IDX header (magic number
// and dimensions) from r, leaving r at the first byte of data. It returns the
// element type, the dimensions and the header's length in bytes. sz is
// updated for the bytes consumed.
func readIDXHeader(r io.Reader, sz *sizeInfo) (elemType, []int64, int64, error) {
	var none elemType
	var magic [4]byte
	n, err := readFull(r, magic[:])
	if err == io.EOF {
		if n == 0 {
			return none, nil, 0, fmt.Errorf("not an IDX file: empty")
		}
		if magic[0] != 0 || (n > 1 && magic[1] != 0) {
			return none, nil, 0, fmt.Errorf("not an IDX file: bad magic % x (want 00 00 <type> <ndims>)", magic[:n])
		}
		return none, nil, 0, fmt.Errorf("truncated header: expected 4 bytes of magic number, found %d", n)
	}
	if err != nil {
		return none, nil, 0, err
	}
	if magic[0] != 0 || magic[1] != 0 {
		return none, nil, 0, fmt.Errorf("not an IDX file: bad magic % x (want 00 00 <type> <ndims>)", magic)
	}
	et := idxTypes[magic[2]]
	if et.size == 0 {
		return none, nil, 0, fmt.Errorf("unsupported IDX data type 0x%02x (want 0x08 ubyte, 0x09 int8, 0x0b int16, 0x0c int32, 0x0d float32 or 0x0e float64)", magic[2])
	}
	nd := int(magic[3])
	if nd == 0 {
		return none, nil, 0, fmt.Errorf("IDX header has 0 dimensions")
	}
	sz.consume(4)
	if sz.avail >= 0 && sz.avail < int64(4*nd) {
		return none, nil, 0, fmt.Errorf("truncated header: expected %d bytes of dimensions, found %d", 4*nd, sz.avail)
	}
	db := make([]byte, 4*nd)
	if err := readHeader(r, db, "dimensions"); err != nil {
		return none, nil, 0, err
	}
	dims := make([]int64, nd)
	for i := range dims {
		dims[i] = int64(binary.BigEndian.Uint32(db[4*i:]))
	}
	sz.consume(int64(4 * nd))
	return et, dims, int64(4 + 4*nd), nil
}
