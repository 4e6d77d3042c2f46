package main

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/aegpu/aegpu/autoencoder"
	"github.com/aegpu/aegpu/dataset"
)

// The flags that copy each row's identity into the outputs, so results
// join back to the source table.
var (
	idColumnFlag  = &cli.StringFlag{Name: "id-column", Usage: "copy this `COLUMN` of Parquet/Arrow input (text or integers) or of a CSV file (named in its header line) into every output beside each row, as text: a leading column, or for .npy a FILE.ids.csv beside it; it is not a feature"}
	withIndexFlag = &cli.BoolFlag{Name: "with-index", Usage: "copy each row's 0-based row number in the input into every output, as --id-column does (column \"row\")"}
)

// checkIDFlags refuses combinations whose ids would not join back.
func checkIDFlags(c *cli.Context) error {
	switch {
	case c.String("id-column") != "" && c.Bool("with-index"):
		return fmt.Errorf("--id-column and --with-index both name the rows: give one")
	case c.Bool("with-index") && c.String("nan") == "skip":
		return fmt.Errorf("--with-index with --nan skip: the rows left out would shift the row numbers after them; use --nan zero, or an --id-column")
	}
	return nil
}

// rowIDs returns the name and values of the ids the outputs of an
// in-memory table carry ("" when none was asked for).
func rowIDs(c *cli.Context, t *dataset.Table) (string, []string) { return rowIDsFrom(c, t, 0) }

// rowIDsFrom is rowIDs for a table whose first row is row lo of the
// whole (a shard): --with-index numbers the rows from lo.
func rowIDsFrom(c *cli.Context, t *dataset.Table, lo int64) (string, []string) {
	switch {
	case c.String("id-column") != "":
		return c.String("id-column"), t.IDs
	case c.Bool("with-index"):
		ids := make([]string, t.Rows)
		for i := range ids {
			ids[i] = strconv.FormatInt(lo+int64(i), 10)
		}
		return "row", ids
	}
	return "", nil
}

// save writes rows × cols values to path, an output's temporary name from
// add, with ids when idName is set: a leading column, or for .npy an ids
// file beside it, which joins the outputs committed (or removed) together.
func (o *outputSet) save(path string, header []string, rows, cols int, data []float32, idName string, ids []string) error {
	if idName == "" {
		return dataset.Save(path, header, rows, cols, data)
	}
	w, err := dataset.NewWriterWith(path, cols, dataset.WriterOptions{Header: header, IDName: idName})
	if err != nil {
		return err
	}
	if err := w.WriteIDs(data, ids); err != nil {
		w.Abort()
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	if strings.EqualFold(filepath.Ext(path), ".npy") {
		for _, f := range o.files {
			if f.tmp == path {
				o.files = append(o.files, outputFile{flag: f.flag, path: dataset.IDsPath(f.path), tmp: dataset.IDsPath(path)})
				break
			}
		}
	}
	return nil
}

// indexSource numbers the rows of a RowSource from start: the ids of
// --with-index for encode.
type indexSource struct {
	autoencoder.RowSource
	next, rows int64 // rows: how many the source holds (-1: unknown)
}

func (s *indexSource) HasIDs() bool { return true }
func (s *indexSource) Rows() int64  { return s.rows }

func (s *indexSource) ReadIDs(dst []float32, ids []string) (int, error) {
	n, err := s.Read(dst[:min(len(dst), len(ids)*s.Cols())])
	for i := range n {
		ids[i] = strconv.FormatInt(s.next+int64(i), 10)
	}
	s.next += int64(n)
	return n, err
}
