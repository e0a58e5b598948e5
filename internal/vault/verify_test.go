package vault_test

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/modvault/modvault/internal/checksumdb"
	"github.com/modvault/modvault/internal/protocol"
	"github.com/modvault/modvault/internal/proxytest"
	"github.com/modvault/modvault/internal/upstream"
	"github.com/modvault/modvault/internal/vault"
)

// TestVerificationFailureInConcurrentFillStoresNothing: a version's .mod
// is fetched while its .info is, and a large zip's files are checked and
// hashed by several goroutines; a checksum mismatch in any of them still
// leaves nothing of that file in the store (and, for the .mod, nothing of
// the version), while honest versions, large ones too, are stored with the
// hashes the checksum database records.
func TestVerificationFailureInConcurrentFillStoresNothing(t *testing.T) {
	big := func(c byte) string { return "package m\n\n// " + strings.Repeat(string(c), 6<<20) + "\n" }
	goMod := func(mod string) string { return "module " + mod + "\n\ngo 1.22\n" }
	up := proxytest.New(t,
		proxytest.Module{Path: "example.com/badmod", Version: "v1.0.0", Files: map[string]string{"go.mod": goMod("example.com/badmod"), "m.go": "package m\n"}},
		proxytest.Module{Path: "example.com/badzip", Version: "v1.0.0", Files: map[string]string{"go.mod": goMod("example.com/badzip"), "a.go": big('a'), "b.go": big('b')}},
		proxytest.Module{Path: "example.com/good", Version: "v1.0.0", Files: map[string]string{"go.mod": goMod("example.com/good"), "a.go": big('a'), "b.go": big('b')}},
	)
	up.TamperMod("example.com/badmod", "v1.0.0", goMod("example.com/badmod")+"\nrequire example.com/evil v1.0.0\n")
	up.TamperZip("example.com/badzip", "v1.0.0", map[string]string{"go.mod": goMod("example.com/badzip"), "a.go": big('a'), "b.go": big('c')})

	st, _ := fileStore(t)
	log := slog.New(slog.DiscardHandler)
	verifier, err := checksumdb.NewVerifier(up.SumDBKey, upstream.New([]upstream.Proxy{{URL: up.URL}}, upstream.Options{}), st, log)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	stored := make(map[string]vault.StoredVersion)
	v := newVault(t, up.URL, st, vault.Options{Checker: verifier, Stored: func(_ context.Context, sv vault.StoredVersion) {
		mu.Lock()
		defer mu.Unlock()
		if sv.Zip != nil {
			stored[sv.Version.String()] = sv
		}
	}})

	for _, kind := range []protocol.Kind{protocol.Info, protocol.Mod, protocol.Zip} {
		if _, _, err := openBytes(v, "example.com/badmod", "v1.0.0", kind); !errors.Is(err, checksumdb.ErrMismatch) {
			t.Errorf("%s of a version whose .mod was tampered with: %v, want a checksum mismatch", kind, err)
		}
	}
	if keys := listKeys(t, st, "example.com/badmod/"); len(keys) > 0 {
		t.Errorf("store holds %v of a version whose .mod failed verification", keys)
	}

	if _, _, err := openBytes(v, "example.com/badzip", "v1.0.0", protocol.Zip); !errors.Is(err, checksumdb.ErrMismatch) {
		t.Errorf("a tampered large zip: %v, want a checksum mismatch", err)
	}
	if ok, err := st.Exists(context.Background(), key(t, "example.com/badzip", "v1.0.0", protocol.Zip)); ok || err != nil {
		t.Errorf("store holds the tampered zip (exists %v, %v)", ok, err)
	}

	got := mustOpen(t, v, "example.com/good", "v1.0.0", protocol.Zip)
	if string(got) != string(up.ZipBytes("example.com/good", "v1.0.0")) {
		t.Error("the stored large zip differs from the upstream's")
	}
	mu.Lock()
	sv := stored["example.com/good@v1.0.0"]
	mu.Unlock()
	if sv.Zip == nil || sv.Zip.H1 != up.ZipHash("example.com/good", "v1.0.0") {
		t.Errorf("stored zip hash %+v, want %s", sv.Zip, up.ZipHash("example.com/good", "v1.0.0"))
	}
}

// TestMissingVersionStoresNothing: the .mod fetched while the .info is
// does not outlive a version the upstream does not have, and nothing is
// stored.
func TestMissingVersionStoresNothing(t *testing.T) {
	up := proxytest.New(t, proxytest.Module{Path: "example.com/m", Version: "v1.0.0", Files: map[string]string{"m.go": "package m\n"}})
	st, _ := fileStore(t)
	v := newVault(t, up.URL, st, vault.Options{})
	if _, _, err := openBytes(v, "example.com/m", "v1.9.9", protocol.Mod); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a missing version's .mod: %v, want not found", err)
	}
	if v.Busy() != 0 {
		t.Errorf("Busy() = %d after the fill ended", v.Busy())
	}
	if keys := listKeys(t, st, "example.com/m/"); len(keys) > 0 {
		t.Errorf("store holds %v", keys)
	}
}
