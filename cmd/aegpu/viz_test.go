package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/urfave/cli/v2"
)

// syncBuffer is a bytes.Buffer safe for a writer and a reader goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startViz runs `aegpu viz args…` in-process until the test ends and
// returns the URL it printed and its stderr.
func startViz(t *testing.T, args ...string) (string, *syncBuffer) {
	t.Helper()
	app := newApp()
	var out, errOut syncBuffer
	app.Writer, app.ErrWriter = &out, &errOut
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- app.RunContext(ctx, append([]string{"aegpu", "viz", "--device", "cpu"}, args...)) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("aegpu viz ended with %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("aegpu viz did not stop within 10 s of its context's end")
		}
	})
	re := regexp.MustCompile(`open (http://\S+/) `)
	for i := 0; i < 600; i++ {
		if m := re.FindStringSubmatch(out.String()); m != nil {
			return m[1], &errOut
		}
		select {
		case err := <-done:
			t.Fatalf("aegpu viz stopped: %v\nstderr: %s", err, errOut.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
	t.Fatalf("aegpu viz printed no URL: %q", out.String())
	return "", nil
}

func TestVizCommand(t *testing.T) {
	url, errOut := startViz(t, "--addr", "127.0.0.1:0")
	if !strings.HasPrefix(url, "http://127.0.0.1:") {
		t.Errorf("URL %s is not on loopback", url)
	}
	if strings.Contains(errOut.String(), "warning") {
		t.Errorf("a loopback address gave a warning: %s", errOut.String())
	}
	resp, err := http.Get(url + "api/state")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st struct {
		Backend string `json:"backend"`
		Data    struct {
			Rows, Cols int
		} `json:"data"`
		Status struct {
			Layers []int `json:"layers"`
		} `json:"status"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	if st.Data.Rows != 2000 || st.Data.Cols != 8 || len(st.Status.Layers) != 2 || st.Status.Layers[1] != 4 || !strings.HasPrefix(st.Backend, "cpu") {
		t.Errorf("state of the default run: %+v", st)
	}
	r, err := http.Post(url+"api/control", "application/json", strings.NewReader(`{"action":"start"}`))
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != 200 {
		t.Errorf("start: %d", r.StatusCode)
	}
}

func TestVizNonLoopbackWarns(t *testing.T) {
	url, errOut := startViz(t, "--addr", "0.0.0.0:0")
	if !strings.Contains(errOut.String(), "warning: 0.0.0.0:0 is not a loopback address") {
		t.Errorf("no warning for 0.0.0.0: %q", errOut.String())
	}
	if !strings.HasPrefix(url, "http://127.0.0.1:") {
		t.Errorf("URL %s", url)
	}
}

func TestVizDefaultsAndErrors(t *testing.T) {
	for _, f := range vizCommand().Flags {
		if sf, ok := f.(*cli.StringFlag); ok && sf.Name == "addr" && sf.Value != "127.0.0.1:8080" {
			t.Errorf("--addr defaults to %q, want loopback 127.0.0.1:8080", sf.Value)
		}
	}
	for _, c := range []struct {
		args []string
		msg  string
	}{
		{[]string{"--addr", "8080"}, "want host:port"},
		{[]string{"--labels", "x.csv"}, "--labels needs --data"},
		{[]string{"--layers", "9,3"}, "the first width must be the data width 8"},
		{[]string{"--layers", "8,x"}, "not a positive integer"},
		{[]string{"--data", "/nonexistent/x.npy"}, "x.npy"},
		{[]string{"--model", "/nonexistent/model"}, "config.json"},
		{[]string{"--device", "tpu"}, "unknown device"},
		{[]string{"--patience", "-1"}, "--patience must be an integer in [0, 10000]"},
		{[]string{"--patience", "10001"}, "--patience must be an integer in [0, 10000]"},
		{[]string{"--patience", "two"}, "invalid value \"two\" for flag -patience"},
	} {
		err := newApp().Run(append([]string{"aegpu", "viz", "--addr", "127.0.0.1:0"}, c.args...))
		if err == nil || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("viz %v: %v, want an error with %q", c.args, err, c.msg)
		}
	}
}

// --patience sets the page's early stopping.
func TestVizPatienceFlag(t *testing.T) {
	url, _ := startViz(t, "--addr", "127.0.0.1:0", "--patience", "4")
	resp, err := http.Get(url + "api/state")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st struct {
		Status struct {
			Settings struct {
				Patience int `json:"patience"`
			} `json:"settings"`
		} `json:"status"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	if st.Status.Settings.Patience != 4 {
		t.Errorf("patience on the page: %d, want 4 (--patience 4)", st.Status.Settings.Patience)
	}
}
