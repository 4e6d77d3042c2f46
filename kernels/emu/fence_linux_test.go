package emu

import (
	"syscall"
	"testing"
	"unsafe"
)

// fenced returns an n-float view whose end (atEnd) or start lies on an
// unmapped page boundary: an access just past the view faults, whatever it
// would have read or written (the NaN guards of newBuf see only writes, and
// reads that reach a stored result).
func fenced(t *testing.T, n int, atEnd bool) []float32 {
	t.Helper()
	page := syscall.Getpagesize()
	size := (4*n + page - 1) / page * page
	mem, err := syscall.Mmap(-1, 0, size+2*page, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANON)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Munmap(mem) })
	must(t, syscall.Mprotect(mem[:page], syscall.PROT_NONE))
	must(t, syscall.Mprotect(mem[page+size:], syscall.PROT_NONE))
	start := page
	if atEnd {
		start = page + size - 4*n
	}
	return unsafe.Slice((*float32)(unsafe.Pointer(&mem[start])), n)
}
