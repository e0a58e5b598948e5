package proxytest

import (
	"fmt"
	"net"
	"net/http"
	"time"
)

// Misbehaviour is a way an upstream answers 200 and then fails, or is slow,
// while it sends the body.
type Misbehaviour string

// The misbehaviours of [Misbehave].
const (
	// Stall sends the headers (announcing the whole body) and half the
	// body, then nothing, with the connection open, until the client
	// hangs up (or 30 seconds pass, so that a test server can close).
	Stall Misbehaviour = "stall"
	// Reset sends the headers and half the body, then resets the
	// connection (TCP RST).
	Reset Misbehaviour = "reset"
	// Short announces the whole body, sends half and closes the
	// connection.
	Short Misbehaviour = "short"
	// Trickle sends the whole body in TricklePieces pieces (fewer if
	// the body is shorter) TrickleGap apart: slow, but never silent for
	// longer than TrickleGap.
	Trickle Misbehaviour = "trickle"
)

// The pace of [Trickle].
const (
	TricklePieces = 20
	TrickleGap    = 50 * time.Millisecond
)

// Misbehave returns a handler that answers 200 with body, misbehaving as
// how says.
func Misbehave(how Misbehaviour, body []byte) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		half := body[:len(body)/2]
		switch how {
		case Reset:
			conn, rw, err := http.NewResponseController(w).Hijack()
			if err != nil {
				panic(err)
			}
			fmt.Fprintf(rw, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", len(body))
			rw.Write(half)
			rw.Flush()
			if tc, ok := conn.(*net.TCPConn); ok {
				tc.SetLinger(0) // close with RST
			}
			conn.Close()
			return
		case Trickle:
			w.Header().Set("Content-Length", fmt.Sprint(len(body)))
			pieces := min(TricklePieces, len(body))
			for i := range pieces {
				if i > 0 {
					time.Sleep(TrickleGap)
				}
				if _, err := w.Write(body[i*len(body)/pieces : (i+1)*len(body)/pieces]); err != nil {
					return
				}
				w.(http.Flusher).Flush()
			}
			return
		}
		w.Header().Set("Content-Length", fmt.Sprint(len(body)))
		w.Write(half)
		w.(http.Flusher).Flush()
		if how == Stall {
			select {
			case <-r.Context().Done():
			case <-time.After(30 * time.Second):
			}
		}
		// Short: returning before the announced length closes the
		// connection.
	}
}
