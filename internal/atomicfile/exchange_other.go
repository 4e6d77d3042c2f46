//go:build !linux

package atomicfile

import "errors"

// ErrNoExchange is returned by Exchange where the filesystem or the system
// cannot swap two names atomically.
var ErrNoExchange = errors.New("atomic exchange not supported")

// Exchange is not available on this system.
func Exchange(a, b string) error { return ErrNoExchange }
