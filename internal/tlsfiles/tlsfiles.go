// Package tlsfiles serves TLS with a certificate and key read from PEM
// files, and reads them again when they change, without a restart: a
// renewed certificate (cert-manager, certbot, a mounted Kubernetes secret)
// is used from the next handshake on.
//
// The files are read again at most every [CheckInterval], during a
// handshake; when their content differs from the last pair read, the new
// pair is loaded. A pair that fails to load (a half-written file, a key
// that does not match the certificate) is logged once, as an error, and the
// last good pair stays in use; it is tried again when the files change
// again. The content is compared rather than the modification times, so a
// copy that keeps the time (cp -p) is seen too.
package tlsfiles

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// CheckInterval is how often, at most, the files are read again.
const CheckInterval = 5 * time.Second

// Reloader holds a certificate and key read from files and reads them again
// when they change. It is safe for concurrent use.
type Reloader struct {
	certFile, keyFile string
	log               *slog.Logger
	every             time.Duration
	now               func() time.Time

	next atomic.Int64                    // UnixNano of the next check
	cert atomic.Pointer[tls.Certificate] // the pair in use

	mu    sync.Mutex        // serializes checks
	state [sha256.Size]byte // hash of the files' content (or read error) last acted on
}

// New reads the PEM certificate (chain) in certFile and the key in keyFile
// and returns a Reloader serving them. It fails if they cannot be loaded.
func New(certFile, keyFile string, log *slog.Logger) (*Reloader, error) {
	return newReloader(certFile, keyFile, log, CheckInterval, time.Now)
}

func newReloader(certFile, keyFile string, log *slog.Logger, every time.Duration, now func() time.Time) (*Reloader, error) {
	if log == nil {
		log = slog.Default()
	}
	r := &Reloader{certFile: certFile, keyFile: keyFile, log: log, every: every, now: now}
	state, certPEM, keyPEM, err := r.read()
	if err != nil {
		return nil, err
	}
	c, err := load(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("tls: certificate %s and key %s: %w", certFile, keyFile, err)
	}
	r.state = state
	r.cert.Store(c)
	r.next.Store(now().Add(every).UnixNano())
	r.logLoaded("TLS certificate loaded", c)
	return r, nil
}

// read reads both files and returns them with a hash of their content.
func (r *Reloader) read() (state [sha256.Size]byte, certPEM, keyPEM []byte, err error) {
	certPEM, err = os.ReadFile(r.certFile)
	if err != nil {
		return state, nil, nil, fmt.Errorf("tls: reading the certificate: %w", err)
	}
	keyPEM, err = os.ReadFile(r.keyFile)
	if err != nil {
		return state, nil, nil, fmt.Errorf("tls: reading the key: %w", err)
	}
	h := sha256.New()
	h.Write(certPEM)
	h.Write([]byte{0})
	h.Write(keyPEM)
	h.Sum(state[:0])
	return state, certPEM, keyPEM, nil
}

// load parses a certificate and key pair, with its leaf.
func load(certPEM, keyPEM []byte) (*tls.Certificate, error) {
	c, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, err
	}
	if c.Leaf == nil {
		if c.Leaf, err = x509.ParseCertificate(c.Certificate[0]); err != nil {
			return nil, err
		}
	}
	return &c, nil
}

// logLoaded logs a loaded certificate: its subject, names and validity, as
// a warning if it is not valid now.
func (r *Reloader) logLoaded(msg string, c *tls.Certificate) {
	now := r.now()
	level := slog.LevelInfo
	if now.Before(c.Leaf.NotBefore) || now.After(c.Leaf.NotAfter) {
		level, msg = slog.LevelWarn, msg+"; it is not valid now"
	}
	names := slices.Clone(c.Leaf.DNSNames)
	for _, ip := range c.Leaf.IPAddresses {
		names = append(names, ip.String())
	}
	r.log.Log(context.Background(), level, msg,
		"cert", r.certFile,
		"subject", c.Leaf.Subject.String(),
		"names", strings.Join(names, ","),
		"not_after", c.Leaf.NotAfter.UTC().Format(time.RFC3339))
}

// Certificate returns the pair in use, first reading the files again if
// the interval has passed. Only one caller reads them; the others meanwhile
// get the pair in use without waiting.
func (r *Reloader) Certificate() *tls.Certificate {
	n := r.next.Load()
	if now := r.now(); now.UnixNano() >= n && r.next.CompareAndSwap(n, now.Add(r.every).UnixNano()) {
		r.check()
	}
	return r.cert.Load()
}

// GetCertificate returns the pair in use: use it as
// [tls.Config.GetCertificate].
func (r *Reloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return r.Certificate(), nil
}

// TLSConfig returns a server configuration serving the pair in use: TLS 1.2
// or later, Go's default cipher suites (all with forward secrecy and
// AEAD), HTTP/2 and HTTP/1.1. Its Certificates must stay empty: a client
// that sends no server name (one dialing an IP address) would get them
// instead of GetCertificate's.
func (r *Reloader) TLSConfig() *tls.Config {
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: r.GetCertificate,
		NextProtos:     []string{"h2", "http/1.1"},
	}
}

// check reads the files and, if their content changed, loads them.
func (r *Reloader) check() {
	r.mu.Lock()
	defer r.mu.Unlock()
	state, certPEM, keyPEM, err := r.read()
	if err != nil {
		state = sha256.Sum256([]byte("error: " + err.Error()))
	}
	if state == r.state {
		return
	}
	r.state = state
	if err != nil {
		r.log.Error("TLS certificate not reloaded; the previous one stays in use", "err", err)
		return
	}
	c, err := load(certPEM, keyPEM)
	if err != nil {
		r.log.Error("TLS certificate not reloaded: the files changed but do not make a valid pair; the previous one stays in use",
			"cert", r.certFile, "key", r.keyFile, "err", err)
		return
	}
	r.cert.Store(c)
	r.logLoaded("TLS certificate reloaded", c)
}
