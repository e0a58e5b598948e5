package e2e

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/modvault/modvault/internal/api"
	"github.com/modvault/modvault/internal/config"
	"github.com/modvault/modvault/internal/proxytest"
)

// TestAnonymousAPIHidesPrivateModule: with access control letting anyone
// read public modules and the catalog but only alice example.com/b, once
// alice has downloaded example.com/b through modvault, an anonymous
// caller of /api/v1/, /catalog and /index is never shown its path, and
// its module and version answer 404, while alice sees it. With the
// metadata index off, /catalog and /index (walking the store) hide it
// too.
func TestAnonymousAPIHidesPrivateModule(t *testing.T) {
	const password = "alice-correct-horse"
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	usersFile := filepath.Join(t.TempDir(), "htpasswd")
	if err := os.WriteFile(usersFile, []byte("alice:"+string(hash)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	up := proxytest.New(t, modules()...)
	for _, database := range []string{"", config.DatabaseOff} {
		t.Run("database="+database, func(t *testing.T) {
			_, storage := fileStore(t)
			base := startModvaultWith(t, config.Serve{
				Storage:   storage,
				Upstream:  up.URL,
				SumDB:     []string{up.SumDBName},
				GOSUMDB:   []config.SumDB{{Name: up.SumDBName, Key: up.SumDBKey}},
				Database:  database,
				AuthUsers: usersFile,
				AuthRules: []config.AuthRule{
					{Pattern: "*", Allow: []string{"anyone"}},
					{Pattern: "@catalog", Allow: []string{"anyone"}},
					{Pattern: "example.com/b", Allow: []string{"alice"}},
				},
			})
			alice := strings.Replace(base, "://", "://alice:"+password+"@", 1)
			for _, p := range []struct{ base, path string }{
				{alice, "/example.com/b/@v/v1.1.0.zip"},
				{base, "/example.com/a/@v/v1.0.0.zip"},
			} {
				if status, body := fetch(t, http.DefaultClient, p.base+p.path); status != http.StatusOK {
					t.Fatalf("GET %s: %d %s", p.path, status, body)
				}
			}
			const private = "example.com/b"
			listings := []string{"/catalog", "/index"}
			if database != config.DatabaseOff {
				listings = append(listings, "/api/v1/modules", "/api/v1/modules?q=example.com/", "/api/v1/events")
				// The events are written in batches: wait for alice's.
				waitFor(t, func() string {
					var p api.EventsPage
					if status := getAPI(t, nil, alice, "/api/v1/events?module="+private, &p); status != http.StatusOK || len(p.Events) == 0 {
						return fmt.Sprintf("alice's /api/v1/events?module=%s: status %d, %+v", private, status, p)
					}
					return ""
				})
				for _, path := range []string{"/api/v1/modules/" + private, "/api/v1/versions/" + private + "@v1.1.0"} {
					if status, body := fetch(t, http.DefaultClient, base+path); status != http.StatusNotFound {
						t.Errorf("anonymous GET %s: %d %s, want 404", path, status, body)
					}
					if status, body := fetch(t, http.DefaultClient, alice+path); status != http.StatusOK {
						t.Errorf("alice's GET %s: %d %s", path, status, body)
					}
				}
			}
			for _, path := range listings {
				status, body := fetch(t, http.DefaultClient, base+path)
				if status != http.StatusOK || strings.Contains(body, private+`"`) || strings.Contains(body, private+"@") {
					t.Errorf("anonymous GET %s: %d, names %s: %s", path, status, private, body)
				}
				if !strings.Contains(body, "example.com/a") {
					t.Errorf("anonymous GET %s does not show example.com/a: %s", path, body)
				}
				if _, body := fetch(t, http.DefaultClient, alice+path); !strings.Contains(body, private) {
					t.Errorf("alice's GET %s does not show %s: %s", path, private, body)
				}
			}
		})
	}
}
