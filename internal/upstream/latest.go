package upstream

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"golang.org/x/mod/module"
	"golang.org/x/mod/semver"

	"github.com/modvault/modvault/internal/protocol"
)

// Limits on the answers read to work out a latest version from a list.
const (
	maxListSize = 16 << 20
	maxInfoSize = 64 << 10
)

// LatestFromList returns the version that the go command takes as a
// module's latest when a proxy answers its @latest with "not found": it
// reads the proxy's @v/list body as cmd/go/internal/modfetch's
// proxyRepo.latestFromList does. Of the lines whose first field is a valid
// semantic version, it picks the one with the newest time, where a line's
// time is its second field (RFC 3339) if it has one, else the time in a
// pseudo-version. Lines with neither, and times that do not parse, never
// win; of equal times the first line wins. ok is false when no line
// qualifies, as when the list holds only tags without times.
//
// Releases in the list take part only when the line has a time: the go
// command asks for @latest only after the list left it no release or
// pre-release to choose (none, or all retracted or excluded), so a module
// with tags gets the tags' answer from the go command whatever this picks.
//
// modvault's own @v/list therefore leaves pseudo-versions out, as the
// protocol asks of a list (cmd/go's proxyRepo.Versions drops them from
// "go list -m -versions" anyway): the go command would use them only for
// the @latest that modvault already answers with this function's choice,
// and a list holding them costs every client an extra .info request (the
// go command looks up the newest pseudo-version as soon as it reads one).
func LatestFromList(list []byte) (version string, ok bool) {
	var best time.Time
	for _, line := range strings.Split(string(list), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || !semver.IsValid(f[0]) {
			continue
		}
		var t time.Time
		switch {
		case len(f) >= 2:
			t, _ = time.Parse(time.RFC3339, f[1])
		case module.IsPseudoVersion(f[0]):
			t, _ = module.PseudoVersionTime(f[0])
		default:
			continue
		}
		if best.Before(t) {
			best, version = t, f[0]
		}
	}
	return version, version != ""
}

// latestFromList stands in for one proxy's @latest answer that was notErr,
// a "not found", as the go command does in that case: when path is an
// @latest path, it reads the proxy's @v/list, picks a version with
// [LatestFromList] and returns that version's .info from the same proxy,
// checked to name the version. If no version qualifies, it returns notErr;
// if the list or .info cannot be had, it returns their error, which the
// caller treats like any answer of this proxy (a "not found" falls through
// to the next entry). For any other path it returns notErr.
func (c *Client) latestFromList(ctx context.Context, base, path string, notErr error) (io.ReadCloser, int64, error) {
	if base == "" || !strings.HasSuffix(path, "/@latest") {
		return nil, 0, notErr
	}
	req, err := protocol.Parse(path)
	if err != nil {
		return nil, 0, notErr
	}
	listPath := protocol.Request{Kind: protocol.List, Module: req.Module}.Path()
	list, err := c.getFrom(ctx, base, listPath, maxListSize)
	if err != nil {
		return nil, 0, err
	}
	version, ok := LatestFromList(list)
	if !ok {
		return nil, 0, notErr
	}
	infoPath, err := protocol.Key(req.Module, version, protocol.Info)
	if err != nil {
		// The go command fails on such a version too.
		return nil, 0, fmt.Errorf("%w: %s names %q: %v", ErrBadResponse, listPath, version, err)
	}
	info, err := c.getFrom(ctx, base, infoPath, maxInfoSize)
	if err != nil {
		return nil, 0, err
	}
	var doc struct{ Version string }
	if err := json.Unmarshal(info, &doc); err != nil {
		return nil, 0, fmt.Errorf("%w: %s: %v", ErrBadResponse, infoPath, err)
	}
	if doc.Version != version && module.CanonicalVersion(version) == version && module.Check(req.Module, version) == nil {
		// As the go command's proxyRepo.Stat.
		return nil, 0, fmt.Errorf("%w: %s: info for version %s instead of requested version", ErrBadResponse, infoPath, doc.Version)
	}
	return io.NopCloser(bytes.NewReader(info)), int64(len(info)), nil
}

// getFrom requests path from the one proxy at base, reports it to Observe,
// and reads at most limit bytes of the answer.
func (c *Client) getFrom(ctx context.Context, base, path string, limit int64) ([]byte, error) {
	start := time.Now()
	resp, err := c.get(ctx, base+"/"+escapePath(path))
	c.report(TargetProxy, start, err)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("%w: %s: reading body: %w", ErrBadResponse, path, err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%w: %s: body larger than %d bytes", ErrBadResponse, path, limit)
	}
	return b, nil
}
