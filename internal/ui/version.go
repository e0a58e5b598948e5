package ui

import (
	"errors"
	"io/fs"
	"net/http"
	"time"

	"golang.org/x/mod/module"

	"github.com/modvault/modvault/internal/index"
	"github.com/modvault/modvault/internal/license"
	"github.com/modvault/modvault/internal/vulndb"
)

// Downloads over time: the chart covers chartDays days, and the page
// lists up to recentDownloaders downloaders.
const (
	chartDays         = 30
	recentDownloaders = 10
)

// versionPage is the data of /ui/<module>@<version>.
type versionPage struct {
	index.Version
	GoSum       string
	Verified    string // how it was verified, or why not
	Verdict     *verdict
	HasLicenses bool
	Licenses    []license.License
	Licensed    bool // whether the licenses are known (Licenses non-nil)
	HasVulns    bool
	Vulns       []vulndb.Finding
	VulnsKnown  bool // whether a database was asked (Vulns non-nil)
	Chart       chart
	Downloaders []index.Downloader
	Since       time.Time
	HasMod      bool // whether the go.mod was read
	Go          string
	Requires    []require
}

// require is a requirement of a go.mod.
type require struct {
	Mod      module.Version
	Indirect bool
}

// serveVersion serves /ui/<module>@<version>.
func (h *Handler) serveVersion(w http.ResponseWriter, r *http.Request, rest string) {
	if len(r.URL.RawQuery) > 0 {
		h.badRequest(w, r, errNoParams)
		return
	}
	mv, err := parseModuleVersion(rest)
	if err != nil {
		h.badRequest(w, r, err)
		return
	}
	ctx := r.Context()
	if !h.canRead(ctx, mv.Path) {
		h.notFound(w, r)
		return
	}
	v, err := h.opts.Index.Version(ctx, mv)
	if errors.Is(err, fs.ErrNotExist) {
		h.notFound(w, r)
		return
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	p := &versionPage{Version: v, Verdict: h.decide(ctx, mv)}
	if v.ZipH1 != "" {
		p.GoSum = mv.Path + " " + mv.Version + " " + v.ZipH1 + "\n"
	}
	p.GoSum += mv.Path + " " + mv.Version + "/go.mod " + v.ModH1 + "\n"
	switch {
	case v.Proof != nil:
		p.Verified = "Verified in the checksum database " + v.Proof.DB + "."
	case v.Private:
		p.Verified = "Not verified: a private module (GONOSUMDB) is in no public checksum database; its hashes are those of its first fetch."
	default:
		p.Verified = "Not verified: no checksum database was configured for it when it was stored."
	}
	if h.opts.Licenses != nil {
		p.HasLicenses, p.Licenses = true, h.opts.Licenses(ctx, mv)
		p.Licensed = p.Licenses != nil
	}
	if h.opts.Vulns != nil {
		p.HasVulns, p.Vulns = true, h.opts.Vulns(ctx, mv)
		p.VulnsKnown = p.Vulns != nil
	}
	p.Since = since(h.opts.Now(), chartDays)
	dl, err := h.opts.Index.VersionDownloads(ctx, mv, p.Since, recentDownloaders)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	p.Chart = newChart(dl.ByDay, p.Since, chartDays)
	p.Downloaders = dl.Recent
	if h.opts.ReadMod != nil {
		if f, err := h.goMod(ctx, mv); err == nil {
			p.HasMod = true
			if f.Go != nil {
				p.Go = f.Go.Version
			}
			for _, req := range f.Require {
				p.Requires = append(p.Requires, require{Mod: req.Mod, Indirect: req.Indirect})
			}
		}
	}
	h.render(w, r, http.StatusOK, "version", mv.Path+"@"+mv.Version, p)
}
