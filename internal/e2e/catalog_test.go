package e2e

import (
	"bufio"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/modvault/modvault/internal/proxytest"
)

// TestCatalogAndIndexThroughModvault: after the go command fetched modules
// through modvault, /catalog lists them with their versions and /index
// lists the same versions in the order they were stored.
func TestCatalogAndIndexThroughModvault(t *testing.T) {
	up := proxytest.New(t, modules()...)
	_, storage := fileStore(t)
	mv := startModvault(t, up.URL, up.GOSUMDB(), storage)
	g := proxytest.NewGo(t, mv, up.GOSUMDB())
	g.Must("mod", "download", "example.com/b@v1.0.0")
	g.Must("mod", "download", "example.com/a@v1.0.0", "example.com/Upper@v1.0.0-RC1")

	resp, err := http.Get(mv + "/catalog")
	if err != nil {
		t.Fatal(err)
	}
	var page struct {
		Modules []struct {
			Path     string
			Versions []string
		}
		Next string
	}
	err = json.NewDecoder(resp.Body).Decode(&page)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("/catalog: %d, %v", resp.StatusCode, err)
	}
	got := map[string][]string{}
	for _, m := range page.Modules {
		got[m.Path] = m.Versions
	}
	for mod, vers := range map[string][]string{"example.com/a": {"v1.0.0"}, "example.com/b": {"v1.0.0"}, "example.com/Upper": {"v1.0.0-RC1"}} {
		if !slices.Equal(got[mod], vers) {
			t.Errorf("/catalog: %s has %q, want %q (all: %v)", mod, got[mod], vers, got)
		}
	}

	resp, err = http.Get(mv + "/index")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var order []string
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		var e struct{ Path, Version, Timestamp string }
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("/index line %q: %v", sc.Text(), err)
		}
		order = append(order, e.Path+"@"+e.Version)
	}
	first := slices.Index(order, "example.com/b@v1.0.0")
	if first != 0 || !slices.Contains(order, "example.com/a@v1.0.0") || strings.Contains(strings.Join(order, " "), "sumdb") {
		t.Errorf("/index order %q: want example.com/b@v1.0.0 first (stored first), then the others", order)
	}
}
