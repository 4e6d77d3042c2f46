package dataset

import (
	"compress/gzip"
	"fmt"
	"io"
	"os"
)

// cursor reads the rows of one span of a file.
type cursor struct {
	sf  *inputFile
	f   *os.File
	zr  *gzip.Reader // when compressed
	r   io.Reader    // the content, for compressed and CSV files
	csv *csvRows
	col *colCursor // registered formats: Parquet and Arrow files
	row int64      // next row of the file
	end int64      // row to stop before, or -1: the end of the file
	// done closes f, when it is not f.Close (a pipe: standard input stays
	// open).
	done func() error
}

// openCursor opens the file of sp and positions it at sp.from.
func (rd *Reader) openCursor(sp span) (c *cursor, err error) {
	sf := rd.files[sp.file]
	if sf.live != nil {
		return rd.pipeCursor(sf, sp)
	}
	if sf.kind.external() {
		return rd.openColumnarCursor(sf, sp)
	}
	f, err := os.Open(sf.path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", sf.path, unwrapPathError(err))
	}
	c = &cursor{sf: sf, f: f, end: sp.to}
	defer func() {
		if err != nil {
			c.close()
		}
	}()
	if sf.kind != formatCSV && !sf.gz {
		c.row = sp.from // read with ReadAt
		return c, nil
	}
	if c.r, c.zr, err = sf.open(f, false); err != nil {
		return nil, err
	}
	if sf.kind == formatCSV {
		if c.csv, err = newCSVRows(c.r, sf.idColumn); err != nil {
			return nil, fmt.Errorf("read %s: %w", sf.path, err)
		}
		for c.row < sp.from {
			if _, _, err := c.csv.next(); err != nil {
				return nil, c.csvEOF(err)
			}
			c.row++
		}
		return c, nil
	}
	// Compressed .npy or IDX: skip the header and the rows before from.
	skip := sf.dataOff + sp.from*int64(sf.cols)*int64(sf.et.size)
	n, err := io.CopyN(io.Discard, c.r, skip)
	if err == io.EOF {
		return nil, sf.truncated(n)
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", sf.path, err)
	}
	c.row = sp.from
	return c, nil
}

// pipeCursor continues reading a pipe where probeFile stopped, after its
// header, skipping the rows before sp.from.
func (rd *Reader) pipeCursor(sf *inputFile, sp span) (c *cursor, err error) {
	l := sf.live
	if l.used {
		return nil, fmt.Errorf("read %s: a pipe can be read only once, and it has been", sf.path)
	}
	l.used = true
	c = &cursor{sf: sf, f: l.f, zr: l.zr, r: l.r, csv: l.csv, end: sp.to, done: l.done}
	defer func() {
		if err != nil {
			c.close()
		}
	}()
	if sf.kind == formatCSV {
		for c.row < sp.from {
			if _, _, err := c.csv.next(); err != nil {
				return nil, c.csvEOF(err)
			}
			c.row++
		}
		return c, nil
	}
	skip := sp.from * int64(sf.cols) * int64(sf.et.size)
	n, err := io.CopyN(io.Discard, c.r, skip)
	if err == io.EOF {
		return nil, sf.truncated(sf.dataOff + n)
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", sf.path, err)
	}
	c.row = sp.from
	return c, nil
}

// csvEOF turns the end of a CSV file before the rows counted at open into
// an error; other errors are wrapped with the file name.
func (c *cursor) csvEOF(err error) error {
	if err == io.EOF {
		return fmt.Errorf("read %s: the file ends after %d rows, but it had %d when the stream was opened (did it change?)", c.sf.path, c.row, c.sf.rows)
	}
	return fmt.Errorf("read %s: %w", c.sf.path, err)
}

// read reads up to len(dst)/cols rows into dst, using buf to decode binary
// data; lines (CSV only) receives each row's line, ids (Parquet and Arrow,
// when not nil) each row's id. It returns io.EOF, with 0 rows, when the
// span is done.
func (c *cursor) read(dst []float32, buf []byte, lines []int, ids []string) (int, error) {
	sf := c.sf
	if c.col != nil {
		return c.readColumnar(dst, ids)
	}
	cols := sf.cols
	k := len(dst) / cols
	if c.end >= 0 {
		k = int(min(int64(k), c.end-c.row))
	}
	if sf.kind == formatCSV {
		n := 0
		for ; n < k; n++ {
			rec, line, err := c.csv.next()
			if err == io.EOF && c.end < 0 {
				break
			}
			if err != nil {
				return n, c.csvEOF(err)
			}
			if err := c.csv.parse(rec, line, dst[n*cols:(n+1)*cols]); err != nil {
				return n, fmt.Errorf("read %s: %w", sf.path, err)
			}
			if ids != nil {
				ids[n] = c.csv.id(rec)
			}
			lines[n] = line
			c.row++
		}
		if n == 0 {
			return 0, c.finish()
		}
		return n, nil
	}
	if k == 0 {
		return 0, c.finish()
	}
	dst = dst[:k*cols]
	if c.r == nil { // an uncompressed regular file
		if err := readBinaryAt(c.f, sf, c.row, dst, buf); err != nil {
			return 0, err
		}
		c.row += int64(k)
		return k, nil
	}
	size := sf.et.size
	need := len(dst) * size
	pos := sf.dataOff + c.row*int64(cols)*int64(size)
	for done := 0; done < need; {
		m := min(len(buf), need-done)
		got, err := readFull(c.r, buf[:m])
		if err == io.EOF {
			return 0, sf.truncated(pos + int64(done+got))
		}
		if err != nil {
			return 0, fmt.Errorf("read %s: %w", sf.path, err)
		}
		sf.dec(dst[done/size:(done+m)/size], buf[:m])
		done += m
	}
	c.row += int64(k)
	return k, nil
}

// finish ends a span: when a compressed file has been read to its end, the
// rest of it is read so that its checksum is verified. It returns io.EOF or
// the error found.
func (c *cursor) finish() error {
	if c.zr != nil && (c.end < 0 || c.end == c.sf.rows) {
		if err := drainGzip(c.zr); err != nil {
			return fmt.Errorf("read %s: %w", c.sf.path, err)
		}
	}
	return io.EOF
}

// close releases the cursor's file.
func (c *cursor) close() error {
	if c.zr != nil {
		c.zr.Close()
	}
	if c.done != nil {
		return c.done()
	}
	return c.f.Close()
}

// readBinaryAt decodes len(dst)/sf.cols rows of the uncompressed binary
// file f (described by sf), starting at row, into dst.
func readBinaryAt(f *os.File, sf *inputFile, row int64, dst []float32, buf []byte) error {
	size := sf.et.size
	need := len(dst) * size
	off := sf.dataOff + row*int64(sf.cols)*int64(size)
	for done := 0; done < need; {
		m := min(len(buf), need-done)
		got, err := f.ReadAt(buf[:m], off+int64(done))
		if got < m {
			if err == nil || err == io.EOF {
				end := off + int64(done+got)
				if st, err := f.Stat(); err == nil && st.Size() < end {
					end = st.Size() // the read began past the end
				}
				return sf.truncated(end)
			}
			return fmt.Errorf("read %s: %w", sf.path, unwrapPathError(err))
		}
		sf.dec(dst[done/size:(done+m)/size], buf[:m])
		done += m
	}
	return nil
}
