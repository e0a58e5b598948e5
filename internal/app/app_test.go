package app_test

import (
	"bytes"
	"context"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/modvault/modvault/internal/app"
	"github.com/modvault/modvault/internal/config"
	"github.com/modvault/modvault/internal/proxytest"
)

func TestMain(m *testing.M) {
	proxytest.BlockNonLoopback()
	os.Exit(m.Run())
}

const token = "s3cret-app-token-5f1c9e"

// withCredentials returns a configuration that fetches example.test from
// version control with a token, keeping its temporary files in tempDir.
func withCredentials(tempDir string) config.Serve {
	return config.Serve{
		Storage:         "mem://",
		Upstream:        "off",
		GOPRIVATE:       "example.test",
		GONOPROXY:       "example.test",
		GONOSUMDB:       "example.test",
		DirectLimit:     1,
		DirectTimeout:   time.Minute,
		DirectTokens:    []config.Token{{Host: "example.test", Secret: token}, {Host: "other.test", Username: "bot", Secret: token + "-two"}},
		ListTTL:         time.Minute,
		FillTimeout:     time.Minute,
		TempDir:         tempDir,
		ShutdownTimeout: time.Second,
	}
}

// leftOnDisk returns the files and directories under dir, and the files
// whose content holds secret.
func leftOnDisk(t *testing.T, dir, secret string) (left, holding []string) {
	t.Helper()
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || path == dir {
			return err
		}
		left = append(left, path)
		if !d.IsDir() {
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			if bytes.Contains(b, []byte(secret)) {
				holding = append(holding, path)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return left, holding
}

// TestFailedStartLeavesNoCredentials: when a part built after the direct
// fetcher fails, New removes the fetcher's credential files: nothing of
// the tokens stays on disk.
func TestFailedStartLeavesNoCredentials(t *testing.T) {
	for _, tt := range []struct {
		name  string
		bad   func(c *config.Serve, dir string)
		words string
	}{
		{"missing users file", func(c *config.Serve, dir string) {
			c.AuthUsers = filepath.Join(dir, "no-such-htpasswd")
		}, "access control"},
		{"store that cannot sign", func(c *config.Serve, dir string) {
			c.Storage = (&url.URL{Scheme: "file", Path: filepath.ToSlash(dir)}).String()
			c.ZipRedirect = time.Minute
		}, "zip-redirect"},
		{"missing certificate", func(c *config.Serve, dir string) {
			c.TLSCert, c.TLSKey = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
		}, "tls"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tempDir := t.TempDir()
			cfg := withCredentials(tempDir)
			tt.bad(&cfg, t.TempDir())
			var log bytes.Buffer
			a, err := app.New(context.Background(), cfg, slog.New(slog.NewTextHandler(&log, nil)), "test")
			if err == nil {
				a.Close()
				t.Fatal("New succeeded")
			}
			if !strings.Contains(err.Error(), tt.words) {
				t.Errorf("error %q does not mention %s", err, tt.words)
			}
			// Without the fetcher built first, this test proves nothing.
			if !strings.Contains(log.String(), "fetching from version control") {
				t.Fatalf("New failed before building the direct fetcher: %v\n%s", err, log.String())
			}
			left, holding := leftOnDisk(t, tempDir, token)
			if len(left) > 0 || len(holding) > 0 {
				t.Errorf("after a failed start, the temporary directory holds %q; the token is in %q", left, holding)
			}
		})
	}
}

// TestCloseRemovesCredentials: a started App holds its credential files
// until Close, which removes them; a second Close does nothing.
func TestCloseRemovesCredentials(t *testing.T) {
	tempDir := t.TempDir()
	a, err := app.New(context.Background(), withCredentials(tempDir), slog.New(slog.DiscardHandler), "test")
	if err != nil {
		t.Fatal(err)
	}
	if _, holding := leftOnDisk(t, tempDir, token); len(holding) == 0 {
		t.Fatalf("no file under %s holds the token while modvault runs: is it written elsewhere?", tempDir)
	}
	if err := a.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if left, holding := leftOnDisk(t, tempDir, token); len(left) > 0 || len(holding) > 0 {
		t.Errorf("after Close, the temporary directory holds %q; the token is in %q", left, holding)
	}
	if err := a.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}
