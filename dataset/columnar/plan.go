package columnar

import (
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
)

// Parquet and Arrow IPC files are columnar: every column (field) has a
// name and a type. A columnarPlan says which fields become a row's
// features, in which order, and which field holds the row ids.

// featureCol is one selected field: it fills width values of a row from
// column off on.
type featureCol struct {
	field int // index in the file's schema
	name  string
	width int // 1, or n for a fixed_size_list<number>[n]
	off   int
}

// columnarPlan maps a file's fields to a row of float32 features.
type columnarPlan struct {
	feats   []featureCol
	cols    int
	names   []string // one per feature: the field's name, or "name[i]" in a list
	idField int      // -1 when there is no id column
	skipped []string // fields neither selected nor the id (only when no selection was given)
	// fields are the schema indices a reader must read, ascending: the
	// features' and the id's.
	fields []int
}

// featureWidth returns how many features a field of type dt gives: 1 for
// a number, a boolean or a decimal, n for a fixed_size_list of those; 0
// when it cannot be a feature.
func featureWidth(dt arrow.DataType) int {
	if isNumericType(dt) {
		return 1
	}
	if fl, ok := dt.(*arrow.FixedSizeListType); ok && isNumericType(fl.Elem()) && fl.Len() > 0 {
		return int(fl.Len())
	}
	return 0
}

// isNumericType reports whether a value of type dt converts to one float32.
func isNumericType(dt arrow.DataType) bool {
	switch dt.ID() {
	case arrow.INT8, arrow.INT16, arrow.INT32, arrow.INT64,
		arrow.UINT8, arrow.UINT16, arrow.UINT32, arrow.UINT64,
		arrow.FLOAT16, arrow.FLOAT32, arrow.FLOAT64, arrow.BOOL,
		arrow.DECIMAL32, arrow.DECIMAL64, arrow.DECIMAL128, arrow.DECIMAL256:
		return true
	}
	return false
}

// isIDType reports whether a field of type dt can be the id column.
func isIDType(dt arrow.DataType) bool {
	switch dt.ID() {
	case arrow.STRING, arrow.LARGE_STRING, arrow.STRING_VIEW,
		arrow.INT8, arrow.INT16, arrow.INT32, arrow.INT64,
		arrow.UINT8, arrow.UINT16, arrow.UINT32, arrow.UINT64:
		return true
	}
	return false
}

// planColumns chooses the features of a file with schema sc: the fields
// that sel names (exact names or path.Match patterns such as "f_*", in the
// order given, each pattern's matches in file order), or, when sel is
// empty, every field that can be a feature. idCol, when not "", names the
// id column, which is never a feature.
func planColumns(sc *arrow.Schema, sel []string, idCol string) (*columnarPlan, error) {
	p := &columnarPlan{idField: -1}
	if idCol != "" {
		i := slices.IndexFunc(sc.Fields(), func(f arrow.Field) bool { return f.Name == idCol })
		if i < 0 {
			return nil, fmt.Errorf("no id column %q: the columns are %s", idCol, describeFields(sc))
		}
		if dt := sc.Field(i).Type; !isIDType(dt) {
			return nil, fmt.Errorf("id column %q is %s: want a string or an integer", idCol, dt)
		}
		p.idField = i
	}
	var chosen []int
	if len(sel) == 0 {
		for i, f := range sc.Fields() {
			switch {
			case i == p.idField:
			case featureWidth(f.Type) > 0:
				chosen = append(chosen, i)
			default:
				p.skipped = append(p.skipped, f.Name)
			}
		}
		if len(chosen) == 0 {
			return nil, fmt.Errorf("no numeric column: the columns are %s", describeFields(sc))
		}
	} else {
		var err error
		if chosen, err = selectFields(sc, sel, p.idField); err != nil {
			return nil, err
		}
	}
	for _, i := range chosen {
		f := sc.Field(i)
		w := featureWidth(f.Type)
		p.feats = append(p.feats, featureCol{field: i, name: f.Name, width: w, off: p.cols})
		p.cols += w
		if _, list := f.Type.(*arrow.FixedSizeListType); list {
			for j := range w {
				p.names = append(p.names, fmt.Sprintf("%s[%d]", f.Name, j))
			}
		} else {
			p.names = append(p.names, f.Name)
		}
		p.fields = append(p.fields, i)
	}
	if p.idField >= 0 {
		p.fields = append(p.fields, p.idField)
	}
	slices.Sort(p.fields)
	return p, nil
}

// selectFields resolves a column selection to schema indices, in the
// selection's order; a field matched twice is taken once, at its first
// place.
func selectFields(sc *arrow.Schema, sel []string, idField int) ([]int, error) {
	var out []int
	taken := make(map[int]bool)
	for _, pat := range sel {
		glob := strings.ContainsAny(pat, `*?[\`)
		if glob {
			if _, err := path.Match(pat, ""); err != nil {
				return nil, fmt.Errorf("bad column pattern %q: %w", pat, err)
			}
		}
		found := false
		for i, f := range sc.Fields() {
			ok := f.Name == pat
			if glob {
				ok, _ = path.Match(pat, f.Name)
			}
			if !ok {
				continue
			}
			found = true
			if i == idField {
				if glob {
					continue // a pattern does not pull the id column in
				}
				return nil, fmt.Errorf("column %q is the id column and cannot also be a feature", pat)
			}
			if featureWidth(f.Type) == 0 {
				return nil, fmt.Errorf("column %q is %s, which cannot be a feature: want a number, a boolean, a decimal or a fixed_size_list of them", f.Name, f.Type)
			}
			if !taken[i] {
				taken[i] = true
				out = append(out, i)
			}
		}
		if !found {
			what := "no column"
			if glob {
				what = "no column matches"
			}
			return nil, fmt.Errorf("%s %q: the columns are %s", what, pat, describeFields(sc))
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("the selection %q names no feature column", sel)
	}
	return out, nil
}

// describeFields lists a schema's fields with their types, for errors:
// "a (float), b (utf8)", cut after 20.
func describeFields(sc *arrow.Schema) string {
	var b strings.Builder
	for i, f := range sc.Fields() {
		if i == 20 {
			fmt.Fprintf(&b, ", … (%d in all)", sc.NumFields())
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s (%s)", f.Name, f.Type)
	}
	if sc.NumFields() == 0 {
		return "none"
	}
	return b.String()
}
