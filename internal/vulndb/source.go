package vulndb

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/modvault/modvault/internal/fault"
)

// maxFileSize bounds every file read from a source, uncompressed. The Go
// database's largest, index/modules.json, is a few megabytes.
const maxFileSize = 64 << 20

// source is a database to mirror from, chosen once from its URL's scheme.
type source interface {
	// get returns the uncompressed bytes of an endpoint named without
	// extension ("index/db", "ID/GO-2024-0001"). Not found matches
	// fs.ErrNotExist.
	get(ctx context.Context, endpoint string) ([]byte, error)
}

// openSource returns the source for an http, https or file URL of a
// database's root.
func openSource(rawURL string, client *http.Client) (source, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("vulndb: source %q: %w", rawURL, err)
	}
	switch u.Scheme {
	case "http", "https":
		if client == nil {
			client = http.DefaultClient
		}
		return &httpSource{base: strings.TrimRight(rawURL, "/"), client: client}, nil
	case "file":
		if u.Host != "" && u.Host != "localhost" {
			return nil, fmt.Errorf("vulndb: source %q: a file URL names no host", rawURL)
		}
		p := u.Path
		if runtime.GOOS == "windows" {
			p = strings.TrimPrefix(p, "/")
		}
		return fileSource{dir: filepath.FromSlash(p)}, nil
	}
	return nil, fmt.Errorf("vulndb: source %q: want an http, https or file URL", rawURL)
}

// httpSource reads a database over HTTP, asking for the gzipped form of
// each file as govulncheck does, and for the plain one where that is not
// found.
type httpSource struct {
	base   string
	client *http.Client
}

func (s *httpSource) get(ctx context.Context, endpoint string) ([]byte, error) {
	b, err := s.fetch(ctx, endpoint+".json.gz")
	if errors.Is(err, fs.ErrNotExist) {
		b, err = s.fetch(ctx, endpoint+".json")
	}
	return b, err
}

// fetch GETs one file and returns its bytes, gunzipped if they are gzip.
func (s *httpSource) fetch(ctx context.Context, name string) ([]byte, error) {
	u := s.base + "/" + name
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("vulndb: %w", err)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("vulndb: GET %s: %w (%w)", u, fault.ErrUnavailable, err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusOK:
	case resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusGone:
		return nil, fmt.Errorf("vulndb: GET %s: %s: %w", u, resp.Status, fault.ErrNotFound)
	case resp.StatusCode >= 500:
		return nil, fmt.Errorf("vulndb: GET %s: %s: %w", u, resp.Status, fault.ErrUnavailable)
	default:
		return nil, fmt.Errorf("vulndb: GET %s: %s: %w", u, resp.Status, fault.ErrBadUpstream)
	}
	b, err := readBounded(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("vulndb: GET %s: %w", u, err)
	}
	return b, nil
}

// fileSource reads a database in a local directory, the plain form of
// each file where it exists, else the gzipped one.
type fileSource struct{ dir string }

func (s fileSource) get(ctx context.Context, endpoint string) ([]byte, error) {
	p := filepath.Join(s.dir, filepath.FromSlash(endpoint))
	f, err := os.Open(p + ".json")
	if errors.Is(err, fs.ErrNotExist) {
		f, err = os.Open(p + ".json.gz")
	}
	if err != nil {
		return nil, fmt.Errorf("vulndb: %w", err)
	}
	defer f.Close()
	b, err := readBounded(f)
	if err != nil {
		return nil, fmt.Errorf("vulndb: reading %s: %w", f.Name(), err)
	}
	return b, nil
}

// readBounded reads r, gunzipping it if it starts with the gzip magic
// number, up to maxFileSize uncompressed bytes.
func readBounded(r io.Reader) ([]byte, error) {
	br := io.LimitReader(r, maxFileSize+1)
	b, err := io.ReadAll(br)
	if err != nil {
		return nil, err
	}
	if len(b) > maxFileSize {
		return nil, fmt.Errorf("%w: larger than %d bytes", fault.ErrTooLarge, maxFileSize)
	}
	if len(b) >= 2 && b[0] == 0x1f && b[1] == 0x8b {
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			return nil, fmt.Errorf("%w: %w", fault.ErrBadUpstream, err)
		}
		b, err = io.ReadAll(io.LimitReader(zr, maxFileSize+1))
		if err != nil {
			return nil, fmt.Errorf("%w: gunzipping: %w", fault.ErrBadUpstream, err)
		}
	}
	if len(b) > maxFileSize {
		return nil, fmt.Errorf("%w: larger than %d bytes", fault.ErrTooLarge, maxFileSize)
	}
	return b, nil
}
