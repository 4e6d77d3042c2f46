package serve

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aegpu/aegpu/autoencoder"
	"github.com/aegpu/aegpu/cpu_fallback"
	"github.com/aegpu/aegpu/internal/safetensors"
)

// TestEncoderOnlyModel serves an encoder exported from a trained model
// and imported as a model directory of its own: /encode answers with the
// full model's codes bit for bit, /reconstruct and /score refuse with 400
// naming the model, and /v1/models says it is encoder-only.
func TestEncoderOnlyModel(t *testing.T) {
	full := filepath.Join(t.TempDir(), "full")
	x := trainModel(t, full, 3)
	b := cpu_fallback.New(1)
	defer b.Close()
	m, cfg, err := autoencoder.LoadModel(full, b)
	if err != nil {
		t.Fatal(err)
	}
	ts, err := m.ExportTensors(true)
	m.Free()
	if err != nil {
		t.Fatal(err)
	}
	tm := map[string]safetensors.Tensor{}
	for _, v := range ts {
		tm[v.Name] = v
	}
	arch, err := cfg.Arch()
	if err != nil {
		t.Fatal(err)
	}
	arch.EncoderOnly = true
	enc := filepath.Join(t.TempDir(), "enc")
	if _, err := autoencoder.Import(enc, tm, arch, cfg.Scaler, "encoder of "+full, b); err != nil {
		t.Fatal(err)
	}
	want := referenceOf(t, full, x[:5*testCols])
	_, hs := newTestServer(t, Options{}, enc)
	c := hs.Client()
	code, _, body := post(t, c, hs.URL+"/v1/models/m0/encode", TypeJSON, jsonRows(x[:5*testCols]))
	if code != 200 {
		t.Fatalf("/encode of an encoder-only model: %d %s", code, body)
	}
	if i, ok := sameBits(flat(decodeAnswer(t, body).Codes), want.codes); !ok {
		t.Errorf("code %d differs from the full model's", i)
	}
	for _, op := range []string{"reconstruct", "score"} {
		code, _, body := post(t, c, hs.URL+"/v1/models/m0/"+op, TypeJSON, jsonRows(x[:testCols]))
		if code != http.StatusBadRequest || !strings.Contains(string(body), "encoder-only") {
			t.Errorf("/%s of an encoder-only model: %d %s", op, code, body)
		}
	}
	resp, err := c.Get(hs.URL + "/v1/models")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var sb strings.Builder
	bufio.NewReader(resp.Body).WriteTo(&sb)
	if !strings.Contains(sb.String(), `"encoder_only":true`) {
		t.Errorf("/v1/models does not say encoder-only: %s", sb.String())
	}
}

// serveOn runs s.Serve, with o's limits, for a model trained into a
// temporary directory, on a fresh 127.0.0.1 port; it returns the server
// and the address. Serve stops when the test ends, and must return nil.
func serveOn(t *testing.T, o Options) (*Server, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "m")
	trainModel(t, dir, 4)
	b := cpu_fallback.New(1)
	t.Cleanup(func() { b.Close() })
	o.Backend = b
	s, err := New(o, Model{Name: "m", Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return s, ln.Addr().String()
}

// closedWithin reads conn until the server closes it; the test fails if
// that takes more than bound.
func closedWithin(t *testing.T, what string, conn net.Conn, bound time.Duration) {
	t.Helper()
	conn.SetReadDeadline(time.Now().Add(bound))
	buf := make([]byte, 64<<10)
	for {
		if _, err := conn.Read(buf); err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Errorf("%s: the server kept the connection open for %v", what, bound)
			}
			return
		}
	}
}

// openConns is the aegpu_serve_connections gauge, read through the
// handler (no connection of its own).
func openConns(t *testing.T, s *Server) string {
	t.Helper()
	w := httptest.NewRecorder()
	s.ServeHTTP(w, httptest.NewRequest("GET", "/metrics", nil))
	for _, line := range strings.Split(w.Body.String(), "\n") {
		if v, ok := strings.CutPrefix(line, "aegpu_serve_connections "); ok {
			return v
		}
	}
	t.Fatalf("/metrics has no aegpu_serve_connections:\n%s", w.Body)
	return ""
}

// waitConns waits (at most 5 s) for the gauge of open connections to read
// want.
func waitConns(t *testing.T, s *Server, want string) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); openConns(t, s) != want; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("aegpu_serve_connections is %s, want %s", openConns(t, s), want)
		}
	}
}

// TestServeTimeouts runs Serve with short limits: a client that sends half
// a request's headers, and one that keeps an idle connection, are cut off
// by the server instead of holding a connection for ever. (The test waits
// at most 10 s for each: a bound on hanging, not a measure of speed.)
func TestServeTimeouts(t *testing.T) {
	s, addr := serveOn(t, Options{ReadHeaderTimeout: 200 * time.Millisecond, IdleTimeout: 200 * time.Millisecond})
	slow, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	if _, err := slow.Write([]byte("GET /healthz HTTP/1.1\r\nHost: x\r\n")); err != nil { // no blank line: the headers never end
		t.Fatal(err)
	}
	closedWithin(t, "half a request's headers", slow, 10*time.Second)

	idle, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	if _, err := idle.Write([]byte("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(idle)
	resp, err := http.ReadResponse(r, nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("/healthz on a kept-alive connection: %v %v", resp, err)
	}
	resp.Body.Close()
	closedWithin(t, "an idle kept-alive connection", idle, 10*time.Second)
	slow.Close()
	idle.Close()
	waitConns(t, s, "0")
}

// encodeOK sends one /encode request on a connection of its own and
// fails the test unless it is answered 200 within 10 s.
func encodeOK(t *testing.T, addr, what string) {
	t.Helper()
	cl := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := cl.Post("http://"+addr+"/v1/models/m/encode", TypeJSON, bytes.NewReader(jsonRows(planeRows(3, 1))))
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("%s: %s", what, resp.Status)
	}
}

// TestSlowBody: a client that sends its body a byte at a time (a
// slowloris on the body: 600 bytes at 20 a second would take 30 s), and
// one that stops half-way through its body, are cut off by ReadTimeout,
// while other clients are served all along.
func TestSlowBody(t *testing.T) {
	s, addr := serveOn(t, Options{ReadTimeout: 400 * time.Millisecond})
	body := jsonRows(planeRows(10, 1))
	for _, tc := range []struct {
		what  string
		trick bool // a byte every 50 ms, else half the body then nothing
	}{{"a body sent a byte at a time", true}, {"a body that stops half-way", false}} {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(c, "POST /v1/models/m/encode HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", len(body))
		stop := make(chan struct{})
		sent := make(chan int, 1)
		go func() {
			n := 0
			defer func() { sent <- n }()
			if !tc.trick {
				n, _ = c.Write(body[:len(body)/2])
				return
			}
			tick := time.NewTicker(50 * time.Millisecond)
			defer tick.Stop()
			for ; n < len(body); n++ {
				select {
				case <-stop:
					return
				case <-tick.C:
				}
				if _, err := c.Write(body[n : n+1]); err != nil {
					return
				}
			}
		}()
		start := time.Now()
		encodeOK(t, addr, "another client while "+tc.what+" arrives")
		closedWithin(t, tc.what, c, 10*time.Second)
		close(stop)
		n := <-sent
		c.Close()
		if n >= len(body) {
			t.Errorf("%s: the server read all %d bytes: ReadTimeout did not cut it off", tc.what, n)
		}
		t.Logf("%s: cut off after %v, %d of %d bytes sent", tc.what, time.Since(start).Round(time.Millisecond), n, len(body))
		encodeOK(t, addr, "another client after "+tc.what)
	}
	waitConns(t, s, "0")
}

// TestUnreadAnswer: a client that sends requests and never reads the
// answers (pipelined 4096-row /reconstruct requests, 20 MB of JSON, more
// than the sockets' buffers hold) is cut off by WriteTimeout: the server
// closes the connection the client still holds, and serves others.
func TestUnreadAnswer(t *testing.T) {
	s, addr := serveOn(t, Options{WriteTimeout: 400 * time.Millisecond})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	body := npyRows(planeRows(4096, 2), testCols)
	const requests = 64 // ≈ 20 MB of answers
	var req bytes.Buffer
	fmt.Fprintf(&req, "POST /v1/models/m/reconstruct HTTP/1.1\r\nHost: x\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n", TypeNPY, len(body))
	req.Write(body)
	go func() {
		for range requests {
			if _, err := c.Write(req.Bytes()); err != nil {
				return // the server stopped reading, then closed
			}
		}
	}()
	start := time.Now()
	encodeOK(t, addr, "another client while one does not read")
	// the server closes the connection the client still holds
	waitConns(t, s, "0")
	t.Logf("cut off after %v", time.Since(start).Round(time.Millisecond))
	closedWithin(t, "a client that does not read", c, 10*time.Second)
	encodeOK(t, addr, "another client after")
}

// TestConnectionCap: Serve keeps at most MaxConns connections open. With
// the three slots held by connections that send nothing, a fourth client
// waits (it is not answered, nor refused); it is served as soon as one
// closes, and once every client has gone the gauge of open connections
// is back to 0: no slot leaks.
func TestConnectionCap(t *testing.T) {
	s, addr := serveOn(t, Options{MaxConns: 3, ReadHeaderTimeout: 20 * time.Second})
	var held []net.Conn
	for range 3 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
	}
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	waitConns(t, s, "3")
	waiting := make(chan error, 1)
	go func() {
		cl := &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
		resp, err := cl.Get("http://" + addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode != 200 {
				err = fmt.Errorf("%s", resp.Status)
			}
		}
		waiting <- err
	}()
	select {
	case err := <-waiting:
		t.Fatalf("a fourth connection was served (or refused: %v) while three held every slot", err)
	case <-time.After(500 * time.Millisecond):
	}
	if got := openConns(t, s); got != "3" {
		t.Errorf("%s connections open, want the cap of 3", got)
	}
	held[0].Close()
	if err := <-waiting; err != nil {
		t.Fatalf("the waiting client, once a slot was freed: %v", err)
	}
	for i := range 20 { // more clients than slots, one after another
		encodeOK(t, addr, fmt.Sprintf("client %d", i))
	}
	for _, c := range held {
		c.Close()
	}
	waitConns(t, s, "0")
}
