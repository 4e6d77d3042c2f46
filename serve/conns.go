package serve

import (
	"net"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// limitListener accepts at most n connections at once: Accept waits for a
// slot, which a connection gives back when it is closed, so a client past
// the cap waits in the listen queue rather than being refused; open
// counts the connections held. (The visualizer's listener, with a gauge.)
func limitListener(ln net.Listener, n int, open prometheus.Gauge) net.Listener {
	return &limited{Listener: ln, slots: make(chan struct{}, n), done: make(chan struct{}), open: open}
}

type limited struct {
	net.Listener
	slots     chan struct{}
	done      chan struct{}
	closeOnce sync.Once
	open      prometheus.Gauge
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
	l.open.Inc()
	return &slotConn{Conn: c, release: func() { l.open.Dec(); <-l.slots }}, nil
}

func (l *limited) Close() error {
	l.closeOnce.Do(func() { close(l.done) })
	return l.Listener.Close()
}

// slotConn gives its slot back when it is first closed.
type slotConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *slotConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
