package dataset

import (
	"bytes"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
)

// Formats that other packages read and write register themselves here, as
// database/sql drivers do: dataset knows them by name and magic number,
// and Load, OpenReader, NewWriter and Save hand such files to the
// registered Format. Parquet and Arrow IPC are registered by
// github.com/aegpu/aegpu/dataset/columnar, which a program imports (for its
// side effect) to read and write them; without it those files are
// recognised and refused with a message that names the import. This keeps
// the Parquet library out of every binary that does not ask for it.

// ColumnarImport is the package that registers Parquet and Arrow IPC.
const ColumnarImport = "github.com/aegpu/aegpu/dataset/columnar"

// Format is a file format registered with RegisterFormat. Its files are
// regular, uncompressed files read by offset (no pipe, no .gz) in blocks
// (Parquet row groups, Arrow record batches), and they select their
// features by column (ReaderOptions.Columns, IDColumn).
type Format struct {
	// Title names a file of the format in messages: "a Parquet file".
	Title string
	// Extensions are the names' suffixes, lower case with the dot
	// (".parquet"); Magic, if not nil, the first bytes of every file.
	Extensions []string
	Magic      []byte
	// Open reads the footer of f (the caller keeps f open while the
	// Source is used) and selects its features as opt says.
	Open func(f *os.File, opt ColumnOptions) (Source, error)
	// Create, if not nil, starts a file of cols values per row in f, an
	// empty temporary file that the Writer renames once the RowWriter is
	// closed; nil: the format is read only.
	Create func(f *os.File, cols int, opt WriterOptions) (RowWriter, error)
}

// ColumnOptions are the options of a reader that a Format applies: see
// ReaderOptions.
type ColumnOptions struct {
	Columns  []string
	IDColumn string
}

// Source is an open file of a registered Format.
type Source interface {
	// Cols is the number of values of a row; Header their names; Skipped
	// the columns left out because they cannot be features (only when no
	// selection was given).
	Cols() int
	Header() []string
	Skipped() []string
	// Blocks returns the number of rows of each block.
	Blocks() []int64
	// ReadBlocks reads the rows of blocks [b0, b1), in order.
	ReadBlocks(b0, b1 int) (BlockReader, error)
	// Close releases the source (not the file).
	Close() error
}

// BlockReader reads the rows of a run of blocks.
type BlockReader interface {
	// Next reads at least one and up to len(dst)/cols rows into dst and,
	// when ids is not nil, their ids (as text) into ids (which then limits
	// the rows too); io.EOF after the last row. Nulls are NaN.
	Next(dst []float32, ids []string) (int, error)
	Close()
}

// RowWriter writes rows to a file of a registered Format.
type RowWriter interface {
	// WriteRows appends rows (a multiple of cols values) and, when the
	// writer has an id column, one id per row.
	WriteRows(rows []float32, ids []string) error
	// Close completes the file (its footer); it does not close the file.
	Close() error
}

// registered is a format known to dataset; f.Open is nil until the package
// that reads it registers it.
type registered struct {
	name string
	f    Format
}

var (
	formatsMu sync.RWMutex
	// formats are the registered formats; the kind of formats[i] is
	// formatExternal+i. Parquet and Arrow stand here unregistered, so that
	// their files are recognised and refused with a message that helps.
	formats = []*registered{
		{"parquet", Format{Title: "a Parquet file", Extensions: []string{".parquet", ".parq"}, Magic: []byte("PAR1")}},
		{"arrow", Format{Title: "an Arrow IPC file", Extensions: []string{".arrow", ".feather", ".ipc"}, Magic: []byte("ARROW1")}},
	}
)

// RegisterFormat makes a file format readable (and, with Create, writable)
// by Load, OpenReader, NewWriter and Save. It is meant to be called from an
// init function; it panics when f has no Open or name is registered twice.
func RegisterFormat(name string, f Format) {
	if f.Open == nil || name == "" || f.Title == "" || len(f.Extensions) == 0 {
		panic("dataset: RegisterFormat " + name + ": a format needs a name, a title, extensions and Open")
	}
	formatsMu.Lock()
	defer formatsMu.Unlock()
	for _, r := range formats {
		if r.name == name {
			if r.f.Open != nil {
				panic("dataset: RegisterFormat called twice for " + name)
			}
			r.f = f
			return
		}
	}
	formats = append(formats, &registered{name: name, f: f})
}

// formatExternal is the kind of formats[0].
const formatExternal format = 16

// external reports whether k is a registered (or known but unregistered)
// format.
func (k format) external() bool { return k >= formatExternal }

// ext returns the registration of an external kind.
func (k format) ext() *registered {
	formatsMu.RLock()
	defer formatsMu.RUnlock()
	return formats[k-formatExternal]
}

// externalByName returns the kind of a registered format by a file's base
// name (lower case), or formatUnknown.
func externalByName(base string) format {
	formatsMu.RLock()
	defer formatsMu.RUnlock()
	for i, r := range formats {
		if slices.ContainsFunc(r.f.Extensions, func(e string) bool { return strings.HasSuffix(base, e) }) {
			return formatExternal + format(i)
		}
	}
	return formatUnknown
}

// externalByMagic returns the kind of a registered format by the first
// bytes of a file, or formatUnknown.
func externalByMagic(p []byte) format {
	formatsMu.RLock()
	defer formatsMu.RUnlock()
	for i, r := range formats {
		if r.f.Magic != nil && bytes.HasPrefix(p, r.f.Magic) {
			return formatExternal + format(i)
		}
	}
	return formatUnknown
}

// writableByExt returns the registered format that writes files of
// extension ext (lower case), or nil and the unregistered one that would.
func writableByExt(ext string) (w, missing *registered) {
	formatsMu.RLock()
	defer formatsMu.RUnlock()
	for _, r := range formats {
		if slices.Contains(r.f.Extensions, ext) {
			if r.f.Open == nil {
				return nil, r
			}
			if r.f.Create != nil {
				return r, nil
			}
		}
	}
	return nil, nil
}

// writableExts lists the output extensions for messages: ".npy or .csv",
// and those of the registered formats that write.
func writableExts() string {
	exts := []string{".npy", ".csv"}
	formatsMu.RLock()
	for _, r := range formats {
		if r.f.Create != nil {
			exts = append(exts, r.f.Extensions...)
		}
	}
	formatsMu.RUnlock()
	return strings.Join(exts[:len(exts)-1], ", ") + " or " + exts[len(exts)-1]
}

// open opens f with the registered format, or says that this program was
// built without it.
func (r *registered) open(f *os.File, opt ColumnOptions) (Source, error) {
	if r.f.Open == nil {
		return nil, r.missing()
	}
	return r.f.Open(f, opt)
}

// missing is the error for a format whose package is not linked in.
func (r *registered) missing() error {
	return fmt.Errorf("%s, and this program was built without Parquet/Arrow support: importing %q (import _ %q) adds it",
		r.f.Title, ColumnarImport, ColumnarImport)
}
