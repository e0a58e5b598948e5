package e2e

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/modvault/modvault/internal/proxytest"
)

// TestGoCommandAheadOfModvaultVerifiesOffline: the go command remembers the
// newest checksum database tree head it saw anywhere (GOPATH/pkg/sumdb) and
// proves every older head against it, reading its own head's tiles. A
// developer machine that learned a head from the database directly, newer
// than modvault's, still verifies a module new to it through modvault once
// the upstream is gone, with its module cache cleaned and an empty go.sum:
// modvault follows the database's head when it starts and keeps the tiles
// such a machine asks for.
func TestGoCommandAheadOfModvaultVerifiesOffline(t *testing.T) {
	up := proxytest.New(t, modules()...)
	_, storage := fileStore(t)
	mv := startModvault(t, up.URL, up.GOSUMDB(), storage)
	// A colleague's go command fills modvault with example.com/b: its
	// lookup, with the head of that time, is stored.
	proxytest.NewGo(t, mv, up.GOSUMDB()).Must("mod", "download", "example.com/b@v1.0.0")

	// The database grows by more than a tile (256 records); the developer
	// machine learns its head from the database itself.
	growSumDB(t, up, "before", 300)
	up.Add(proxytest.Module{Path: "example.com/new", Version: "v1.0.0", Files: map[string]string{"go.mod": "module example.com/new\n"}})
	dev := proxytest.NewGo(t, up.URL, up.GOSUMDB()+" "+up.URL+"/sumdb/"+up.SumDBName)
	dev.Must("mod", "download", "example.com/new@v1.0.0")
	gopath := filepath.Join(filepath.Dir(dev.Dir), "gopath")
	headFile := filepath.Join(gopath, "pkg", "sumdb", up.SumDBName, "latest")
	devHead, err := os.ReadFile(headFile)
	if err != nil {
		t.Fatalf("the go command kept no tree head: %v", err)
	}
	growSumDB(t, up, "after", 300)

	// modvault starts again (or another replica over the same store) and
	// follows the database's head.
	mv = startModvault(t, up.URL, up.GOSUMDB(), storage)
	want := sumdbLatest(t, up.URL+"/sumdb/"+up.SumDBName)
	deadline := time.Now().Add(time.Minute)
	for got := sumdbLatest(t, mv+"/sumdb/"+up.SumDBName); !bytes.Equal(got, want); got = sumdbLatest(t, mv+"/sumdb/"+up.SumDBName) {
		if time.Now().After(deadline) {
			t.Fatalf("modvault's /latest is still\n%s\nwant the database's\n%s", got, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
	up.Close()

	// The same machine, module cache cleaned, through modvault.
	off := proxytest.NewGo(t, mv, up.GOSUMDB())
	off.Env = append(off.Env, "GOPATH="+gopath)
	off.Must("mod", "download", "example.com/b@v1.0.0")
	lookup := filepath.Join(filepath.Dir(off.Dir), "modcache", "cache", "download", "sumdb", up.SumDBName, "lookup", "example.com", "b@v1.0.0")
	if _, err := os.Stat(lookup); err != nil {
		t.Errorf("the go command did not verify example.com/b@v1.0.0 in the checksum database: %v", err)
	}
	if head, err := os.ReadFile(headFile); err != nil || !bytes.Equal(head, devHead) {
		t.Errorf("the go command's tree head changed:\n%s\nwant still\n%s", head, devHead)
	}
}

// growSumDB adds n modules to the upstream and looks each up in its
// checksum database directly, as other users of the database do, adding
// n records.
func growSumDB(t *testing.T, up *proxytest.Upstream, prefix string, n int) {
	t.Helper()
	for i := range n {
		path := fmt.Sprintf("example.com/fill/%s%d", prefix, i)
		up.Add(proxytest.Module{Path: path, Version: "v1.0.0", Files: map[string]string{"go.mod": "module " + path + "\n"}})
		resp, err := http.Get(up.URL + "/sumdb/" + up.SumDBName + "/lookup/" + path + "@v1.0.0")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("lookup of %s in the checksum database: %s", path, resp.Status)
		}
	}
}

// sumdbLatest returns the signed tree head a database (or modvault's
// proxy of it) at base serves.
func sumdbLatest(t *testing.T, base string) []byte {
	t.Helper()
	resp, err := http.Get(base + "/latest")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s/latest: %s %v", base, resp.Status, err)
	}
	return b
}
