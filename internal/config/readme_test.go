package config

import (
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestREADMEDocumentsEveryServeFlag keeps the README's configuration
// reference and the flags of "modvault serve" from drifting apart: every
// flag has a row with its MODVAULT_ variable and default, and every row
// names a flag that exists.
func TestREADMEDocumentsEveryServeFlag(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]string{} // flag name → table row
	row := regexp.MustCompile("(?m)^\\| `--([a-z-]+)` \\|.*$")
	for _, m := range row.FindAllStringSubmatch(string(readme), -1) {
		rows[m[1]] = m[0]
	}
	var c Serve
	var raw rawFlags
	fs := serveFlags(&c, &raw)
	fs.VisitAll(func(f *flag.Flag) {
		r, ok := rows[f.Name]
		if !ok {
			t.Errorf("README has no configuration row for --%s", f.Name)
			return
		}
		delete(rows, f.Name)
		env := "MODVAULT_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if !strings.Contains(r, "`"+env+"`") {
			t.Errorf("README row for --%s does not name %s: %s", f.Name, env, r)
		}
		if f.DefValue != "" && !documentsDefault(r, f.DefValue) {
			t.Errorf("README row for --%s does not give the default %q: %s", f.Name, f.DefValue, r)
		}
	})
	for name := range rows {
		t.Errorf("README documents --%s, which modvault serve does not have", name)
	}
}

// documentsDefault reports whether a README row gives def in backquotes,
// durations compared by value ("10m" documents "10m0s").
func documentsDefault(row, def string) bool {
	if strings.Contains(row, "`"+def+"`") {
		return true
	}
	d, err := time.ParseDuration(def)
	if err != nil {
		return false
	}
	for _, m := range regexp.MustCompile("`([^`]+)`").FindAllStringSubmatch(row, -1) {
		if rd, err := time.ParseDuration(m[1]); err == nil && rd == d {
			return true
		}
	}
	return false
}

// TestDeployFilesUseKnownSettings: every MODVAULT_* variable that the
// Dockerfile and the Kubernetes manifests set is a setting modvault reads,
// so a renamed flag cannot leave a deployment silently unconfigured.
func TestDeployFilesUseKnownSettings(t *testing.T) {
	var c Serve
	var raw rawFlags
	known := map[string]bool{}
	serveFlags(&c, &raw).VisitAll(func(f *flag.Flag) {
		known["MODVAULT_"+strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))] = true
	})
	files, err := filepath.Glob("../../deploy/kubernetes/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests found: %v", err)
	}
	files = append(files, "../../Dockerfile", "../../deploy/systemd/modvault.service")
	variable := regexp.MustCompile(`MODVAULT_[A-Z_]+`)
	seen := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range variable.FindAllString(string(b), -1) {
			seen++
			if !known[v] {
				t.Errorf("%s sets %s, which is no setting of modvault serve", f, v)
			}
		}
	}
	if seen == 0 {
		t.Error("the deploy files set no MODVAULT_* variable: is the pattern wrong?")
	}
}
