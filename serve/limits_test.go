package serve

import (
	"bufio"
	"context"
	"net"
	"net/http"
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

// TestServeTimeouts runs Serve with short limits: a client that sends half
// a request's headers, and one that keeps an idle connection, are cut off
// by the server instead of holding a connection for ever. (The test waits
// at most 10 s for each: a bound on hanging, not a measure of speed.)
func TestServeTimeouts(t *testing.T) {
	defer func(h, i time.Duration) { ReadHeaderTimeout, IdleTimeout = h, i }(ReadHeaderTimeout, IdleTimeout)
	ReadHeaderTimeout, IdleTimeout = 200*time.Millisecond, 200*time.Millisecond
	dir := filepath.Join(t.TempDir(), "m")
	trainModel(t, dir, 4)
	b := cpu_fallback.New(1)
	defer b.Close()
	s, err := New(Options{Backend: b}, Model{Name: "m", Dir: dir})
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
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	}()
	closedWithin := func(what string, conn net.Conn) {
		t.Helper()
		conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		buf := make([]byte, 4096)
		for {
			if _, err := conn.Read(buf); err != nil {
				if ne, ok := err.(net.Error); ok && ne.Timeout() {
					t.Errorf("%s: the server kept the connection open for 10 s", what)
				}
				return
			}
		}
	}
	slow, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	if _, err := slow.Write([]byte("GET /healthz HTTP/1.1\r\nHost: x\r\n")); err != nil { // no blank line: the headers never end
		t.Fatal(err)
	}
	closedWithin("half a request's headers", slow)

	idle, err := net.Dial("tcp", ln.Addr().String())
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
	closedWithin("an idle kept-alive connection", idle)
}
