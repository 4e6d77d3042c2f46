// Package netlimit caps the connections a server holds open at once.
package netlimit

import (
	"net"
	"sync"
)

// Listener accepts at most n connections at once: Accept waits for a
// slot, which a connection gives back when it is first closed, so a client
// past the cap waits in the listen queue rather than being refused. open
// (nil: none) is called with +1 when a connection is accepted and −1 when
// it gives its slot back (a gauge of the connections held).
func Listener(ln net.Listener, n int, open func(delta int)) net.Listener {
	return &limited{Listener: ln, slots: make(chan struct{}, n), done: make(chan struct{}), open: open}
}

type limited struct {
	net.Listener
	slots     chan struct{}
	done      chan struct{}
	closeOnce sync.Once
	open      func(delta int)
}

func (l *limited) Accept() (net.Conn, error) {
	select {
	case l.slots <- struct{}{}:
	case <-l.done:
		return nil, net.ErrClosed
	}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.slots
		return nil, err
	}
	if l.open != nil {
		l.open(+1)
	}
	return &slotConn{Conn: c, l: l}, nil
}

func (l *limited) Close() error {
	l.closeOnce.Do(func() { close(l.done) })
	return l.Listener.Close()
}

// slotConn gives its slot back when it is first closed.
type slotConn struct {
	net.Conn
	once sync.Once
	l    *limited
}

func (c *slotConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() {
		if c.l.open != nil {
			c.l.open(-1)
		}
		<-c.l.slots
	})
	return err
}
