package tlsfiles

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// ca is a test certificate authority.
type ca struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

func newCA(t *testing.T) *ca {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &ca{cert: cert, key: key, pool: pool}
}

// issue returns the PEM certificate and key of a server certificate for
// 127.0.0.1 named cn.
func (c *ca) issue(t *testing.T, cn string) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.cert, &key.PublicKey, c.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
}

func write(t *testing.T, name string, data []byte) {
	t.Helper()
	if err := os.WriteFile(name, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// logBuffer is a log destination safe for concurrent handshakes.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// clock is a settable time.
type clock struct{ ns atomic.Int64 }

func newClock(t time.Time) *clock {
	c := &clock{}
	c.ns.Store(t.UnixNano())
	return c
}

func (c *clock) now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *clock) advance(d time.Duration) { c.ns.Add(int64(d)) }

// serve accepts TLS connections with cfg on a loopback port, completes
// their handshakes and closes them; it returns the address.
func serve(t *testing.T, cfg *tls.Config) string {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				_ = c.(*tls.Conn).HandshakeContext(ctx)
			})
		}
	})
	return ln.Addr().String()
}

// served returns the common name of the certificate a new handshake with
// addr gets, verified against roots.
func served(t *testing.T, addr string, roots *x509.CertPool) string {
	t.Helper()
	c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: roots})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0].Subject.CommonName
}

func TestReload(t *testing.T) {
	ca := newCA(t)
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	certA, keyA := ca.issue(t, "A")
	write(t, certFile, certA)
	write(t, keyFile, keyA)

	var logs logBuffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	clk := newClock(time.Now())
	const every = time.Minute
	r, err := newReloader(certFile, keyFile, log, every, clk.now)
	if err != nil {
		t.Fatal(err)
	}
	addr := serve(t, r.TLSConfig())
	if got := served(t, addr, ca.pool); got != "A" {
		t.Fatalf("first handshake got certificate %q, want A", got)
	}

	// The files change; the interval has not passed: still A.
	certB, keyB := ca.issue(t, "B")
	write(t, certFile, certB)
	write(t, keyFile, keyB)
	clk.advance(every / 2)
	if got := served(t, addr, ca.pool); got != "A" {
		t.Errorf("within the interval got %q, want A still", got)
	}
	// After the interval, a new handshake gets B.
	clk.advance(every)
	if got := served(t, addr, ca.pool); got != "B" {
		t.Errorf("after the interval got %q, want B", got)
	}
	if !strings.Contains(logs.String(), `msg="TLS certificate reloaded"`) || !strings.Contains(logs.String(), `subject="CN=B"`) {
		t.Errorf("reload not logged:\n%s", logs.String())
	}

	// A broken certificate file: B stays, one error is logged, however
	// many handshakes follow.
	write(t, certFile, []byte("-----BEGIN CERTIFICATE-----\nbroken\n"))
	for range 3 {
		clk.advance(2 * every)
		if got := served(t, addr, ca.pool); got != "B" {
			t.Errorf("with a broken file got %q, want B", got)
		}
	}
	if n := strings.Count(logs.String(), "level=ERROR"); n != 1 {
		t.Errorf("%d errors logged for one broken file, want 1:\n%s", n, logs.String())
	}
	if !strings.Contains(logs.String(), "do not make a valid pair") {
		t.Errorf("the error does not say what failed:\n%s", logs.String())
	}

	// A renewal written one file at a time: the new certificate with the
	// old key is refused (B stays), then the new key completes the pair.
	certC, keyC := ca.issue(t, "C")
	write(t, certFile, certC)
	clk.advance(2 * every)
	if got := served(t, addr, ca.pool); got != "B" {
		t.Errorf("with a certificate and a key that do not match got %q, want B", got)
	}
	write(t, keyFile, keyC)
	clk.advance(2 * every)
	if got := served(t, addr, ca.pool); got != "C" {
		t.Errorf("after the key was written got %q, want C", got)
	}

	// A file removed: C stays, the error is logged.
	if err := os.Remove(keyFile); err != nil {
		t.Fatal(err)
	}
	clk.advance(2 * every)
	if got := served(t, addr, ca.pool); got != "C" {
		t.Errorf("with the key file gone got %q, want C", got)
	}
	if !strings.Contains(logs.String(), "reading the key") {
		t.Errorf("the missing key is not logged:\n%s", logs.String())
	}
}

// TestReloadDefaultInterval checks the exported constructor with the real
// clock: a change is seen once CheckInterval has passed.
func TestReloadDefaultInterval(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for CheckInterval")
	}
	ca := newCA(t)
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	certA, keyA := ca.issue(t, "A")
	write(t, certFile, certA)
	write(t, keyFile, keyA)
	r, err := New(certFile, keyFile, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	addr := serve(t, r.TLSConfig())
	if got := served(t, addr, ca.pool); got != "A" {
		t.Fatalf("got %q, want A", got)
	}
	certB, keyB := ca.issue(t, "B")
	write(t, certFile, certB)
	write(t, keyFile, keyB)
	deadline := time.Now().Add(CheckInterval + 5*time.Second)
	for served(t, addr, ca.pool) != "B" {
		if time.Now().After(deadline) {
			t.Fatalf("still A %v after the files changed", CheckInterval+5*time.Second)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func TestNewErrors(t *testing.T) {
	ca := newCA(t)
	dir := t.TempDir()
	certA, keyA := ca.issue(t, "A")
	_, keyB := ca.issue(t, "B")
	certFile, keyFile, otherKey := filepath.Join(dir, "a.crt"), filepath.Join(dir, "a.key"), filepath.Join(dir, "b.key")
	write(t, certFile, certA)
	write(t, keyFile, keyA)
	write(t, otherKey, keyB)
	log := slog.New(slog.DiscardHandler)

	if _, err := New(filepath.Join(dir, "missing.crt"), keyFile, log); err == nil || !strings.Contains(err.Error(), "missing.crt") {
		t.Errorf("missing certificate: err = %v, want one naming the file", err)
	}
	if _, err := New(certFile, otherKey, log); err == nil || !strings.Contains(err.Error(), "b.key") {
		t.Errorf("mismatched key: err = %v, want one naming the files", err)
	}
	if _, err := New(certFile, keyFile, log); err != nil {
		t.Errorf("valid pair: %v", err)
	}
}

// TestTLSConfigVersions checks that TLS 1.2 and 1.3 are served and older
// versions refused.
func TestTLSConfigVersions(t *testing.T) {
	ca := newCA(t)
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	certA, keyA := ca.issue(t, "A")
	write(t, certFile, certA)
	write(t, keyFile, keyA)
	r, err := New(certFile, keyFile, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	cfg := r.TLSConfig()
	if len(cfg.Certificates) != 0 {
		t.Error("TLSConfig sets Certificates: clients without SNI would not get the reloaded pair")
	}
	addr := serve(t, cfg)
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: ca.pool, MinVersion: v, MaxVersion: v})
		if err != nil {
			t.Errorf("%s: %v", tls.VersionName(v), err)
			continue
		}
		c.Close()
	}
	if c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: ca.pool, MinVersion: tls.VersionTLS11, MaxVersion: tls.VersionTLS11}); err == nil {
		c.Close()
		t.Error("a TLS 1.1 handshake succeeded")
	}
}
