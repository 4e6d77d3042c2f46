package atomicfile

import (
	"os"
	"strconv"
	"strings"
	"time"
)

// holderPID is the PID a lock's holder wrote into its lock file. A holder
// writes it just after taking the lock, so an empty file is read again
// for a moment (10 × 2 ms) before the PID is given up as unknown (0).
func holderPID(path string) int {
	for range 10 {
		if pid := readPID(path); pid > 0 {
			return pid
		}
		time.Sleep(2 * time.Millisecond)
	}
	return 0
}

func readPID(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return n
}
