package reqlog

import (
	"bytes"
	"context"
	"io"
	"log/slog"
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

// viaSlog returns the bytes slog's own text handler writes for l.
func viaSlog(t testing.TB, l *Line) string {
	var buf bytes.Buffer
	if err := slog.NewTextHandler(&buf, nil).Handle(context.Background(), l.Record()); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

func check(t *testing.T, l *Line) {
	t.Helper()
	want := viaSlog(t, l)
	if got := string(AppendText(nil, l)); got != want {
		t.Errorf("line of %+v:\n got %q\nwant %q", *l, got, want)
	}
}

// The hand-made line is the one slog writes, for the values a request
// line holds: paths, users and methods that need quoting or not, every
// level, durations of every size, times in other zones and with a
// monotonic reading.
func TestAppendTextIsSlogs(t *testing.T) {
	base := Line{Time: time.Date(2026, 12, 2, 5, 42, 40, 442999999, time.UTC), Level: slog.LevelInfo,
		Method: "GET", Path: "/github.com/google/uuid/@v/v1.6.0.info", Status: 200, Bytes: 53,
		Duration: 69414 * time.Nanosecond, Cache: "hit"}
	check(t, &base)
	strs := []string{"", " ", "a b", "a=b", `a"b`, `a\b`, "a\tb", "a\nb", "\x00", "\x7f", "\x1b[31m", "é", "日本",
		"\u00a0", "\u2028", "\u200b", "\xff", "a\xffb", "\uFFFD", "<script>&", "/x/@v/list", "100%", "user@example.test",
		"~!#$%^&*()_+-{}|[]:;'<>?,./`"}
	for _, s := range strs {
		for _, f := range []func(l *Line){
			func(l *Line) { l.Path = s },
			func(l *Line) { l.User = s },
			func(l *Line) { l.Method = s },
			func(l *Line) { l.Cache = s },
		} {
			l := base
			f(&l)
			check(t, &l)
		}
	}
	for _, lv := range []slog.Level{slog.LevelDebug, slog.LevelInfo, slog.LevelWarn, slog.LevelError, slog.LevelInfo + 2, slog.LevelDebug - 3} {
		l := base
		l.Level = lv
		check(t, &l)
	}
	for _, d := range []time.Duration{0, 1, 999, time.Microsecond, 1234567, time.Second, 90 * time.Minute, -5 * time.Millisecond} {
		l := base
		l.Duration = d
		check(t, &l)
	}
	for _, tm := range []time.Time{time.Now(), time.Now().In(time.FixedZone("x", -7*3600-1800)), {}, time.Unix(0, 999999).UTC()} {
		l := base
		l.Time = tm
		check(t, &l)
	}
	l := base
	l.Status, l.Bytes = 499, -1
	check(t, &l)
}

func FuzzAppendTextIsSlogs(f *testing.F) {
	f.Add("GET", "/github.com/google/uuid/@v/v1.6.0.zip", "alice", "hit", 200, int64(31981), int64(69414), int64(1764654160442999999))
	f.Add("", "a b=\"c\"\\", "\xff\u2028", "", 0, int64(-1), int64(-1), int64(0))
	f.Fuzz(func(t *testing.T, method, path, user, cache string, status int, n, d, unixNano int64) {
		l := Line{Time: time.Unix(0, unixNano).UTC(), Level: slog.LevelInfo, Method: method, Path: path, Status: status,
			Bytes: n, Duration: time.Duration(d), Cache: cache, User: user}
		if y := l.Time.Year(); y < 0 || y > 9999 {
			return // RFC 3339 has four-digit years; the request log never holds others
		}
		check(t, &l)
	})
}

// Lines written through a Handler by many goroutines arrive whole.
func TestHandlerWritesWholeLines(t *testing.T) {
	var mu sync.Mutex
	var buf bytes.Buffer
	w := writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return buf.Write(p)
	})
	h := NewHandler(w, false, nil)
	log := slog.New(h)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				l := Line{Time: time.Now(), Level: slog.LevelInfo, Method: "GET", Path: strings.Repeat("p", g*100+i+1), Status: 200, Cache: "hit"}
				Log(context.Background(), log, &l)
				log.Info("other", "i", i)
			}
		})
	}
	wg.Wait()
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != 8*200*2 {
		t.Fatalf("%d lines, want %d", len(lines), 8*200*2)
	}
	for _, ln := range lines {
		if !strings.HasPrefix(ln, "time=") || !(strings.Contains(ln, " msg=request method=GET path=p") && strings.HasSuffix(ln, " cache=hit") || strings.Contains(ln, " msg=other i=")) {
			t.Fatalf("mangled line %q", ln)
		}
	}
}

// Log honours the level, and a JSON handler or any other handler gets the
// record itself.
func TestLogLevelsAndOtherHandlers(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(NewHandler(&buf, false, &slog.HandlerOptions{Level: slog.LevelWarn}))
	l := Line{Time: time.Now(), Level: slog.LevelInfo, Method: "GET", Path: "/x", Status: 200, Cache: "hit"}
	Log(context.Background(), log, &l)
	if buf.Len() != 0 {
		t.Fatalf("an info line was written at level warn: %q", buf.String())
	}
	l.Level = slog.LevelWarn
	Log(context.Background(), log, &l)
	if want := viaSlog(t, &l); buf.String() != want {
		t.Fatalf("got %q, want %q", buf.String(), want)
	}

	buf.Reset()
	Log(context.Background(), slog.New(NewHandler(&buf, true, nil)), &l)
	var want bytes.Buffer
	slog.NewJSONHandler(&want, nil).Handle(context.Background(), l.Record())
	if buf.String() != want.String() {
		t.Fatalf("JSON: got %q, want %q", buf.String(), want.String())
	}

	buf.Reset()
	upper := func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == "path" {
			a.Value = slog.StringValue(strings.ToUpper(a.Value.String()))
		}
		return a
	}
	Log(context.Background(), slog.New(NewHandler(&buf, false, &slog.HandlerOptions{ReplaceAttr: upper})), &l)
	if !strings.Contains(buf.String(), " path=/X ") {
		t.Fatalf("ReplaceAttr was not applied to a request line: %q", buf.String())
	}

	buf.Reset()
	Log(context.Background(), slog.New(NewHandler(&buf, false, nil)).With("replica", "a"), &l)
	if !strings.HasSuffix(buf.String(), " cache=hit replica=a\n") && !strings.Contains(buf.String(), " replica=a ") {
		t.Fatalf("a derived logger's attributes are missing: %q", buf.String())
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

func BenchmarkRequestLine(b *testing.B) {
	l := Line{Time: time.Now(), Level: slog.LevelInfo, Method: "GET", Path: "/github.com/google/uuid/@v/v1.6.0.info",
		Status: 200, Bytes: 53, Duration: 69414 * time.Nanosecond, Cache: "hit"}
	ctx := context.Background()
	b.Run("reqlog", func(b *testing.B) {
		log := slog.New(NewHandler(io.Discard, false, nil))
		b.ReportAllocs()
		for b.Loop() {
			Log(ctx, log, &l)
		}
	})
	b.Run("slog", func(b *testing.B) {
		log := slog.New(slog.NewTextHandler(io.Discard, nil))
		b.ReportAllocs()
		for b.Loop() {
			Log(ctx, log, &l)
		}
	})
}
