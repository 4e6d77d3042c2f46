package dataset

import (
	"fmt"
	"io"
	"os"
)

// sniffColumnar tells whether the regular file f is a Parquet or Arrow IPC
// file, by its name or, when the name says nothing, its magic number. A
// pipe or a gzip-compressed file is never taken for one here.
func sniffColumnar(f *os.File, path string) format {
	if isPipeFile(f, path) {
		return formatUnknown
	}
	var head [8]byte
	n, _ := f.ReadAt(head[:], 0)
	if isGzip(head[:n]) {
		return formatUnknown
	}
	if k := formatByName(path); k != formatUnknown {
		return k
	}
	return formatByMagic(head[:n])
}

// columnarNeedsFile reports Parquet or Arrow input that is not a regular,
// uncompressed file.
func columnarNeedsFile(path string, pipe bool) error {
	if pipe {
		return fmt.Errorf("read %s: Parquet and Arrow files are read by offset (their index is at the end), and this is a pipe, which can only be read once from its start: save it to a file", path)
	}
	return fmt.Errorf("read %s: a gzip-compressed Parquet or Arrow file: decompress it first (these formats compress inside, e.g. with snappy or zstd)", path)
}

// loadColumnar is Load for a Parquet or Arrow IPC file: the file is read
// through a Reader, so that both take the same path from the file's
// columns to rows.
func loadColumnar(path string, opt LoadOptions) (*Table, error) {
	rd, err := OpenReader([]string{path}, ReaderOptions{NaN: opt.NaN, Columns: opt.Columns, IDColumn: opt.IDColumn})
	if err != nil {
		return nil, err
	}
	defer rd.Close()
	rows := rd.Rows()
	if rows == 0 {
		return nil, fmt.Errorf("read %s: no rows: the file has columns but no rows", path)
	}
	if rows*int64(rd.Cols()) > maxElements {
		return nil, fmt.Errorf("read %s: %d rows of %d values are too many to load at once (limit %d values): stream it instead", path, rows, rd.Cols(), int64(maxElements))
	}
	t := &Table{Cols: rd.Cols(), Data: make([]float32, int(rows)*rd.Cols()), Header: rd.Header(), Skipped: rd.Skipped()}
	if opt.IDColumn != "" {
		t.IDs = make([]string, rows)
	}
	n := 0
	for n < int(rows) {
		var ids []string
		if t.IDs != nil {
			ids = t.IDs[n:]
		}
		k, err := rd.ReadIDs(t.Data[n*t.Cols:], ids)
		n += k
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	if n == 0 {
		return nil, fmt.Errorf("read %s: no rows left: every one of the %d rows holds a NaN, an Inf or a null", path, rows)
	}
	t.Rows, t.Data = n, t.Data[:n*t.Cols]
	if t.IDs != nil {
		t.IDs = t.IDs[:n]
	}
	t.Shape = []int{n, t.Cols}
	return t, nil
}
