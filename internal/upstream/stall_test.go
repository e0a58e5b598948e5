package upstream

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modvault/modvault/internal/fault"
	"github.com/modvault/modvault/internal/proxytest"
)

// stallTimeout is the StallTimeout of the clients of these tests.
const stallTimeout = 200 * time.Millisecond

// fast is how long a failure may take beyond stallTimeout, with room for
// a busy machine and the race detector; the fill timeout it replaces is
// ten minutes.
const fast = stallTimeout + 2*time.Second

// misbehaving is an upstream that answers every request with h and counts
// the requests.
type misbehaving struct {
	URL      string
	requests atomic.Int32
	hungUp   atomic.Int32 // requests whose client hung up before the handler ended
}

func newMisbehaving(t *testing.T, h http.HandlerFunc) *misbehaving {
	t.Helper()
	m := &misbehaving{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m.requests.Add(1)
		h(w, r)
		if r.Context().Err() != nil {
			m.hungUp.Add(1)
		}
	}))
	t.Cleanup(srv.Close)
	m.URL = srv.URL
	return m
}

// stallClient returns a client for list with a StallTimeout of stallTimeout.
func stallClient(t *testing.T, list string) *Client {
	t.Helper()
	proxies, _, err := ParseList(list)
	if err != nil {
		t.Fatal(err)
	}
	return New(proxies, Options{StallTimeout: stallTimeout})
}

// getFile runs GetFile into a new temporary file and returns its content.
func getFile(t *testing.T, c *Client, path string, limit int64) ([]byte, error) {
	t.Helper()
	f, err := os.Create(filepath.Join(t.TempDir(), "download"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n, err := c.GetFile(context.Background(), path, f, limit)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(b)) != n {
		t.Errorf("GetFile returned size %d, but the file holds %d bytes", n, len(b))
	}
	return b, nil
}

// getters are the two ways of reading a whole answer that try the next
// entry after a failed body.
var getters = []struct {
	name string
	get  func(t *testing.T, c *Client, path string) ([]byte, error)
}{
	{"GetBytes", func(t *testing.T, c *Client, path string) ([]byte, error) {
		return c.GetBytes(context.Background(), path, 1<<20)
	}},
	{"GetFile", func(t *testing.T, c *Client, path string) ([]byte, error) {
		return getFile(t, c, path, 1<<20)
	}},
}

// TestStalledBodyFailsWithinTheStallTimeout: an upstream that sends the
// headers and half the body and then nothing, connection open, fails the
// request once the stall timeout has passed, not later, with a timeout that
// names the upstream URL (without its credentials), and the connection is
// cut.
func TestStalledBodyFailsWithinTheStallTimeout(t *testing.T) {
	const path = "example.com/m/@v/v1.0.0.mod"
	for _, g := range getters {
		t.Run(g.name, func(t *testing.T) {
			up := newMisbehaving(t, proxytest.Misbehave(proxytest.Stall, bytes.Repeat([]byte("x"), 4000)))
			base := strings.Replace(up.URL, "http://", "http://user:s3cret@", 1)
			start := time.Now()
			b, err := g.get(t, stallClient(t, base), path)
			elapsed := time.Since(start)
			if err == nil {
				t.Fatalf("got %d bytes from a stalled upstream", len(b))
			}
			t.Logf("after %v: %v", elapsed, err)
			if elapsed < stallTimeout || elapsed > fast {
				t.Errorf("failed after %v, want between %v and %v", elapsed, stallTimeout, fast)
			}
			if k := fault.Of(err); k != fault.Timeout {
				t.Errorf("error %v has kind %v, want %v", err, k, fault.Timeout)
			}
			if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrBadResponse) {
				t.Errorf("error %v: want a timeout (context.DeadlineExceeded), not a bad response", err)
			}
			msg := err.Error()
			if !strings.Contains(msg, "http://***@"+strings.TrimPrefix(up.URL, "http://")+"/"+path) || strings.Contains(msg, "s3cret") {
				t.Errorf("error %q: want the redacted upstream URL of %s", msg, path)
			}
			waitFor(t, "the upstream to see the connection cut", func() bool { return up.hungUp.Load() == 1 })
		})
	}
}

// TestBodyFailureFallsThroughAfterPipe: a body that fails half-way is that
// upstream's error: after "|" the next upstream answers; after "," the
// error is the answer and the next upstream is not asked, as the go
// command does.
func TestBodyFailureFallsThroughAfterPipe(t *testing.T) {
	const path = "example.com/m/@v/v1.0.0.zip"
	// The first upstream's body is longer than the second's, so that
	// GetFile's result shows whether its file was emptied before the
	// second try.
	firstBody := bytes.Repeat([]byte("first "), 1000)
	for _, how := range []proxytest.Misbehaviour{proxytest.Stall, proxytest.Reset, proxytest.Short} {
		for _, g := range getters {
			for _, sep := range []string{"|", ","} {
				t.Run(string(how)+" "+g.name+" "+sep, func(t *testing.T) {
					first := newMisbehaving(t, proxytest.Misbehave(how, firstBody))
					second := newFakeProxy(t, http.StatusOK, "second")
					start := time.Now()
					b, err := g.get(t, stallClient(t, first.URL+sep+second.URL), path)
					elapsed := time.Since(start)
					if elapsed > fast {
						t.Errorf("answered after %v, want at most %v", elapsed, fast)
					}
					if n := first.requests.Load(); n != 1 {
						t.Errorf("first upstream got %d requests, want 1", n)
					}
					if sep == "|" {
						if err != nil || string(b) != "second" {
							t.Fatalf("got %q, %v; want the second upstream's answer", b, err)
						}
						return
					}
					if err == nil {
						t.Fatalf("got %q, want the first upstream's error", b)
					}
					t.Logf("%v", err)
					if n := len(second.requests()); n != 0 {
						t.Errorf("second upstream got %d requests after \",\"", n)
					}
					if !strings.Contains(err.Error(), first.URL+"/"+path) {
						t.Errorf("error %q does not name the upstream URL", err)
					}
					stalled := fault.Of(err) == fault.Timeout
					if how == proxytest.Stall && !stalled {
						t.Errorf("error %v has kind %v, want %v", err, fault.Of(err), fault.Timeout)
					}
					if how != proxytest.Stall && (stalled || !errors.Is(err, ErrBadResponse)) {
						t.Errorf("error %v: want ErrBadResponse, not a timeout", err)
					}
				})
			}
		}
	}
}

// TestSteadyTrickleIsNoStall: a body that arrives slowly but steadily, in
// all much longer than the stall timeout, is read whole.
func TestSteadyTrickleIsNoStall(t *testing.T) {
	body := []byte("module example.com/m\n") // one byte per piece
	for _, g := range getters {
		t.Run(g.name, func(t *testing.T) {
			up := newMisbehaving(t, proxytest.Misbehave(proxytest.Trickle, body))
			start := time.Now()
			b, err := g.get(t, stallClient(t, up.URL), "example.com/m/@v/v1.0.0.mod")
			if err != nil || !bytes.Equal(b, body) {
				t.Fatalf("got %q, %v; want %q", b, err, body)
			}
			if d := time.Since(start); d < 3*stallTimeout {
				t.Fatalf("the body took %v, not well above the stall timeout %v: the test proves nothing", d, stallTimeout)
			}
		})
	}
}

// TestSlowReaderIsNoStall: only the time the upstream keeps a Read
// waiting counts, not the time the caller takes between Reads.
func TestSlowReaderIsNoStall(t *testing.T) {
	p := newFakeProxy(t, http.StatusOK, "a small body, sent at once")
	body, _, err := stallClient(t, p.URL).Get(context.Background(), "example.com/m/@v/list")
	if err != nil {
		t.Fatal(err)
	}
	defer body.Close()
	var got []byte
	buf := make([]byte, 4)
	for {
		n, err := body.Read(buf)
		got = append(got, buf[:n]...)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("Read after %q: %v", got, err)
		}
		if len(got) <= 4 {
			time.Sleep(2 * stallTimeout)
		}
	}
	if string(got) != p.body {
		t.Errorf("got %q, want %q", got, p.body)
	}
}

// TestStalledErrorBodyFailsFast: an error answer whose text stalls is
// still that answer, at once: after a 404 and ",", the next upstream is
// asked.
func TestStalledErrorBodyFailsFast(t *testing.T) {
	first := newMisbehaving(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, "not found: ")
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	})
	second := newFakeProxy(t, http.StatusOK, "second")
	start := time.Now()
	b, err := stallClient(t, first.URL+","+second.URL).GetBytes(context.Background(), "example.com/m/@v/list", 1<<10)
	if err != nil || string(b) != "second" {
		t.Fatalf("got %q, %v; want the second upstream's answer", b, err)
	}
	if d := time.Since(start); d > fast {
		t.Errorf("answered after %v, want at most %v", d, fast)
	}
}

// TestGetFileLimit: GetFile refuses a body longer than its limit, whether
// announced or not, with ErrTooLarge.
func TestGetFileLimit(t *testing.T) {
	announced := newFakeProxy(t, http.StatusOK, strings.Repeat("x", 100))
	chunked := newMisbehaving(t, func(w http.ResponseWriter, r *http.Request) {
		for range 10 {
			io.WriteString(w, strings.Repeat("x", 10))
			w.(http.Flusher).Flush()
		}
	})
	for _, url := range []string{announced.URL, chunked.URL} {
		c := stallClient(t, url)
		if b, err := getFile(t, c, "example.com/m/@v/v1.0.0.zip", 100); err != nil || len(b) != 100 {
			t.Errorf("limit 100: got %d bytes, %v", len(b), err)
		}
		_, err := getFile(t, c, "example.com/m/@v/v1.0.0.zip", 99)
		if !errors.Is(err, ErrTooLarge) || fault.Of(err) != fault.TooLarge {
			t.Errorf("limit 99: error %v, want ErrTooLarge", err)
		}
	}
}

// TestGetFileWriteErrorEndsAtOnce: a file that cannot be written is
// modvault's failure: no other upstream is tried.
func TestGetFileWriteErrorEndsAtOnce(t *testing.T) {
	first := newFakeProxy(t, http.StatusOK, "first")
	second := newFakeProxy(t, http.StatusOK, "second")
	name := filepath.Join(t.TempDir(), "download")
	if err := os.WriteFile(name, nil, 0o666); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(name) // read-only
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	_, err = stallClient(t, first.URL+"|"+second.URL).GetFile(context.Background(), "example.com/m/@v/v1.0.0.zip", f, 1<<10)
	if err == nil || errors.Is(err, ErrBadResponse) {
		t.Errorf("error %v, want modvault's own", err)
	}
	if n := len(second.requests()); n != 0 {
		t.Errorf("second upstream got %d requests after a local failure", n)
	}
}

// TestStallWatchLeavesNothingRunning: after answers of every kind, read
// whole, stalled or closed early, no goroutine of the client is left once
// its idle connections are closed.
func TestStallWatchLeavesNothingRunning(t *testing.T) {
	before := runtime.NumGoroutine()
	// The test servers close when the subtest ends.
	t.Run("requests", func(t *testing.T) {
		ok := newFakeProxy(t, http.StatusOK, "ok")
		missing := newFakeProxy(t, http.StatusNotFound, "missing")
		stalled := newMisbehaving(t, proxytest.Misbehave(proxytest.Stall, []byte("0123456789")))
		tr := NewTransport()
		defer tr.CloseIdleConnections()
		proxies, _, _ := ParseList(stalled.URL + "|" + missing.URL + "," + ok.URL)
		c := New(proxies, Options{HTTPClient: &http.Client{Transport: tr}, StallTimeout: stallTimeout})
		for range 3 {
			if b, err := c.GetBytes(context.Background(), "example.com/m/@v/list", 1<<10); err != nil || string(b) != "ok" {
				t.Fatalf("got %q, %v", b, err)
			}
			body, _, err := c.Get(context.Background(), "example.com/m/@v/list")
			if err != nil {
				t.Fatal(err)
			}
			body.Close() // unread
		}
	})
	waitFor(t, "the goroutines to end", func() bool { return runtime.NumGoroutine() <= before })
}

// waitFor waits up to five seconds for cond.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}
