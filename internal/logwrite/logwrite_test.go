package logwrite

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modvault/modvault/internal/proxytest"
)

func TestMain(m *testing.M) {
	proxytest.BlockNonLoopback()
	os.Exit(m.Run())
}

// syncBuffer is a bytes.Buffer safe for the flush timer's goroutine.
type syncBuffer struct {
	mu     sync.Mutex
	b      bytes.Buffer
	writes int
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.writes++
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func (s *syncBuffer) Writes() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.writes
}

// TestLinesArriveWithinInterval: buffered lines reach the underlying writer
// by themselves, in order, gathered into fewer writes.
func TestLinesArriveWithinInterval(t *testing.T) {
	var out syncBuffer
	w := New(&out, 20*time.Millisecond, 1<<20)
	var want strings.Builder
	for i := range 100 {
		line := fmt.Sprintf("line %d\n", i)
		want.WriteString(line)
		w.Write([]byte(line))
	}
	deadline := time.Now().Add(5 * time.Second)
	for out.String() != want.String() {
		if time.Now().After(deadline) {
			t.Fatalf("after 5s the writer has %q, want the 100 lines", out.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if n := out.Writes(); n >= 100 {
		t.Errorf("%d writes for 100 lines: not buffered", n)
	}
}

// TestFullBufferFlushesAtOnce: a buffer reaching Size is written out
// without waiting for the interval, whole lines only.
func TestFullBufferFlushesAtOnce(t *testing.T) {
	var out syncBuffer
	w := New(&out, time.Hour, 64)
	line := []byte(strings.Repeat("x", 39) + "\n")
	w.Write(line)
	if got := out.String(); got != "" {
		t.Fatalf("one 40-byte line under a 64-byte buffer written at once: %q", got)
	}
	w.Write(line)
	if got := out.String(); got != string(line)+string(line) {
		t.Fatalf("after 80 bytes: %q, want both lines", got)
	}
}

// TestCloseFlushesAndWritesThrough: Close leaves nothing behind, and later
// lines are not lost.
func TestCloseFlushesAndWritesThrough(t *testing.T) {
	var out syncBuffer
	w := New(&out, time.Hour, 1<<20)
	w.Write([]byte("before\n"))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("after\n"))
	if got := out.String(); got != "before\nafter\n" {
		t.Fatalf("got %q", got)
	}
}

// TestConcurrentWritesKeepLinesWhole: lines written from many goroutines
// come out whole.
func TestConcurrentWritesKeepLinesWhole(t *testing.T) {
	var out syncBuffer
	w := New(&out, time.Millisecond, 256)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				fmt.Fprintf(w, "goroutine %d line %03d end\n", g, i)
			}
		})
	}
	wg.Wait()
	w.Close()
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != 1600 {
		t.Fatalf("%d lines, want 1600", len(lines))
	}
	for _, l := range lines {
		if !strings.HasPrefix(l, "goroutine ") || !strings.HasSuffix(l, " end") {
			t.Fatalf("a broken line: %q", l)
		}
	}
}
