package ui

import (
	"context"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/modvault/modvault/internal/index"
)

func TestTotalsAreKeptAndRefreshedInTheBackground(t *testing.T) {
	ctx := context.Background()
	x, err := index.Open(ctx, filepath.Join(t.TempDir(), "index.sqlite"), index.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	record := func(path string) {
		t.Helper()
		err := x.RecordVersion(ctx, index.Version{Path: path, Version: "v1.0.0", Source: index.Source{Kind: index.SourceUpstream},
			Info: index.File{Size: 1}, Mod: index.File{Size: 2}, ModH1: "h1:x="})
		if err != nil {
			t.Fatal(err)
		}
	}
	record("example.com/a")
	var mu sync.Mutex
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	c := newTotals(x, time.Minute, clock, slog.New(slog.DiscardHandler))

	// The first read is waited for.
	got, err := c.get(ctx)
	if err != nil || len(got) != 1 || got[0].Bytes != 3 {
		t.Fatalf("first get = %v, %v; want example.com/a, 3 bytes", got, err)
	}
	// Within the TTL, the kept totals, without reading.
	record("example.com/b")
	if got, err := c.get(ctx); err != nil || len(got) != 1 {
		t.Fatalf("get within the TTL = %v, %v; want the kept totals", got, err)
	}
	// After it, the kept totals at once, and a read in the background.
	mu.Lock()
	now = now.Add(time.Minute)
	mu.Unlock()
	if got, err := c.get(ctx); err != nil || len(got) < 1 {
		t.Fatalf("get after the TTL = %v, %v", got, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, err := c.get(ctx)
		if err == nil && len(got) == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the background read did not bring example.com/b: %v, %v", got, err)
		}
		time.Sleep(10 * time.Millisecond)
	}

	// A failed first read is reported.
	x.Close()
	c = newTotals(x, time.Minute, clock, slog.New(slog.DiscardHandler))
	if got, err := c.get(ctx); err == nil || err == errCounting {
		t.Errorf("get on a closed index = %v, %v; want its error", got, err)
	}
}
