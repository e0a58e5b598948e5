package index

import (
	"reflect"
	"testing"
	"time"

	"golang.org/x/mod/module"
)

func testModuleTotals(t *testing.T, b *backend, dsn string) {
	x := open(t, dsn, Options{})
	if got, err := x.ModuleTotals(ctx(t)); err != nil || len(got) != 0 {
		t.Fatalf("ModuleTotals of an empty index = %v, %v", got, err)
	}
	now := time.Now()
	noZip := sample("example.com/B", "v0.1.0", now)
	noZip.Zip, noZip.ZipH1 = nil, ""
	vs := []Version{sample("example.com/a", "v1.0.0", now), sample("example.com/a", "v1.1.0", now), noZip}
	if err := x.RecordVersions(ctx(t), vs); err != nil {
		t.Fatal(err)
	}
	got, err := x.ModuleTotals(ctx(t))
	// Catalog order: case-encoded paths, so example.com/!b sorts first.
	want := []ModuleTotal{{"example.com/B", 1, 90}, {"example.com/a", 2, 2 * (60 + 30 + 1234)}}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("ModuleTotals = %v, %v; want %v", got, err, want)
	}
}

func testVersionDownloads(t *testing.T, b *backend, dsn string) {
	x := open(t, dsn, Options{})
	mv := module.Version{Path: "example.com/m", Version: "v1.0.0"}
	t0 := time.Date(2026, 6, 1, 23, 0, 0, 0, time.UTC)
	zip := func(user, result string, at time.Time) Event {
		return Event{Time: at, User: user, ClientAddr: "192.0.2.1", Module: mv.Path, Version: mv.Version, Kind: KindZip, Result: result}
	}
	x.Record(zip("alice", ResultFilled, t0))
	x.Record(zip("alice", ResultHit, t0.Add(2*time.Hour))) // the next day
	x.Record(zip("bob", ResultHit, t0.Add(3*time.Hour)))
	x.Record(zip("carol", ResultDenied, t0.Add(4*time.Hour)))                                                     // no download
	x.Record(zip("dave", ResultHit, t0.Add(-48*time.Hour)))                                                       // before since
	x.Record(Event{Time: t0, User: "erin", Module: mv.Path, Version: "v1.1.0", Kind: KindZip, Result: ResultHit}) // another version
	x.Record(Event{Time: t0, User: "frank", Module: mv.Path, Version: mv.Version, Kind: KindInfo, Result: ResultHit})
	if err := x.Flush(ctx(t)); err != nil {
		t.Fatal(err)
	}
	d, err := x.VersionDownloads(ctx(t), mv, t0.Add(-24*time.Hour), 10)
	if err != nil {
		t.Fatal(err)
	}
	day := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	if want := []DayCount{{day, 1}, {day.Add(24 * time.Hour), 2}}; !reflect.DeepEqual(d.ByDay, want) {
		t.Errorf("ByDay = %v, want %v", d.ByDay, want)
	}
	if len(d.Recent) != 2 || d.Recent[0].User != "bob" || d.Recent[1].User != "alice" || d.Recent[1].Count != 2 ||
		!d.Recent[1].Last.Equal(t0.Add(2*time.Hour)) || d.Recent[0].ClientAddr != "192.0.2.1" {
		t.Errorf("Recent = %+v, want bob then alice (2 downloads)", d.Recent)
	}
	if d, err := x.VersionDownloads(ctx(t), mv, t0.Add(-24*time.Hour), 1); err != nil || len(d.Recent) != 1 {
		t.Errorf("with recent = 1: %+v, %v", d.Recent, err)
	}
}
