package serve

import (
	"strconv"
	"unsafe"
)

// parseRows is the fast path of a JSON body: exactly {"rows": [[n, …], …]}
// (whitespace anywhere JSON allows it) with every row cols numbers wide.
// It appends the values to dst and returns them with the row count; ok is
// false for anything else (another key, a wrong width, a value that is not
// a number or out of float32's range, bad syntax), which the caller hands
// to encoding/json for its answer. The values are those encoding/json
// reads into float32 (strconv.ParseFloat(s, 32)).
func parseRows(b []byte, cols int, dst []float32) (out []float32, rows int, ok bool) {
	p := 0
	ws := func() {
		for p < len(b) && (b[p] == ' ' || b[p] == '\t' || b[p] == '\n' || b[p] == '\r') {
			p++
		}
	}
	lit := func(s string) bool {
		ws()
		if len(b)-p < len(s) || string(b[p:p+len(s)]) != s {
			return false
		}
		p += len(s)
		return true
	}
	if !lit("{") || !lit(`"rows"`) || !lit(":") || !lit("[") {
		return dst, 0, false
	}
	ws()
	if p < len(b) && b[p] == ']' {
		return dst, 0, false // no rows: the slow path says so
	}
	for {
		if !lit("[") {
			return dst, 0, false
		}
		for c := 0; c < cols; c++ {
			if c > 0 && !lit(",") {
				return dst, 0, false
			}
			ws()
			s := p
			if p = number(b, p); p < 0 {
				return dst, 0, false
			}
			v, err := strconv.ParseFloat(unsafe.String(&b[s], p-s), 32)
			if err != nil {
				return dst, 0, false
			}
			dst = append(dst, float32(v))
		}
		if !lit("]") {
			return dst, 0, false
		}
		rows++
		ws()
		if p < len(b) && b[p] == ',' {
			p++
			continue
		}
		break
	}
	if !lit("]") || !lit("}") {
		return dst, 0, false
	}
	ws()
	return dst, rows, p == len(b)
}

// number returns the end of the JSON number at b[p:], or -1.
func number(b []byte, p int) int {
	digits := func() int {
		s := p
		for p < len(b) && b[p] >= '0' && b[p] <= '9' {
			p++
		}
		return p - s
	}
	if p < len(b) && b[p] == '-' {
		p++
	}
	switch {
	case p < len(b) && b[p] == '0':
		p++
	case digits() == 0:
		return -1
	}
	if p < len(b) && b[p] == '.' {
		p++
		if digits() == 0 {
			return -1
		}
	}
	if p < len(b) && (b[p] == 'e' || b[p] == 'E') {
		p++
		if p < len(b) && (b[p] == '+' || b[p] == '-') {
			p++
		}
		if digits() == 0 {
			return -1
		}
	}
	return p
}
