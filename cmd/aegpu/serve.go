package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/aegpu/aegpu/serve"
)

func serveCommand() *cli.Command {
	return &cli.Command{
		Name:  "serve",
		Usage: "serve models over HTTP: online encoding, reconstruction and anomaly scoring, batched",
		Description: `Serves trained model directories over HTTP until SIGTERM or Ctrl-C, which stop
accepting connections, answer every request already accepted, and exit.

  POST /v1/models/NAME/encode        latent codes
  POST /v1/models/NAME/reconstruct   reconstructions and each row's error
  POST /v1/models/NAME/score         each row's error, the saved threshold,
                                     flags; ?explain=k: each row's k largest
                                     feature errors
  GET  /v1/models                    every model's config, width, scaler,
                                     threshold and version (SHA-256 of its
                                     model.safetensors)
  GET  /healthz, /readyz, /metrics   alive; models loaded; Prometheus text

Bodies are JSON ({"rows": [[…], …]}, Content-Type: application/json), a
.npy file's bytes (Content-Type: application/x-npy) or an Arrow IPC stream
(Content-Type: application/vnd.apache.arrow.stream); with Accept:
application/x-npy the answer is .npy too. The answers are the bits aegpu
encode and aegpu score compute for the same rows.

Requests are batched: the rows of concurrent requests to a model go to the
device together, up to --max-batch rows or --max-delay after the first,
whichever comes first; a request with no other on its way runs at once. --model NAME=DIR names a model (default: the
directory's base name); repeat it to serve several.

SIGHUP loads every model again (its config, weights and threshold), and
with --watch a new checkpoint (a changed checkpoint.json) is loaded when it
appears: the new version takes new requests, the requests in flight finish
on the one they started with. A model that fails to load keeps its old
version serving; the log and /v1/models say why.

At most --max-conns connections are open at once; a client past the cap
waits to be accepted. A request must arrive whole within --read-timeout
(a body sent a byte at a time is cut off), and be answered within
--write-timeout of its headers (a client that does not read its answer
is cut off); a kept-alive connection closes after --idle-timeout.

The server listens on loopback unless --addr says otherwise; --token-file
makes every request but /healthz and /readyz carry Authorization: Bearer
TOKEN.

Examples:
  aegpu serve --model bc-ae
  aegpu serve --model fraud=models/fraud --model mnist=models/mnist --addr 127.0.0.1:9000 --watch 5s
  curl -s -H 'Content-Type: application/x-npy' --data-binary @rows.npy \
      'http://127.0.0.1:8080/v1/models/bc-ae/score?explain=2'`,
		Flags: []cli.Flag{
			&cli.StringSliceFlag{Name: "model", Aliases: []string{"m"}, Required: true, Usage: "model `DIR` or NAME=DIR to serve (repeatable)"},
			&cli.StringFlag{Name: "addr", Value: "127.0.0.1:8080", Usage: "listen `HOST:PORT` (port 0: any free port); a non-loopback host is reachable from the network"},
			&cli.IntFlag{Name: "max-batch", Value: 256, Usage: "most rows in one device batch"},
			&cli.DurationFlag{Name: "max-delay", Value: 2 * time.Millisecond, Usage: "longest wait for more rows after a batch's first request"},
			&cli.IntFlag{Name: "max-rows", Value: 4096, Usage: "most rows in one request (413 beyond)"},
			&cli.Int64Flag{Name: "max-body", Value: 32 << 20, Usage: "largest request body in bytes (413 beyond)"},
			&cli.IntFlag{Name: "max-queue", Value: 1024, Usage: "most requests waiting for a model (429 with Retry-After beyond)"},
			&cli.DurationFlag{Name: "timeout", Value: 10 * time.Second, Usage: "a request's deadline (504 after it); ?timeout= may shorten it"},
			&cli.IntFlag{Name: "max-conns", Value: 4096, Usage: "most connections open at once (more wait to be accepted; keep it above --max-queue, so that a burst past the queue is answered 429)"},
			&cli.DurationFlag{Name: "read-timeout", Value: 30 * time.Second, Usage: "longest time to read a request, body included (the connection is closed after it)"},
			&cli.DurationFlag{Name: "write-timeout", Usage: "longest time from a request's headers to the end of its answer, so a client that does not read is cut off (default: 1m, or --timeout + 10s if longer)"},
			&cli.DurationFlag{Name: "idle-timeout", Value: 2 * time.Minute, Usage: "longest a kept-alive connection waits for its next request"},
			&cli.StringFlag{Name: "token-file", Usage: "require Authorization: Bearer TOKEN, the token read from `FILE`"},
			&cli.DurationFlag{Name: "watch", Usage: "read each model's checkpoint.json this often and load a new checkpoint (0: only on SIGHUP)"},
			&cli.StringFlag{Name: "log-level", Value: "info", Usage: "debug (one line per request), info, warn or error"},
			deviceFlag,
		},
		Action: runServe,
	}
}

// modelSpecs reads --model DIR or NAME=DIR.
func modelSpecs(specs []string) ([]serve.Model, error) {
	var ms []serve.Model
	for _, s := range specs {
		name, dir, ok := strings.Cut(s, "=")
		if !ok {
			dir = s
			name = filepath.Base(filepath.Clean(s))
		}
		if name == "" || dir == "" {
			return nil, fmt.Errorf("--model %q: want DIR or NAME=DIR", s)
		}
		ms = append(ms, serve.Model{Name: name, Dir: dir})
	}
	return ms, nil
}

// addrWarning is the warning for a listen address that is not loopback
// ("" for one that is).
func addrWarning(addr string, loopback, token bool) string {
	if loopback {
		return ""
	}
	what := "anyone who can reach this machine on the network can use the models"
	if token {
		what = "requests need the token, but travel unencrypted (put a TLS proxy in front)"
	}
	return fmt.Sprintf("%s is not a loopback address: %s", addr, what)
}

func runServe(c *cli.Context) error {
	addr := c.String("addr")
	loopback, err := serve.CheckAddr(addr)
	if err != nil {
		return fmt.Errorf("--addr: %w", err)
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.String("log-level"))); err != nil {
		return fmt.Errorf("--log-level %q: want debug, info, warn or error", c.String("log-level"))
	}
	log := slog.New(slog.NewTextHandler(c.App.ErrWriter, &slog.HandlerOptions{Level: level}))
	models, err := modelSpecs(c.StringSlice("model"))
	if err != nil {
		return err
	}
	o := serve.Options{MaxBatch: c.Int("max-batch"), MaxDelay: c.Duration("max-delay"), MaxRows: c.Int("max-rows"),
		MaxBodyBytes: c.Int64("max-body"), MaxQueue: c.Int("max-queue"), Timeout: c.Duration("timeout"),
		Watch: c.Duration("watch"), Logger: log, MaxConns: c.Int("max-conns"),
		ReadTimeout: c.Duration("read-timeout"), WriteTimeout: c.Duration("write-timeout"), IdleTimeout: c.Duration("idle-timeout")}
	if o.MaxBatch < 1 || o.MaxRows < 1 || o.MaxBodyBytes < 1 || o.MaxQueue < 1 || o.MaxDelay < 0 || o.Timeout <= 0 || o.Watch < 0 {
		return errors.New("--max-batch, --max-rows, --max-body, --max-queue and --timeout must be positive; --max-delay and --watch not negative")
	}
	if o.MaxConns < 1 || o.ReadTimeout <= 0 || o.WriteTimeout < 0 || o.IdleTimeout <= 0 {
		return errors.New("--max-conns, --read-timeout and --idle-timeout must be positive; --write-timeout not negative")
	}
	if o.WriteTimeout > 0 && o.WriteTimeout <= o.Timeout {
		return fmt.Errorf("--write-timeout %v must be longer than --timeout %v: an answer is written after its rows are run", o.WriteTimeout, o.Timeout)
	}
	if p := c.String("token-file"); p != "" {
		b, err := os.ReadFile(p)
		if err != nil {
			return fmt.Errorf("--token-file: %w", err)
		}
		if o.Token = strings.TrimSpace(string(b)); o.Token == "" {
			return fmt.Errorf("--token-file %s is empty", p)
		}
	}
	b, err := openDevice(c, false)
	if err != nil {
		return err
	}
	defer b.Close()
	o.Backend = b
	s, err := serve.New(o, models...)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		s.Close()
		return fmt.Errorf("listen on %s: %w", addr, err)
	}
	if w := addrWarning(addr, loopback, o.Token != ""); w != "" {
		log.Warn(w)
	}
	for _, m := range s.Models() {
		th := "no threshold"
		if m.Threshold != nil {
			th = fmt.Sprintf("threshold %.6g", m.Threshold.Value)
		}
		log.Info("model loaded", "name", m.Name, "dir", m.Dir, "version", m.Version, "cols", m.Cols, "latent", m.Latent, "threshold", th)
	}
	host := ln.Addr().String()
	if a, ok := ln.Addr().(*net.TCPAddr); ok && a.IP.IsUnspecified() {
		host = net.JoinHostPort("127.0.0.1", fmt.Sprint(a.Port))
	}
	fmt.Fprintf(c.App.Writer, "aegpu serve: listening on http://%s/ (models: %s; SIGHUP reloads, SIGTERM drains and exits)\n", host, strings.Join(s.Names(), ", "))
	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				log.Info("SIGHUP: reloading every model")
				s.Reload() // failures are logged, and the old versions keep serving
			}
		}
	}()
	if err := s.Serve(ctx, ln); err != nil {
		return err
	}
	log.Info("stopped: every accepted request was answered")
	return nil
}
