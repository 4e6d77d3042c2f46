package atomicfile

import (
	"os"
	"strconv"
	"strings"
	"time"
)

// holderPID is the PID a lock's holder wrote into its lock file. A holder
// writes it just after taking the lock, so an empty file is read again
// every 2 ms for up to half a second before the PID is given up as
// unknown (0): a holder just started on a loaded machine can be
// descheduled between the two for longer than a few milliseconds, and
// the wait is only the error path's cost.
func holderPID(path string) int {
	for deadline := time.Now().Add(500 * time.Millisecond); ; time.Sleep(2 * time.Millisecond) {
		if pid := readPID(path); pid > 0 || time.Now().After(deadline) {
			return pid
		}
	}
}

func readPID(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return n
}
