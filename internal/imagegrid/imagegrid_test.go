package imagegrid

import (
	"image/png"
	"os"
	"path/filepath"
	"testing"
)

func TestGridLayoutAndValues(t *testing.T) {
	black := []float32{0, 0, 0, 0}
	white := []float32{1, 1, 1, 1.5}
	ramp := []float32{0, 0.5, -1, 1}
	g := Grid{H: 2, W: 2, C: 1, Scale: 3, Gap: 1, Rows: [][][]float32{{black, white}, {ramp}}}
	path := filepath.Join(t.TempDir(), "g.png")
	if err := g.WritePNG(path); err != nil {
		t.Fatal(err)
	}
	f, _ := os.Open(path)
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("not a PNG: %v", err)
	}
	// 2 columns of (2·3+1) px plus the leading gap; 2 rows likewise.
	if b := img.Bounds(); b.Dx() != 2*7+1 || b.Dy() != 2*7+1 {
		t.Fatalf("size %v, want 15×15", b)
	}
	at := func(x, y int) uint32 { r, _, _, _ := img.At(x, y).RGBA(); return r >> 8 }
	for _, c := range []struct {
		x, y int
		want uint32
	}{
		{1, 1, 0},       // first cell: black
		{8, 1, 255},     // second cell: white (1.5 clamped)
		{1 + 3, 8, 128}, // second row, pixel (1,0) = 0.5
		{1, 8 + 3, 0},   // pixel (0,1) = -1 clamped to 0
		{1 + 3, 8 + 3, 255},
	} {
		if got := at(c.x, c.y); got != c.want {
			t.Errorf("pixel (%d,%d) = %d, want %d", c.x, c.y, got, c.want)
		}
	}
}

func TestGridErrors(t *testing.T) {
	if _, err := (Grid{H: 2, W: 2, C: 1, Rows: [][][]float32{{{1, 2, 3}}}}).Image(); err == nil {
		t.Error("wrong image size accepted")
	}
	if _, err := (Grid{H: 2, W: 2, C: 2}).Image(); err == nil {
		t.Error("2 channels accepted")
	}
	if _, err := (Grid{H: 2, W: 2, C: 1}).Image(); err == nil {
		t.Error("empty grid accepted")
	}
}
