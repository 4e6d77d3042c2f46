//go:build amd64 && !noasm

package cpu_fallback

// Assembly packing routines (pack_amd64.s); see packFast.

//go:noescape
func packT8(dst, src *float32, rs, dstride, k8 int)

//go:noescape
func packT6(dst, src *float32, rs, k8 int)

//go:noescape
func packC16(dst, src *float32, cs, k int)

//go:noescape
func packC6(dst, src *float32, cs, k int)

//go:noescape
func packT6S(dst, src *float32, rs, dstride, k8 int)

//go:noescape
func packC32(dst, src *float32, cs, k int)

//go:noescape
func packC14(dst, src *float32, cs, k int)

// packFast packs a whole panel (ni == w) with the assembly routines when it
// can and reports whether it did; the result is packPanel's, bit for bit
// (pure data movement). Bounds are checked here, once per panel. Panel
// widths: 6 and 16 (AVX2 kernel), 14 and 32 (AVX-512 kernel).
func packFast(dst, s []float32, i0, ni, w, k, rs, cs int) bool {
	if active.path == pathGeneric || ni != w || k == 0 {
		return false
	}
	last := i0*rs + (w-1)*rs + (k-1)*cs // S(i0+w−1, k−1)
	if i0 < 0 || rs < 0 || cs < 0 || last >= len(s) || len(dst) < w*k {
		return false
	}
	switch {
	case cs == 1 && rs >= k: // rows of S contiguous: transpose
		k8 := k / 8
		src := s[i0*rs:]
		switch w {
		case 16, 32:
			if k8 > 0 {
				for q := 0; q < w; q += 8 {
					packT8(&dst[q], &src[q*rs], rs, w, k8)
				}
			}
		case 6:
			if k8 > 0 {
				packT6(&dst[0], &src[0], rs, k8)
			}
		case 14:
			if k8 > 0 {
				packT8(&dst[0], &src[0], rs, w, k8)
				packT6S(&dst[8], &src[8*rs], rs, w, k8)
			}
		default:
			return false
		}
		for p := 8 * k8; p < k; p++ {
			d := dst[p*w:][:w]
			for i := range d {
				d[i] = src[i*rs+p]
			}
		}
		return true
	case rs == 1: // w consecutive elements per p
		switch {
		case w == 16:
			packC16(&dst[0], &s[i0], cs, k)
		case w == 6:
			packC6(&dst[0], &s[i0], cs, k)
		case w == 32 && hasAVX512:
			packC32(&dst[0], &s[i0], cs, k)
		case w == 14:
			packC14(&dst[0], &s[i0], cs, k)
		default:
			return false
		}
		return true
	}
	return false
}
