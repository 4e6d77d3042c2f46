package kernels

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"testing"
)

// sourcesSHA256 recomputes the stamp's source hash as build.sh does: the
// contents of *.cu and *.cuh in this directory, sorted by name (byte
// order), concatenated.
func sourcesSHA256(t *testing.T) string {
	t.Helper()
	var names []string
	for _, pat := range []string{"*.cu", "*.cuh"} {
		m, err := filepath.Glob(pat)
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, m...)
	}
	slices.Sort(names)
	if len(names) == 0 {
		t.Fatal("no kernel sources found")
	}
	h := sha256.New()
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			t.Fatal(err)
		}
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func TestStamp(t *testing.T) {
	want := SourcesSHA256()
	if want == "" {
		t.Fatalf("aegpu.fatbin.sha256 has no sources line:\n%s", Stamp)
	}
	if got := sourcesSHA256(t); got != want {
		t.Fatalf("kernels/*.cu changed but aegpu.fatbin was not rebuilt: run make kernels\n(sources sha256 %s, stamp %s)", got, want)
	}
	sum := sha256.Sum256(Fatbin)
	if got := hex.EncodeToString(sum[:]); got != FatbinSHA256() {
		t.Fatalf("aegpu.fatbin does not match its stamp (sha256 %s, stamp %s): run make kernels", got, FatbinSHA256())
	}
}

// fatbinMagic starts every fat binary (fatbinary.h: FATBIN_MAGIC), little-endian.
const fatbinMagic = 0xBA55ED50

func TestFatbinMagic(t *testing.T) {
	if len(Fatbin) < 16 {
		t.Fatalf("aegpu.fatbin has %d bytes", len(Fatbin))
	}
	if m := binary.LittleEndian.Uint32(Fatbin); m != fatbinMagic {
		t.Fatalf("aegpu.fatbin starts with %#08x, want the fatbin magic %#08x", m, fatbinMagic)
	}
}

// abiNames returns the backticked names in the first column of ABI.md's tables.
func abiNames(t *testing.T) []string {
	t.Helper()
	f, err := os.Open("ABI.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	re := regexp.MustCompile("^\\|\\s*`([A-Za-z_][A-Za-z0-9_]*)`\\s*\\|")
	var names []string
	s := bufio.NewScanner(f)
	for s.Scan() {
		if m := re.FindStringSubmatch(s.Text()); m != nil {
			names = append(names, m[1])
		}
	}
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	if len(names) == 0 {
		t.Fatal("no kernel names found in ABI.md's tables")
	}
	return names
}

func TestABINamesInFatbin(t *testing.T) {
	names := abiNames(t)
	for _, n := range names {
		// The cubins' ELF symbol tables hold each name NUL-terminated.
		if !bytes.Contains(Fatbin, append([]byte(n), 0)) {
			t.Errorf("kernel %s (ABI.md) is not in aegpu.fatbin", n)
		}
	}
	if !slices.Equal(names, Names) {
		t.Errorf("kernels.Names = %v\nABI.md lists %v", Names, names)
	}
}

func TestGeometryMirrored(t *testing.T) {
	goValue := map[string]int{
		"GEMM_BM": GemmBM, "GEMM_BN": GemmBN, "GEMM_BK": GemmBK, "GEMM_TM": GemmTM, "GEMM_TN": GemmTN,
		"GEMM_THREADS": GemmThreads,
		"GEMM64_BM":    Gemm64BM, "GEMM64_BN": Gemm64BN, "GEMM64_BK": Gemm64BK, "GEMM64_TM": Gemm64TM,
		"GEMM64_TN": Gemm64TN, "GEMM64_THREADS": Gemm64Threads,
		"GEMM_TF32_BM": GemmTF32BM, "GEMM_TF32_BN": GemmTF32BN, "GEMM_TF32_BK": GemmTF32BK,
		"GEMM_TF32_WARPS_M": GemmTF32WarpsM, "GEMM_TF32_WARPS_N": GemmTF32WarpsN, "GEMM_TF32_THREADS": GemmTF32Threads,
		"GEMM_TF32X64_BM": GemmTF32x64BM, "GEMM_TF32X64_BN": GemmTF32x64BN, "GEMM_TF32X64_WARPS_M": GemmTF32x64WarpsM,
		"GEMM_TF32X64_WARPS_N": GemmTF32x64WarpsN, "GEMM_TF32X64_THREADS": GemmTF32x64Threads,
		"GEMM_BF16_BM": GemmBF16BM, "GEMM_BF16_BN": GemmBF16BN, "GEMM_BF16_BK": GemmBF16BK,
		"GEMM_BF16_WARPS_M": GemmBF16WarpsM, "GEMM_BF16_WARPS_N": GemmBF16WarpsN, "GEMM_BF16_THREADS": GemmBF16Threads,
		"GEMM_BF16X64_BM": GemmBF16x64BM, "GEMM_BF16X64_BN": GemmBF16x64BN, "GEMM_BF16X64_WARPS_M": GemmBF16x64WarpsM,
		"GEMM_BF16X64_WARPS_N": GemmBF16x64WarpsN, "GEMM_BF16X64_THREADS": GemmBF16x64Threads,
		"ACTGRAD_COLS": ActGradCols, "ACTGRAD_ROWS": ActGradRows,
		"REDUCE_BLOCKS": ReduceBlocks, "REDUCE_THREADS": ReduceThreads,
		"COLMEAN_THREADS": ColMeanThreads,
		"ELEM_THREADS":    ElemThreads, "ELEM_MAX_BLOCKS": ElemMaxBlocks, "RAND_PER_THREAD": RandPerThread,
	}
	b, err := os.ReadFile("geometry.cuh")
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`(?m)^#define\s+([A-Z0-9_]+)\s+(\d+)\s*$`)
	seen := map[string]bool{}
	for _, m := range re.FindAllStringSubmatch(string(b), -1) {
		name, v := m[1], m[2]
		seen[name] = true
		want, err := strconv.Atoi(v)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := goValue[name]
		switch {
		case !ok:
			t.Errorf("geometry.cuh defines %s = %d, which kernels.go does not mirror", name, want)
		case got != want:
			t.Errorf("geometry.cuh defines %s = %d, kernels.go has %d", name, want, got)
		}
	}
	for name := range goValue {
		if !seen[name] {
			t.Errorf("kernels.go mirrors %s, which geometry.cuh does not define", name)
		}
	}
	if GemmTF32Threads != 32*GemmTF32WarpsM*GemmTF32WarpsN || GemmTF32x64Threads != 32*GemmTF32x64WarpsM*GemmTF32x64WarpsN {
		t.Errorf("TF32 GEMM threads do not match their warps")
	}
	if GemmBF16Threads != 32*GemmBF16WarpsM*GemmBF16WarpsN || GemmBF16x64Threads != 32*GemmBF16x64WarpsM*GemmBF16x64WarpsN {
		t.Errorf("BF16 GEMM threads do not match their warps")
	}
	if ReduceThreads%32 != 0 {
		t.Errorf("ReduceThreads = %d is not a multiple of 32", ReduceThreads)
	}
}

func TestGrids(t *testing.T) {
	if x, y := GemmGrid(257, 100, GemmBM, GemmBN); x != 1 || y != 3 {
		t.Errorf("GemmGrid(257, 100) = %d, %d", x, y)
	}
	for _, c := range []struct {
		n    int64
		want int
	}{{1, 1}, {256, 1}, {257, 2}, {1 << 40, ReduceBlocks}} {
		if g := ReduceGrid(c.n); g != c.want {
			t.Errorf("ReduceGrid(%d) = %d, want %d", c.n, g, c.want)
		}
	}
	if g := ElemGrid(1025, 4); g != 2 {
		t.Errorf("ElemGrid(1025, 4) = %d, want 2", g)
	}
	if g := ElemGrid(1<<40, 1); g != ElemMaxBlocks {
		t.Errorf("ElemGrid(2⁴⁰, 1) = %d", g)
	}
}
