//go:build unix

package atomicfile

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"syscall"
)

// LockedError is returned by Lock when another process holds the lock.
type LockedError struct {
	Path string // the lock file
	PID  int    // the holder's process id as it wrote it (0: unknown)
}

func (e *LockedError) Error() string {
	who := "another process"
	if e.PID > 0 {
		who = fmt.Sprintf("another process (PID %d)", e.PID)
	}
	return fmt.Sprintf("locked by %s: %s", who, e.Path)
}

// FileLock is an exclusive lock held on a lock file.
type FileLock struct {
	sh   *shared
	path string
}

// shared is a lock this process holds, with the number of its holders:
// the lock excludes other processes, not other holders in this one.
type shared struct {
	f *os.File
	n int
}

var held = struct {
	sync.Mutex
	m map[string]*shared
}{m: map[string]*shared{}}

// Lock takes an exclusive, non-blocking lock (flock) on the file at path,
// creating it, and writes this process's PID into it. When another process
// holds the lock it returns a *LockedError naming that process's PID. The
// kernel releases the lock when its holder exits, however it exits; a lock
// file left by a killed process is simply locked again. Within one process
// the lock is shared: a second Lock of the same path succeeds, and the
// lock is released by the last Unlock.
func Lock(path string) (*FileLock, error) {
	held.Lock()
	defer held.Unlock()
	if sh := held.m[path]; sh != nil {
		sh.n++
		return &FileLock{sh: sh, path: path}, nil
	}
	for range 10 {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
		if err != nil {
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			f.Close()
			if errors.Is(err, syscall.EWOULDBLOCK) {
				return nil, &LockedError{Path: path, PID: holderPID(path)}
			}
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		// The holder removes the file when it unlocks: the file locked here
		// may be one that was removed after it was opened. Lock only the
		// file that is still at path.
		var st1, st2 syscall.Stat_t
		if syscall.Fstat(int(f.Fd()), &st1) != nil || syscall.Stat(path, &st2) != nil || st1.Ino != st2.Ino || st1.Dev != st2.Dev {
			f.Close()
			continue
		}
		f.Truncate(0)
		f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
		sh := &shared{f: f, n: 1}
		held.m[path] = sh
		return &FileLock{sh: sh, path: path}, nil
	}
	return nil, fmt.Errorf("lock %s: the lock file keeps being replaced", path)
}

// Unlock releases this holder's share of the lock; the last one removes
// the lock file and releases the lock.
func (l *FileLock) Unlock() error {
	if l == nil || l.sh == nil {
		return nil
	}
	held.Lock()
	defer held.Unlock()
	sh := l.sh
	l.sh = nil
	if sh.n--; sh.n > 0 {
		return nil
	}
	delete(held.m, l.path)
	os.Remove(l.path) // while still held: see Lock
	return sh.f.Close()
}

// Path is the lock file.
func (l *FileLock) Path() string { return l.path }
