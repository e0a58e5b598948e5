// Command refserver is a reference for bench/run.sh: the fastest a Go server
// can answer the same files, so that each run shows how much of the gap to
// nginx is the HTTP server and how much is modvault's own work.
//
// It reads every file under -root into memory at start and answers GET and
// HEAD of their paths with the headers modvault sends for a stored version
// file (Content-Type, Content-Length, Cache-Control, ETag, Last-Modified,
// Accept-Ranges), and logs one line per request to -log through a 64 KiB
// buffer flushed every 100 ms, as modvault's request log is written. It
// does nothing else: no routing, no access control, no audit trail, no
// policy, no conditional or range requests.
//
// -server nethttp uses Go's net/http with the timeouts modvault sets;
// -server fasthttp uses github.com/valyala/fasthttp, a server outside the
// standard library that reuses every per-request object. It lives in its own
// module so that modvault never depends on it.
//
// Usage:
//
//	refserver -server nethttp|fasthttp -listen 127.0.0.1:8080 -root DIR [-log FILE]
package main

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
)

// file is one file answered from memory, with its header values made once.
type file struct {
	body                 []byte
	ctype, etag, lastMod string
	length               string
}

func main() {
	server := flag.String("server", "nethttp", "nethttp or fasthttp")
	listen := flag.String("listen", "127.0.0.1:8080", "address to listen on")
	root := flag.String("root", "", "directory whose files are served")
	logPath := flag.String("log", os.DevNull, "request log file")
	flag.Parse()
	if *root == "" || flag.NArg() > 0 {
		log.Fatal("usage: refserver -server nethttp|fasthttp -listen ADDR -root DIR [-log FILE]")
	}
	files, err := load(*root)
	if err != nil {
		log.Fatal(err)
	}
	lf, err := os.Create(*logPath)
	if err != nil {
		log.Fatal(err)
	}
	rl := newRequestLog(lf)
	switch *server {
	case "nethttp":
		srv := &http.Server{
			Addr:              *listen,
			Handler:           netHTTPHandler(files, rl),
			ReadHeaderTimeout: 10 * time.Second, // as modvault's
			IdleTimeout:       2 * time.Minute,
		}
		log.Fatal(srv.ListenAndServe())
	case "fasthttp":
		srv := &fasthttp.Server{
			Handler:               fastHTTPHandler(files, rl),
			ReadTimeout:           10 * time.Second,
			IdleTimeout:           2 * time.Minute,
			NoDefaultServerHeader: true,
		}
		log.Fatal(srv.ListenAndServe(*listen))
	default:
		log.Fatalf("-server %q: want nethttp or fasthttp", *server)
	}
}

// load reads every regular file under root, keyed by its URL path.
func load(root string) (map[string]*file, error) {
	files := map[string]*file{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		body, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(body)
		ctype := "text/plain; charset=utf-8"
		switch {
		case strings.HasSuffix(p, ".info"):
			ctype = "application/json"
		case strings.HasSuffix(p, ".zip"):
			ctype = "application/zip"
		}
		files["/"+filepath.ToSlash(rel)] = &file{
			body:    body,
			ctype:   ctype,
			etag:    `"` + hex.EncodeToString(sum[:16]) + `"`,
			lastMod: fi.ModTime().UTC().Format(http.TimeFormat),
			length:  strconv.Itoa(len(body)),
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("loading %s: %w", root, err)
	}
	return files, nil
}

// requestLog writes one line per request through a buffer flushed every
// 100 ms and at 64 KiB.
type requestLog struct {
	mu sync.Mutex
	w  *bufio.Writer
}

func newRequestLog(w io.Writer) *requestLog {
	l := &requestLog{w: bufio.NewWriterSize(w, 64<<10)}
	go func() {
		for range time.Tick(100 * time.Millisecond) {
			l.mu.Lock()
			l.w.Flush()
			l.mu.Unlock()
		}
	}()
	return l
}

// line logs a request in the shape of modvault's text log line.
func (l *requestLog) line(start time.Time, method, path string, status, n int) {
	var b [256]byte
	p := start.AppendFormat(b[:0], "time=2006-01-02T15:04:05.000Z07:00")
	p = append(p, " level=INFO msg=request method="...)
	p = append(p, method...)
	p = append(p, " path="...)
	p = append(p, path...)
	p = append(p, " status="...)
	p = strconv.AppendInt(p, int64(status), 10)
	p = append(p, " bytes="...)
	p = strconv.AppendInt(p, int64(n), 10)
	p = append(p, " duration="...)
	p = append(p, time.Since(start).String()...)
	p = append(p, " cache=hit\n"...)
	l.mu.Lock()
	l.w.Write(p)
	l.mu.Unlock()
}

func netHTTPHandler(files map[string]*file, rl *requestLog) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		f := files[r.URL.Path]
		if f == nil || (r.Method != http.MethodGet && r.Method != http.MethodHead) {
			http.NotFound(w, r)
			rl.line(start, r.Method, r.URL.Path, http.StatusNotFound, 0)
			return
		}
		h := w.Header()
		h["Content-Type"] = []string{f.ctype}
		h["Content-Length"] = []string{f.length}
		h["Cache-Control"] = []string{"public, max-age=31536000, immutable"}
		h["Etag"] = []string{f.etag}
		h["Last-Modified"] = []string{f.lastMod}
		h["Accept-Ranges"] = []string{"bytes"}
		n := 0
		if r.Method == http.MethodGet {
			n, _ = w.Write(f.body)
		}
		rl.line(start, r.Method, r.URL.Path, http.StatusOK, n)
	})
}

func fastHTTPHandler(files map[string]*file, rl *requestLog) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		start := time.Now()
		path := string(ctx.Path())
		method := string(ctx.Method())
		f := files[path]
		if f == nil || !(ctx.IsGet() || ctx.IsHead()) {
			ctx.NotFound()
			rl.line(start, method, path, fasthttp.StatusNotFound, 0)
			return
		}
		h := &ctx.Response.Header
		h.SetContentType(f.ctype)
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
		h.Set("Etag", f.etag)
		h.Set("Last-Modified", f.lastMod)
		h.Set("Accept-Ranges", "bytes")
		ctx.SetBody(f.body) // fasthttp leaves the body out of a HEAD answer
		n := 0
		if ctx.IsGet() {
			n = len(f.body)
		}
		rl.line(start, method, path, fasthttp.StatusOK, n)
	}
}
