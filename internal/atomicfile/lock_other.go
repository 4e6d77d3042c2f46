//go:build !unix

package atomicfile

import (
	"fmt"
	"os"
)

// LockedError is returned by Lock when another process holds the lock.
type LockedError struct {
	Path string
	PID  int
}

func (e *LockedError) Error() string {
	return fmt.Sprintf("locked by another process (PID %d): %s", e.PID, e.Path)
}

// FileLock is an exclusive lock held on a lock file.
type FileLock struct{ path string }

// Lock creates the lock file exclusively (without flock, a lock file left
// by a killed process must be removed by hand).
func Lock(path string) (*FileLock, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		if os.IsExist(err) {
			return nil, &LockedError{Path: path, PID: holderPID(path)}
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	fmt.Fprintf(f, "%d\n", os.Getpid())
	f.Close()
	return &FileLock{path: path}, nil
}

// Unlock removes the lock file.
func (l *FileLock) Unlock() error {
	if l == nil || l.path == "" {
		return nil
	}
	err := os.Remove(l.path)
	l.path = ""
	return err
}

// Path is the lock file.
func (l *FileLock) Path() string { return l.path }
