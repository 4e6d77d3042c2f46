// Package imagegrid writes rows of flattened images as one PNG: each input
// row of the grid is a list of images (e.g. inputs, noisy inputs,
// reconstructions), drawn left to right with a gap between cells.
package imagegrid

import (
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"

	"github.com/aegpu/aegpu/internal/atomicfile"
)

// Grid is rows of images; every image has H·W (grayscale) or H·W·3 (RGB,
// channels last) values, shown with 0 as black and 1 as white (values
// outside [0,1] are clamped).
type Grid struct {
	H, W, C int // C is 1 or 3
	Rows    [][][]float32
	Scale   int // pixels per value (≥ 1)
	Gap     int // pixels between cells
}

// Image renders the grid.
func (g Grid) Image() (*image.RGBA, error) {
	if g.H <= 0 || g.W <= 0 || (g.C != 1 && g.C != 3) {
		return nil, fmt.Errorf("image grid: bad image shape %dx%dx%d", g.H, g.W, g.C)
	}
	scale, gap := max(g.Scale, 1), max(g.Gap, 0)
	cols := 0
	for _, r := range g.Rows {
		cols = max(cols, len(r))
	}
	if len(g.Rows) == 0 || cols == 0 {
		return nil, fmt.Errorf("image grid: no images")
	}
	cw, ch := g.W*scale+gap, g.H*scale+gap
	img := image.NewRGBA(image.Rect(0, 0, cols*cw+gap, len(g.Rows)*ch+gap))
	bg := color.RGBA{40, 40, 48, 255}
	for i := range img.Pix {
		img.Pix[i] = []uint8{bg.R, bg.G, bg.B, bg.A}[i%4]
	}
	for r, row := range g.Rows {
		for c, cell := range row {
			if len(cell) != g.H*g.W*g.C {
				return nil, fmt.Errorf("image grid: row %d image %d has %d values, want %d", r, c, len(cell), g.H*g.W*g.C)
			}
			x0, y0 := gap+c*cw, gap+r*ch
			for y := 0; y < g.H; y++ {
				for x := 0; x < g.W; x++ {
					var px color.RGBA
					if g.C == 1 {
						v := level(cell[y*g.W+x])
						px = color.RGBA{v, v, v, 255}
					} else {
						i := (y*g.W + x) * 3
						px = color.RGBA{level(cell[i]), level(cell[i+1]), level(cell[i+2]), 255}
					}
					for dy := 0; dy < scale; dy++ {
						for dx := 0; dx < scale; dx++ {
							img.SetRGBA(x0+x*scale+dx, y0+y*scale+dy, px)
						}
					}
				}
			}
		}
	}
	return img, nil
}

func level(v float32) uint8 {
	if !(v > 0) { // also NaN
		return 0
	}
	if v >= 1 {
		return 255
	}
	return uint8(v*255 + 0.5)
}

// WritePNG renders the grid to path atomically.
func (g Grid) WritePNG(path string) error {
	img, err := g.Image()
	if err != nil {
		return err
	}
	return atomicfile.Write(path, func(w io.Writer) error { return png.Encode(w, img) })
}
