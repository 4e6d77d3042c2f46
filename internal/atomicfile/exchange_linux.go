package atomicfile

import (
	"errors"

	"golang.org/x/sys/unix"
)

// ErrNoExchange is returned by Exchange where the filesystem or the system
// cannot swap two names atomically.
var ErrNoExchange = errors.New("atomic exchange not supported")

// Exchange swaps the directory entries a and b in one atomic step
// (renameat2 RENAME_EXCHANGE): a reader sees one or the other, never
// neither. Both must exist, on the same filesystem.
func Exchange(a, b string) error {
	err := unix.Renameat2(unix.AT_FDCWD, a, unix.AT_FDCWD, b, unix.RENAME_EXCHANGE)
	if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EOPNOTSUPP) {
		return ErrNoExchange
	}
	return err
}
