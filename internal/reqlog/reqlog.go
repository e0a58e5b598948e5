// Package reqlog writes modvault's request log: one line per request. A line
// is written on every request, so a text line is made by hand, in exactly
// the bytes slog's TextHandler writes for the same record (the tests hold
// the two to that): slog's general handler costs about four times as much
// per line, a few per cent of a warm request. Every other line of the log,
// and every line in the JSON format, goes through slog's own handler.
package reqlog

import (
	"context"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"
)

// Line is one request, as logged: the message "request" with these
// attributes, in this order; User is left out when empty.
type Line struct {
	Time     time.Time
	Level    slog.Level
	Method   string
	Path     string
	Status   int
	Bytes    int64
	Duration time.Duration
	Cache    string
	User     string
}

// Record returns the line as a slog record.
func (l *Line) Record() slog.Record {
	r := slog.NewRecord(l.Time, l.Level, "request", 0)
	r.AddAttrs(slog.String("method", l.Method), slog.String("path", l.Path), slog.Int("status", l.Status),
		slog.Int64("bytes", l.Bytes), slog.Duration("duration", l.Duration), slog.String("cache", l.Cache))
	if l.User != "" {
		r.AddAttrs(slog.String("user", l.User))
	}
	return r
}

// Handler is modvault's log handler: slog's text or JSON handler, which it
// embeds for every record, plus [Handler.WriteRequest] for request lines.
// Handlers derived from it (WithAttrs, WithGroup) are slog's own.
type Handler struct {
	slog.Handler
	w    io.Writer // nil for JSON: request lines go through slog
	bufs sync.Pool // of *[]byte
}

// NewHandler returns a handler that writes to w in text, or in JSON if
// json, the records of level opts.Level and above. Request lines are made
// by hand only for text without opts.AddSource or opts.ReplaceAttr (which
// would change them); otherwise they go through slog too.
func NewHandler(w io.Writer, json bool, opts *slog.HandlerOptions) *Handler {
	if json {
		return &Handler{Handler: slog.NewJSONHandler(w, opts)}
	}
	h := &Handler{Handler: slog.NewTextHandler(w, opts)}
	if opts == nil || (!opts.AddSource && opts.ReplaceAttr == nil) {
		h.w = w
	}
	return h
}

// Log writes l to log, if its level is enabled: by hand when log's handler
// is a text [Handler], else through log's handler.
func Log(ctx context.Context, log *slog.Logger, l *Line) {
	h := log.Handler()
	if !h.Enabled(ctx, l.Level) {
		return
	}
	if rh, ok := h.(*Handler); ok {
		rh.WriteRequest(ctx, l)
		return
	}
	h.Handle(ctx, l.Record()) // as Logger.LogAttrs does, the handler's error is dropped
}

// WriteRequest writes l, whatever its level, with one Write of the whole
// line (as slog's handlers do, so lines never interleave). The error of
// the writer is dropped, as Logger.LogAttrs drops the handler's.
func (h *Handler) WriteRequest(ctx context.Context, l *Line) {
	if h.w == nil {
		h.Handler.Handle(ctx, l.Record())
		return
	}
	bp, _ := h.bufs.Get().(*[]byte)
	if bp == nil {
		bp = new([]byte)
	}
	b := AppendText((*bp)[:0], l)
	h.w.Write(b)
	if cap(b) <= 4<<10 { // do not keep the buffer of an outsized path
		*bp = b
		h.bufs.Put(bp)
	}
}

// AppendText appends l as slog's TextHandler (without AddSource or
// ReplaceAttr) writes it, newline included.
func AppendText(b []byte, l *Line) []byte {
	if !l.Time.IsZero() { // slog leaves out a zero time
		b = append(b, "time="...)
		b = appendRFC3339Millis(b, l.Time.Round(0))
		b = append(b, ' ')
	}
	b = append(b, "level="...)
	b = appendString(b, l.Level.String())
	b = append(b, " msg=request method="...)
	b = appendString(b, l.Method)
	b = append(b, " path="...)
	b = appendString(b, l.Path)
	b = append(b, " status="...)
	b = strconv.AppendInt(b, int64(l.Status), 10)
	b = append(b, " bytes="...)
	b = strconv.AppendInt(b, l.Bytes, 10)
	b = append(b, " duration="...)
	b = append(b, l.Duration.String()...)
	b = append(b, " cache="...)
	b = appendString(b, l.Cache)
	if l.User != "" {
		b = append(b, " user="...)
		b = appendString(b, l.User)
	}
	return append(b, '\n')
}

// appendRFC3339Millis appends t as slog's text handler does: RFC 3339 with
// exactly three digits of milliseconds, truncated.
func appendRFC3339Millis(b []byte, t time.Time) []byte {
	const prefixLen = len("2006-01-02T15:04:05.000")
	n := len(b)
	t = t.Truncate(time.Millisecond).Add(time.Millisecond / 10)
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b[:n+prefixLen], b[n+prefixLen+1:]...) // drop the fourth digit
}

// appendString appends s, quoted with strconv.AppendQuote if slog's text
// handler would quote it.
func appendString(b []byte, s string) []byte {
	if needsQuoting(s) {
		return strconv.AppendQuote(b, s)
	}
	return append(b, s...)
}

// needsQuoting reports whether slog's text handler quotes s: an empty
// string, or one holding a space, '=', a character a JSON string would
// escape (a control character or '"'; not a backslash, not DEL), or a rune
// beyond ASCII that is not valid, a space or not printable.
func needsQuoting(s string) bool {
	if s == "" {
		return true
	}
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c != '\\' && (c <= ' ' || c == '=' || c == '"') {
				return true
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError || unicode.IsSpace(r) || !unicode.IsPrint(r) {
			return true
		}
		i += size
	}
	return false
}
