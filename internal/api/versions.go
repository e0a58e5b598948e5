package api

import (
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"time"

	"github.com/modvault/modvault/internal/index"
)

// Version is the answer of GET /api/v1/versions/<module>@<version>:
// everything the index records about a version.
type Version struct {
	Path     string    `json:"path"`
	Version  string    `json:"version"`
	StoredAt time.Time `json:"stored_at"`
	Source   Source    `json:"source"`
	Info     File      `json:"info"`
	Mod      File      `json:"mod"`
	Zip      *File     `json:"zip"` // null while no zip is stored
	ModH1    string    `json:"mod_h1"`
	ZipH1    string    `json:"zip_h1,omitempty"`
	// Verified says how the hashes were verified: "checksum database
	// <name>, record <n>, tree size <m>", "not verified: private", or
	// "not verified".
	Verified     string    `json:"verified"`
	Proof        *Proof    `json:"proof"` // null if not verified
	Private      bool      `json:"private"`
	Downloads    int64     `json:"downloads"` // zips served
	Hits         int64     `json:"hits"`      // .info and .mod served
	LastDownload time.Time `json:"last_download,omitzero"`
}

// Source is where a version came from: an upstream proxy (redacted URL),
// or direct from version control (the .info's Origin).
type Source struct {
	Kind     string `json:"kind"` // "upstream" or "direct"
	Upstream string `json:"upstream,omitempty"`
	VCS      string `json:"vcs,omitempty"`
	URL      string `json:"url,omitempty"`
	Ref      string `json:"ref,omitempty"`
	Hash     string `json:"hash,omitempty"`
}

// File is a stored file's size and SHA-256 (lowercase hex).
type File struct {
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// Proof is the checksum-database record that proved a version's hashes.
type Proof struct {
	DB       string `json:"db"`
	Record   int64  `json:"record"`
	TreeSize int64  `json:"tree_size"`
}

// serveVersion serves GET /api/v1/versions/<module>@<version>, or 404 if
// the index does not hold the version or the viewer may not read it.
func (h *Handler) serveVersion(w http.ResponseWriter, r *http.Request, _ url.Values, rest string) {
	mv, err := parseModuleVersion(rest)
	if err != nil {
		h.badRequest(w, false, err)
		return
	}
	v, err := index.Version{}, fs.ErrNotExist
	if h.canRead(r.Context(), mv.Path) {
		v, err = h.ix.Version(r.Context(), mv)
	}
	if errors.Is(err, fs.ErrNotExist) {
		h.error(w, false, http.StatusNotFound, "not found: "+mv.String()+" is not in the index")
		return
	}
	if err != nil {
		h.fail(w, r, false, err)
		return
	}
	writeJSON(w, r, http.StatusOK, version(&v))
}

// version returns the answer for v.
func version(v *index.Version) Version {
	out := Version{
		Path:     v.Path,
		Version:  v.Version,
		StoredAt: v.StoredAt,
		Source: Source{Kind: v.Source.Kind, Upstream: v.Source.Upstream,
			VCS: v.Source.VCS, URL: v.Source.URL, Ref: v.Source.Ref, Hash: v.Source.Hash},
		Info:         File(v.Info),
		Mod:          File(v.Mod),
		ModH1:        v.ModH1,
		ZipH1:        v.ZipH1,
		Private:      v.Private,
		Downloads:    v.Downloads,
		Hits:         v.Hits,
		LastDownload: v.LastDownload,
	}
	if v.Zip != nil {
		out.Zip = &File{Size: v.Zip.Size, SHA256: v.Zip.SHA256}
	}
	switch {
	case v.Proof != nil:
		out.Proof = &Proof{DB: v.Proof.DB, Record: v.Proof.Record, TreeSize: v.Proof.TreeSize}
		out.Verified = fmt.Sprintf("checksum database %s, record %d, tree size %d", v.Proof.DB, v.Proof.Record, v.Proof.TreeSize)
	case v.Private:
		out.Verified = "not verified: private"
	default:
		out.Verified = "not verified"
	}
	return out
}
