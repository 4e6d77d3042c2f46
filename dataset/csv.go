package dataset

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/aegpu/aegpu/internal/atomicfile"
)

// ReadCSV reads comma-separated numbers from r, one sample per line. name is
// used in error messages.
//
// The first row is a header when any of its fields is not a number. Fields
// may be surrounded by spaces; blank lines and lines starting with '#' are
// skipped; "nan", "inf" and "-inf" (any case) are read as values, to be dealt
// with by Load's NaN policy. Every row must have as many fields as the
// first. The input is streamed, never held whole as text.
func ReadCSV(r io.Reader, name string) (*Table, error) {
	t, err := readCSV(r, sizeOf(r), "")
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	return t, nil
}

// readCSV reads CSV from r; sz says what is known of its size, to size the
// result. idColumn, when not "", names the header's column of row ids.
func readCSV(r io.Reader, sz sizeInfo, idColumn string) (*Table, error) {
	left := sz.avail
	if left < 0 {
		left = sz.hint
	}
	c, err := newCSVRows(r, idColumn)
	if err != nil {
		return nil, err
	}
	if c.fields == 0 {
		return nil, fmt.Errorf("no rows: the file is empty")
	}
	t := &Table{Cols: c.cols, Header: c.header, idField: c.idCol + 1}
	for {
		rec, line, err := c.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		n := len(t.Data)
		t.Data = slices.Grow(t.Data, t.Cols)[:n+t.Cols]
		if err := c.parse(rec, line, t.Data[n:]); err != nil {
			return nil, err
		}
		if c.idCol >= 0 {
			t.IDs = append(t.IDs, c.id(rec))
		}
		t.lines = append(t.lines, line)
		t.Rows++
		if t.Rows == 1 && left > 0 {
			// Size the result from the bytes read so far (the header and
			// the first row), plus a margin, never beyond one value per two
			// bytes (the shortest "0,").
			rowBytes := max(c.cr.InputOffset(), 1)
			est := min((left/rowBytes)*5/4+16, left/int64(2*c.fields)+1)
			if est*int64(t.Cols) <= maxElements {
				data := make([]float32, len(t.Data), int(est)*t.Cols)
				copy(data, t.Data)
				t.Data = data
				t.lines = make([]int, 1, est)
				t.lines[0] = line
			}
		}
	}
	if t.Rows == 0 {
		return nil, fmt.Errorf("no rows: the file has a header but no data")
	}
	t.Shape = []int{t.Rows, t.Cols}
	return t, nil
}

// csvWidthError reports a row of got fields at line where want were
// expected (as in the header, or else the first row).
func csvWidthError(line, want, got int, header bool) error {
	what := "the first row"
	if header {
		what = "the header"
	}
	return fmt.Errorf("line %d: expected %d columns (as in %s), found %d", line, want, what, got)
}

// parseCSVField parses field i (0-based) of the row at line, feature j, as
// a float32. header, when not nil, names the features for the error
// message.
func parseCSVField(f string, line, i, j int, header []string) (float32, error) {
	v, err := strconv.ParseFloat(strings.TrimSpace(f), 32)
	if err != nil {
		col := fmt.Sprintf("column %d", i+1)
		if j < len(header) {
			col += fmt.Sprintf(" (%q)", header[j])
		}
		why := "not a number"
		if errors.Is(err, strconv.ErrRange) {
			why = "out of float32 range"
		}
		return 0, fmt.Errorf("line %d, %s: %s: %q", line, col, why, clip(f, 40))
	}
	return float32(v), nil
}

// appendCSVRow appends row as one line of comma-separated numbers, each in
// strconv's 'g' format at float32 precision (so that parsing gives back the
// same value), followed by a newline.
func appendCSVRow(buf []byte, row []float32) []byte {
	for c, v := range row {
		if c > 0 {
			buf = append(buf, ',')
		}
		buf = strconv.AppendFloat(buf, float64(v), 'g', -1, 32)
	}
	return append(buf, '\n')
}

// allNumeric reports whether every field parses as a number.
func allNumeric(rec []string) bool {
	for _, f := range rec {
		if _, err := strconv.ParseFloat(strings.TrimSpace(f), 32); err != nil && !errors.Is(err, strconv.ErrRange) {
			return false
		}
	}
	return true
}

// WriteCSV writes rows×cols values to path as comma-separated text, preceded
// by a header line when header is not nil (it must then hold cols names).
// Numbers are formatted with strconv's 'g' format at float32 precision, so
// ReadCSV gives back exactly the same values. The file is written to a
// temporary name and renamed into place.
func WriteCSV(path string, header []string, rows, cols int, data []float32) error {
	if err := checkDims(rows, cols, data); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if header != nil && len(header) != cols {
		return fmt.Errorf("write %s: header has %d names for %d columns", path, len(header), cols)
	}
	if cols == 0 {
		return fmt.Errorf("write %s: no columns", path)
	}
	return atomicfile.Write(path, func(w io.Writer) error {
		if header != nil {
			cw := csv.NewWriter(w)
			if err := cw.Write(header); err != nil {
				return err
			}
			cw.Flush()
			if err := cw.Error(); err != nil {
				return err
			}
		}
		buf := make([]byte, 0, 64<<10)
		for r := 0; r < rows; r++ {
			buf = appendCSVRow(buf, data[r*cols:(r+1)*cols])
			if len(buf) > 60<<10 {
				if _, err := w.Write(buf); err != nil {
					return err
				}
				buf = buf[:0]
			}
		}
		_, err := w.Write(buf)
		return err
	})
}
