package auth

import (
	"io"
	"net/http"
	"strings"
)

// privateWriter turns "Cache-Control: public" into "private" in the
// response it writes, so that shared caches do not keep an answer that
// needed credentials.
type privateWriter struct {
	http.ResponseWriter
	done bool
}

func (w *privateWriter) privatize() {
	if w.done {
		return
	}
	w.done = true
	h := w.Header()
	vals := h.Values("Cache-Control")
	if len(vals) == 0 {
		return
	}
	var out []string
	for _, v := range vals {
		for d := range strings.SplitSeq(v, ",") {
			d = strings.TrimSpace(d)
			if strings.EqualFold(d, "public") {
				d = "private"
			}
			if d != "" {
				out = append(out, d)
			}
		}
	}
	h.Set("Cache-Control", strings.Join(out, ", "))
}

func (w *privateWriter) WriteHeader(status int) {
	w.privatize()
	w.ResponseWriter.WriteHeader(status)
}

func (w *privateWriter) Write(b []byte) (int, error) {
	w.privatize()
	return w.ResponseWriter.Write(b)
}

// ReadFrom passes io.Copy on to the underlying writer, so that a stored
// file is still sent with sendfile(2).
func (w *privateWriter) ReadFrom(src io.Reader) (int64, error) {
	w.privatize()
	return io.Copy(w.ResponseWriter, src)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *privateWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
