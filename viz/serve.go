package viz

import (
	"context"
	"errors"
	"net"
	"net/http"
	"time"

	"github.com/aegpu/aegpu/internal/netlimit"
)

// Limits of the HTTP server Serve runs. A page needs two connections (the
// event stream and one for requests); the cap bounds the file descriptors
// that clients, slow or hostile, can hold.
var (
	MaxConns          = 64               // open connections at once; more wait to be accepted
	ReadHeaderTimeout = 10 * time.Second // to read a request's headers
	BodyTimeout       = 10 * time.Second // to read a control request's body
	WriteTimeout      = 30 * time.Second // to write a response (the event stream renews it per frame)
	IdleTimeout       = time.Minute      // a kept-alive connection with no request
)

// Serve serves s on ln until ctx is done, then stops the session and shuts
// the HTTP server down. At most MaxConns connections are open at once.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: ReadHeaderTimeout,
		WriteTimeout:      WriteTimeout,
		IdleTimeout:       IdleTimeout,
		MaxHeaderBytes:    16 << 10,
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(netlimit.Listener(ln, MaxConns, nil)) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	s.Close() // ends the event streams, so Shutdown does not wait for them
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return nil
}
