package main

import (
	"strings"
	"testing"

	"github.com/aegpu/aegpu/serve"
)

// TestServeFlags: limits that cannot work are refused before anything is
// loaded or bound, naming the flags.
func TestServeFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--timeout", "2m", "--write-timeout", "1m"}, "--write-timeout 1m0s must be longer than --timeout 2m0s"},
		{[]string{"--read-timeout", "0s"}, "--read-timeout"},
		{[]string{"--idle-timeout", "-1s"}, "--idle-timeout"},
		{[]string{"--max-conns", "0"}, "--max-conns"},
		{[]string{"--log-level", "loud"}, "--log-level"},
		{[]string{"--addr", "8080"}, "--addr"},
	} {
		_, err := run(t, append([]string{"serve", "--model", "no-such-model"}, tc.args...)...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("serve %s: %v, want an error with %q", strings.Join(tc.args, " "), err, tc.want)
		}
	}
}

// TestServeAddrWarning: aegpu serve warns on an address that is not
// loopback (the default, 127.0.0.1:8080, is), and says what a token does
// not do.
func TestServeAddrWarning(t *testing.T) {
	for addr, want := range map[string]string{
		"127.0.0.1:8080": "", "[::1]:0": "", "localhost:9000": "",
		"0.0.0.0:8080": "0.0.0.0:8080 is not a loopback address: anyone who can reach this machine",
		":8080":        ":8080 is not a loopback address",
	} {
		loop, err := serve.CheckAddr(addr)
		if err != nil {
			t.Fatal(err)
		}
		got := addrWarning(addr, loop, false)
		if (want == "") != (got == "") || !strings.Contains(got, want) {
			t.Errorf("%s: warning %q, want %q", addr, got, want)
		}
	}
	if got := addrWarning("0.0.0.0:1", false, true); !strings.Contains(got, "unencrypted") {
		t.Errorf("with a token: %q", got)
	}
	if f := serveCommand().Flags[1]; f.Names()[0] != "addr" || !strings.HasPrefix(f.String(), "--addr HOST:PORT") || !strings.Contains(f.String(), `"127.0.0.1:8080"`) {
		t.Errorf("the default address: %s", f.String())
	}
}
