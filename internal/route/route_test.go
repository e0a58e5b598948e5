package route_test

import (
	"errors"
	"net/http/httptest"
	"os"
	"testing"

	"github.com/modvault/modvault/internal/fault"
	"github.com/modvault/modvault/internal/proxytest"
	"github.com/modvault/modvault/internal/route"
)

func TestMain(m *testing.M) {
	proxytest.BlockNonLoopback()
	os.Exit(m.Run())
}

func TestParse(t *testing.T) {
	for _, tt := range []struct {
		path       string
		endpoint   route.Endpoint
		module     string
		access     route.Access
		cachedOnly bool
	}{
		{"/example.com/m/@v/list", route.List, "example.com/m", route.ModuleAccess, false},
		{"/example.com/m/@latest", route.Latest, "example.com/m", route.ModuleAccess, false},
		{"/example.com/m/@v/v1.0.0.info", route.Info, "example.com/m", route.ModuleAccess, false},
		{"/example.com/m/@v/main.info", route.Query, "example.com/m", route.ModuleAccess, false},
		{"/example.com/m/@v/main.zip", route.Zip, "example.com/m", route.ModuleAccess, false},
		{"/github.com/!azure/sdk/@v/v1.0.0.mod", route.Mod, "github.com/Azure/sdk", route.ModuleAccess, false},
		{"/cached-only/example.com/m/@v/v1.0.0.zip", route.Zip, "example.com/m", route.ModuleAccess, true},
		{"/cached-only/metrics", route.Metrics, "", route.MetricsAccess, true},
		{"/cached-only/cached-only/example.com/m/@v/list", route.Other, "", route.Restricted, true},
		{"/healthz", route.Health, "", route.Open, false},
		{"/readyz", route.Ready, "", route.Open, false},
		{"/catalog", route.Catalog, "", route.CatalogAccess, false},
		{"/index", route.Catalog, "", route.CatalogAccess, false},
		{"/api/v1/modules/example.com/m", route.API, "", route.CatalogAccess, false},
		{"/api/v1/events", route.API, "", route.CatalogAccess, false},
		{"/ui", route.UI, "", route.CatalogAccess, false},
		{"/ui/", route.UI, "", route.CatalogAccess, false},
		{"/ui/example.com/m@v1.0.0", route.UI, "", route.CatalogAccess, false},
		{"/ui/example.com/m/@v/list", route.UI, "", route.CatalogAccess, false},
		{"/ui/assets/ui.css", route.UI, "", route.Open, false},
		{"/ui/login", route.UI, "", route.Open, false},
		{"/cached-only/ui/login", route.UI, "", route.CatalogAccess, true},
		{"/uix", route.Other, "", route.Restricted, false},
		{"/sumdb/sum.example/lookup/github.com/!azure/sdk@v1.0.0", route.SumDB, "github.com/Azure/sdk", route.ModuleAccess, false},
		{"/sumdb/sum.example/lookup/github.com/Azure/sdk@v1.0.0", route.SumDB, "", route.Restricted, false},
		{"/sumdb/sum.example/tile/8/0/000", route.SumDB, "", route.Restricted, false},
		{"/vulndb/index/modules.json.gz", route.VulnDB, "", route.Restricted, false},
		{"/vulndb/ID/GO-2026-0001.json", route.VulnDB, "", route.Restricted, false},
		{"/example.com/Bad/@v/list", route.Other, "", route.Restricted, false},
		{"/favicon.ico", route.Other, "", route.Restricted, false},
	} {
		rt := route.Parse(tt.path)
		if rt.Endpoint != tt.endpoint || rt.Module() != tt.module || rt.Access() != tt.access || rt.CachedOnly != tt.cachedOnly {
			t.Errorf("Parse(%q) = %v, module %q, access %d, cached-only %v; want %v, %q, %d, %v",
				tt.path, rt.Endpoint, rt.Module(), rt.Access(), rt.CachedOnly, tt.endpoint, tt.module, tt.access, tt.cachedOnly)
		}
	}
}

func TestMalformedPathsAreInvalidRequests(t *testing.T) {
	for _, p := range []string{"/favicon.ico", "/example.com/../x/@v/list", "/sumdb/sum.example/tile/8/0/x", "/sumdb/sum.example/../x"} {
		rt := route.Parse(p)
		if rt.Err == nil || fault.Of(rt.Err) != fault.Invalid || !errors.Is(rt.Err, fault.ErrInvalid) {
			t.Errorf("Parse(%q).Err = %v, want an invalid-request error", p, rt.Err)
		}
	}
}

func TestEveryCorpusPathHasOneEndpoint(t *testing.T) {
	for _, p := range proxytest.RequestPaths() {
		rt := route.Parse(p)
		// Malformed paths are Other, with a reason; only a checksum
		// database path may be malformed after its prefix.
		if rt.Endpoint == route.Other && rt.Err == nil || rt.Err != nil && rt.Endpoint != route.Other && rt.Endpoint != route.SumDB {
			t.Errorf("Parse(%q): endpoint %v with error %v", p, rt.Endpoint, rt.Err)
		}
	}
}

func TestOfReusesTheHandlersRoute(t *testing.T) {
	var got route.Route
	h := route.Handler(httptestHandler(func(rt route.Route) { got = rt }))
	r := httptest.NewRequest("GET", "/cached-only/example.com/m/@v/list", nil)
	h.ServeHTTP(httptest.NewRecorder(), r)
	if got.Endpoint != route.List || !got.CachedOnly || got.Module() != "example.com/m" {
		t.Errorf("route seen by the next handler: %+v", got)
	}
}

func TestEndpointNamesAreDistinct(t *testing.T) {
	seen := map[string]bool{}
	for _, e := range route.Endpoints() {
		if seen[e.String()] {
			t.Errorf("two endpoints named %q", e)
		}
		seen[e.String()] = true
	}
}
