package protocol

import (
	"errors"
	"io/fs"
	"os"
	"strings"
	"testing"

	"golang.org/x/mod/module"

	"github.com/modvault/modvault/internal/proxytest"
)

func TestMain(m *testing.M) {
	proxytest.BlockNonLoopback()
	os.Exit(m.Run())
}

func TestParseAcceptsEveryEndpoint(t *testing.T) {
	tests := []struct {
		path string
		want Request
	}{
		{"/example.com/m/@v/list", Request{Kind: List, Module: "example.com/m"}},
		{"example.com/m/@v/list", Request{Kind: List, Module: "example.com/m"}},
		{"/example.com/m/@latest", Request{Kind: Latest, Module: "example.com/m"}},
		{"/example.com/m/@v/v1.2.3.info", Request{Kind: Info, Module: "example.com/m", Version: "v1.2.3"}},
		{"/example.com/m/@v/v1.2.3.mod", Request{Kind: Mod, Module: "example.com/m", Version: "v1.2.3"}},
		{"/example.com/m/@v/v1.2.3.zip", Request{Kind: Zip, Module: "example.com/m", Version: "v1.2.3"}},
		{"/example.com/m/v2/@v/v2.0.0.zip", Request{Kind: Zip, Module: "example.com/m/v2", Version: "v2.0.0"}},
		{"/gopkg.in/yaml.v3/@v/v3.0.1.mod", Request{Kind: Mod, Module: "gopkg.in/yaml.v3", Version: "v3.0.1"}},
		// Case-encoding: "!" + lowercase letter is an uppercase letter.
		{"/github.com/!azure/azure-sdk-for-go/@v/list", Request{Kind: List, Module: "github.com/Azure/azure-sdk-for-go"}},
		{"/example.com/!upper/@v/v1.0.0-!r!c1.info", Request{Kind: Info, Module: "example.com/Upper", Version: "v1.0.0-RC1"}},
		// "+" is a plus, never a space.
		{"/example.com/old/@v/v2.0.0+incompatible.mod", Request{Kind: Mod, Module: "example.com/old", Version: "v2.0.0+incompatible"}},
		// Queries are versions too; whether they resolve is the caller's business.
		{"/example.com/m/@v/main.info", Request{Kind: Info, Module: "example.com/m", Version: "main"}},
		{"/example.com/m/@v/v1.2.info", Request{Kind: Info, Module: "example.com/m", Version: "v1.2"}},
		// A major-version mismatch is "not found", not malformed.
		{"/example.com/m/v2/@v/v1.0.0.info", Request{Kind: Info, Module: "example.com/m/v2", Version: "v1.0.0"}},
		// A version named like a suffix or endpoint is still a version.
		{"/example.com/m/@v/list.info", Request{Kind: Info, Module: "example.com/m", Version: "list"}},
		{"/example.com/m/@v/v1.0.0.info.zip", Request{Kind: Zip, Module: "example.com/m", Version: "v1.0.0.info"}},
	}
	for _, tt := range tests {
		got, err := Parse(tt.path)
		if err != nil {
			t.Errorf("Parse(%q): %v", tt.path, err)
			continue
		}
		if got != tt.want {
			t.Errorf("Parse(%q) = %+v, want %+v", tt.path, got, tt.want)
		}
	}
}

func TestParseRejectsMalformedAndTraversalPaths(t *testing.T) {
	for _, path := range []string{
		"",
		"/",
		"/example.com/m",
		"/example.com/m/",
		"/example.com/m/@v",
		"/example.com/m/@v/",
		"/example.com/m/@v/list/",
		"/example.com/m/@v/v1.0.0",
		"/example.com/m/@v/v1.0.0.txt",
		"/example.com/m/@v/.info",
		"/example.com/m/@latest/",
		"/@v/list",
		"/@latest",
		// Raw uppercase letters are not case-encoded.
		"/example.com/M/@v/list",
		"/Example.com/m/@v/list",
		"/github.com/Azure/azure-sdk-for-go/@v/list",
		"/example.com/m/@v/v1.0.0-RC1.info",
		// Bad case-encoding.
		"/example.com/!!m/@v/list",
		"/example.com/m!/@v/list",
		"/example.com/!1/@v/list",
		"/example.com/m/@v/v1.0.0!.info",
		"/example.com/m/@v/v1.0.0-!R.info",
		// Still percent-encoded: Parse takes decoded paths.
		"/example.com/%21upper/@v/list",
		// Traversal and empty or dot elements.
		"/../example.com/m/@v/list",
		"/example.com/../m/@v/list",
		"/example.com/m/../../@v/list",
		"/example.com/./m/@v/list",
		"/example.com//m/@v/list",
		"//example.com/m/@v/list",
		"/example.com/m/@v/../../../etc/passwd.info",
		"/example.com/m/@v/...info",
		"/example.com/m/@v/..mod",
		"/example.com/m/@v/v1.0.0/../x.zip",
		"/example.com/m/@v/a\\..\\b.info",
		// Not a module path.
		"/example/m/@v/list",
		"/-example.com/m/@v/list",
		"/example.com/m/@v/v1.0.0\x00.info",
		"/exämple.com/m/@v/list",
		"/example.com/m/@v/vé.info",
		"/example.com/m/@v/v1?.info",
		"/example.com/m/@v/con.info",
	} {
		got, err := Parse(path)
		if err == nil {
			t.Errorf("Parse(%q) = %+v, want an error", path, got)
			continue
		}
		if !errors.Is(err, ErrMalformed) {
			t.Errorf("Parse(%q) error %v does not wrap ErrMalformed", path, err)
		}
	}
}

func TestPathIsCaseEncoded(t *testing.T) {
	tests := []struct {
		req  Request
		want string
	}{
		{Request{Kind: List, Module: "github.com/Azure/azure-sdk-for-go"}, "github.com/!azure/azure-sdk-for-go/@v/list"},
		{Request{Kind: Latest, Module: "example.com/Upper"}, "example.com/!upper/@latest"},
		{Request{Kind: Info, Module: "example.com/Upper", Version: "v1.0.0-RC1"}, "example.com/!upper/@v/v1.0.0-!r!c1.info"},
		{Request{Kind: Mod, Module: "example.com/old", Version: "v2.0.0+incompatible"}, "example.com/old/@v/v2.0.0+incompatible.mod"},
		{Request{Kind: Zip, Module: "example.com/m/v2", Version: "v2.1.0"}, "example.com/m/v2/@v/v2.1.0.zip"},
	}
	for _, tt := range tests {
		if got := tt.req.Path(); got != tt.want {
			t.Errorf("%+v.Path() = %q, want %q", tt.req, got, tt.want)
		}
		if got, err := Parse(tt.want); err != nil || got != tt.req {
			t.Errorf("Parse(%q) = %+v, %v; want %+v", tt.want, got, err, tt.req)
		}
	}
}

func TestPathPanicsOnInvalidRequest(t *testing.T) {
	for _, req := range []Request{
		{Kind: List, Module: "../etc"},
		{Kind: Info, Module: "example.com/m", Version: "../x"},
		{Kind: Info, Module: "example.com/m", Version: "v1!"},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%+v.Path() did not panic", req)
				}
			}()
			_ = req.Path()
		}()
	}
}

// TestKeysOfDistinctModulesDiffer checks that modules differing only in case
// are stored apart, and that keys are GOPROXY=file:// paths.
func TestKeysOfDistinctModulesDiffer(t *testing.T) {
	tests := []struct {
		mod, version string
		kind         Kind
		want         string
	}{
		{"example.com/m", "v1.0.0", Info, "example.com/m/@v/v1.0.0.info"},
		{"example.com/M", "v1.0.0", Info, "example.com/!m/@v/v1.0.0.info"},
		{"example.com/Upper", "v1.0.0-RC1", Zip, "example.com/!upper/@v/v1.0.0-!r!c1.zip"},
		{"example.com/old", "v2.0.0+incompatible", Mod, "example.com/old/@v/v2.0.0+incompatible.mod"},
	}
	for _, tt := range tests {
		got, err := Key(tt.mod, tt.version, tt.kind)
		if err != nil || got != tt.want {
			t.Errorf("Key(%q, %q, %v) = %q, %v; want %q", tt.mod, tt.version, tt.kind, got, err, tt.want)
		}
	}
	for _, bad := range []struct{ mod, version string }{
		{"../x", "v1.0.0"},
		{"Example.com/m", "v1.0.0"},
		{"example.com/m", ".."},
		{"example.com/m", "v1/../../x"},
		{"example.com/m", "v1!"},
		{"example.com/m", ""},
	} {
		if got, err := Key(bad.mod, bad.version, Info); err == nil {
			t.Errorf("Key(%q, %q) = %q, want an error", bad.mod, bad.version, got)
		}
	}
	if got, err := VersionsPrefix("github.com/Azure/x"); err != nil || got != "github.com/!azure/x/@v/" {
		t.Errorf("VersionsPrefix = %q, %v", got, err)
	}
	if _, err := VersionsPrefix("example.com/../x"); err == nil {
		t.Error("VersionsPrefix accepted a traversal path")
	}
}

func TestCanonical(t *testing.T) {
	tests := []struct {
		version string
		want    bool
	}{
		{"v1.0.0", true},
		{"v1.0.0-RC1", true},
		{"v2.0.0+incompatible", true},
		{"v0.0.0-20240102030405-abcdefabcdef", true},
		{"", false},
		{"main", false},
		{"v1", false},
		{"v1.2", false},
		{"v1.0.0+meta", false},
		{"1.0.0", false},
		{"abcdef123456", false},
	}
	for _, tt := range tests {
		r := Request{Kind: Info, Module: "example.com/m", Version: tt.version}
		if got := r.Canonical(); got != tt.want {
			t.Errorf("Request{Version: %q}.Canonical() = %v, want %v", tt.version, got, tt.want)
		}
	}
}

func TestCheckVersionFollowsMajorVersionRules(t *testing.T) {
	tests := []struct {
		mod, version string
		ok           bool
	}{
		{"example.com/m", "v0.1.0", true},
		{"example.com/m", "v1.2.3", true},
		{"example.com/m", "v2.0.0+incompatible", true},
		{"example.com/m", "v2.0.0", false},
		{"example.com/m", "v1.0.0+incompatible", false},
		{"example.com/m", "v0.1.0+incompatible", false},
		{"example.com/m/v2", "v2.0.0", true},
		{"example.com/m/v2", "v1.0.0", false},
		{"example.com/m/v2", "v3.0.0", false},
		{"example.com/m/v2", "v2.0.0+incompatible", false},
		{"gopkg.in/yaml.v2", "v2.4.0", true},
		{"gopkg.in/yaml.v2", "v2.4.0+incompatible", false},
		{"gopkg.in/yaml.v2", "v3.0.0", false},
		{"example.com/m", "main", false},
		{"Example.com/m", "v1.0.0", false},
	}
	for _, tt := range tests {
		if err := CheckVersion(tt.mod, tt.version); (err == nil) != tt.ok {
			t.Errorf("CheckVersion(%q, %q) = %v, want ok=%v", tt.mod, tt.version, err, tt.ok)
		}
	}
}

func TestKindNamesAndExtensions(t *testing.T) {
	tests := []struct {
		k         Kind
		name, ext string
	}{
		{List, "list", ""},
		{Latest, "latest", ""},
		{Info, "info", ".info"},
		{Mod, "mod", ".mod"},
		{Zip, "zip", ".zip"},
		{Kind(0), "unknown", ""},
	}
	for _, tt := range tests {
		if tt.k.String() != tt.name || tt.k.Ext() != tt.ext {
			t.Errorf("Kind %d: String() = %q, Ext() = %q; want %q, %q", tt.k, tt.k.String(), tt.k.Ext(), tt.name, tt.ext)
		}
	}
}

// FuzzParse checks that Parse never panics and that every request it
// accepts names a valid module, has exactly one path (the one it was parsed
// from, so two spellings never reach two storage keys) and cannot leave the
// store.
func FuzzParse(f *testing.F) {
	for _, seed := range proxytest.RequestPaths() {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, path string) {
		req, err := Parse(path)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("Parse(%q): error %v does not wrap ErrMalformed", path, err)
			}
			return
		}
		if err := module.CheckPath(req.Module); err != nil {
			t.Fatalf("Parse(%q) = %+v: invalid module path: %v", path, req, err)
		}
		switch req.Kind {
		case List, Latest:
			if req.Version != "" {
				t.Fatalf("Parse(%q) = %+v: version for %v", path, req, req.Kind)
			}
		case Info, Mod, Zip:
			if req.Version == "" {
				t.Fatalf("Parse(%q) = %+v: no version", path, req)
			}
		default:
			t.Fatalf("Parse(%q) = %+v: invalid kind", path, req)
		}
		esc := req.Path()
		if want := strings.TrimPrefix(path, "/"); esc != want {
			t.Fatalf("Parse(%q).Path() = %q, want the path it was parsed from", path, esc)
		}
		again, err := Parse(esc)
		if err != nil || again != req {
			t.Fatalf("Parse(Parse(%q).Path()) = %+v, %v; want %+v", path, again, err, req)
		}
		for elem := range strings.SplitSeq(esc, "/") {
			if elem == "" || elem == "." || elem == ".." || strings.ContainsAny(elem, "\\\x00") {
				t.Fatalf("Parse(%q).Path() = %q has element %q", path, esc, elem)
			}
		}
		if req.Version != "" {
			if key, err := Key(req.Module, req.Version, req.Kind); err != nil || key != esc {
				t.Fatalf("Key for %+v = %q, %v; want %q", req, key, err, esc)
			}
		}
	})
}

func TestNewFile(t *testing.T) {
	f, err := NewFile(module.Version{Path: "github.com/Azure/sdk", Version: "v1.2.3"}, Zip)
	if err != nil {
		t.Fatal(err)
	}
	if f.Key != "github.com/!azure/sdk/@v/v1.2.3.zip" {
		t.Errorf("Key = %q", f.Key)
	}
	if m := f.As(Mod); m.Key != "github.com/!azure/sdk/@v/v1.2.3.mod" || m.Kind != Mod || m.Version != f.Version {
		t.Errorf("As(Mod) = %+v", m)
	}
	for _, mv := range []module.Version{
		{Path: "example.com/m", Version: "v1.2"},                   // a query, not canonical
		{Path: "example.com/m", Version: "v1.0.0+incompatible"},    // +incompatible below v2
		{Path: "example.com/m/v2", Version: "v1.0.0"},              // major version mismatch
		{Path: "example.com/m/v2", Version: "v2.0.0+incompatible"}, // +incompatible with a /vN path
	} {
		if _, err := NewFile(mv, Info); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("NewFile(%v) = %v, want an error matching fs.ErrNotExist", mv, err)
		}
	}
}
