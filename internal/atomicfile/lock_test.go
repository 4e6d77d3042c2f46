//go:build unix

package atomicfile

import (
	"bufio"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestLockHelper holds the lock named by AEGPU_LOCK_HELPER until its stdin
// closes (a child of TestLockExcludesOtherProcesses).
func TestLockHelper(t *testing.T) {
	p := os.Getenv("AEGPU_LOCK_HELPER")
	if p == "" {
		t.Skip("helper of TestLockExcludesOtherProcesses")
	}
	l, err := Lock(p)
	if err != nil {
		t.Fatal(err)
	}
	os.Stdout.WriteString("locked\n")
	io.Copy(io.Discard, os.Stdin)
	l.Unlock()
}

// TestLockExcludesOtherProcesses: while another process holds the lock,
// Lock fails naming its PID; when that process is killed, the lock is
// free again (the lock file it left is simply locked again).
func TestLockExcludesOtherProcesses(t *testing.T) {
	p := filepath.Join(t.TempDir(), ".m.lock")
	cmd := exec.Command(os.Args[0], "-test.run=^TestLockHelper$", "-test.count=1")
	cmd.Env = append(os.Environ(), "AEGPU_LOCK_HELPER="+p)
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	line, _ := bufio.NewReader(stdout).ReadString('\n')
	if strings.TrimSpace(line) != "locked" {
		t.Fatalf("helper: %q", line)
	}
	_, err := Lock(p)
	var le *LockedError
	if !errors.As(err, &le) || le.PID != cmd.Process.Pid {
		t.Fatalf("Lock while another process holds it: %v (helper PID %d)", err, cmd.Process.Pid)
	}
	cmd.Process.Kill()
	cmd.Wait()
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("a killed holder's lock file: %v", err)
	}
	l, err := Lock(p)
	if err != nil {
		t.Fatalf("Lock after the holder was killed: %v", err)
	}
	// Shared within the process; released by the last holder, which
	// removes the file.
	l2, err := Lock(p)
	if err != nil {
		t.Fatalf("a second holder in the same process: %v", err)
	}
	l.Unlock()
	if _, err := os.Stat(p); err != nil {
		t.Fatal("the lock file went with the first of two holders")
	}
	l2.Unlock()
	if _, err := os.Stat(p); err == nil {
		t.Fatal("the lock file stays after the last holder")
	}
}

// TestLockedNamesAHolderStillWritingItsPID: a holder writes its PID just
// after taking the lock; a Lock that fails in between still names it
// (it failed in CI with "another aegpu process" and no PID).
func TestLockedNamesAHolderStillWritingItsPID(t *testing.T) {
	p := filepath.Join(t.TempDir(), ".m.lock")
	f, err := os.Create(p) // another open file description: flock conflicts within the process
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		t.Fatal(err)
	}
	go func() {
		time.Sleep(5 * time.Millisecond) // well within holderPID's 500 ms
		f.WriteAt([]byte("4242\n"), 0)
	}()
	_, err = Lock(p)
	var le *LockedError
	if !errors.As(err, &le) || le.PID != 4242 {
		t.Fatalf("Lock while the holder writes its PID: %v, want PID 4242", err)
	}
	if _, err := Lock(p); !errors.As(err, &le) || le.PID != 4242 {
		t.Fatalf("again: %v", err)
	}
}
