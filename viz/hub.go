package viz

import (
	"encoding/json"
	"sync"
)

// hub fans frames out to the connected pages. Every client has a one-frame
// mailbox: a client that has not taken the previous frame when the next one
// comes loses the older one (its curve still gets the points, which frames
// repeat), so a slow page never blocks training.
type hub struct {
	mu      sync.Mutex
	clients map[*client]struct{}
	max     int
	closed  bool
}

type client struct {
	ch      chan []byte
	dropped int // frames replaced before the client took them
}

func newHub(maxClients int) *hub {
	return &hub{clients: make(map[*client]struct{}), max: maxClients}
}

// subscribe adds a client; nil when the hub is full or closed.
func (h *hub) subscribe() *client {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed || len(h.clients) >= h.max {
		return nil
	}
	c := &client{ch: make(chan []byte, 1)}
	h.clients[c] = struct{}{}
	return c
}

func (h *hub) unsubscribe(c *client) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.clients[c]; ok {
		delete(h.clients, c)
		close(c.ch)
	}
}

// count is the number of connected clients.
func (h *hub) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.clients)
}

// broadcast encodes f once and offers it to every client without waiting.
func (h *hub) broadcast(f *Frame) {
	if h.count() == 0 {
		return
	}
	msg, err := json.Marshal(f)
	if err != nil {
		return // Num and Vec make every frame encodable
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for c := range h.clients {
		offer(c, msg)
	}
}

// offer puts msg in c's mailbox, replacing a frame it has not taken yet.
func offer(c *client, msg []byte) {
	select {
	case c.ch <- msg:
		return
	default:
	}
	select {
	case <-c.ch:
		c.dropped++
	default:
	}
	select {
	case c.ch <- msg:
	default:
	}
}

// close disconnects every client and refuses new ones.
func (h *hub) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for c := range h.clients {
		delete(h.clients, c)
		close(c.ch)
	}
}
