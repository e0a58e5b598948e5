package index

import (
	"context"
	"strconv"
	"strings"
	"time"

	"golang.org/x/mod/module"
)

// Visible reports whether a viewer may see module path: it is given the
// context of the viewer's request (auth.Auth.CanRead). The listings that
// take one ([Index.VisibleModules], [Index.VisibleEvents],
// [Index.VisibleCatalog], [Index.VisibleSince]) leave out what it refuses
// and still fill every page: a page has limit items unless it is the last,
// and its cursor follows its own last item, so a page's length and cursor
// say nothing of the modules left out. A nil Visible shows every module,
// and the listing is exactly the one without it.
type Visible func(ctx context.Context, path string) bool

// VisibleModules is [Index.SearchModules] without the modules vis
// refuses.
func (x *Index) VisibleModules(ctx context.Context, vis Visible, q, cursor string, limit int) (ModulesPage, error) {
	if vis == nil {
		return x.SearchModules(ctx, q, cursor, limit)
	}
	ms, next, err := keepPages(limit, cursor,
		func(c string, n int) ([]ModuleSummary, string, bool, error) {
			p, err := x.SearchModules(ctx, q, c, n)
			return p.Modules, p.Next, p.Next != "", err
		},
		func(m ModuleSummary) bool { return vis(ctx, m.Path) },
		func(m ModuleSummary) string { return moduleCursor(m.Path) })
	return ModulesPage{Modules: ms, Next: next}, err
}

// VisibleCatalog is [Index.Catalog] without the modules vis refuses.
func (x *Index) VisibleCatalog(ctx context.Context, vis Visible, cursor string, limit int) (CatalogPage, error) {
	if vis == nil {
		return x.Catalog(ctx, cursor, limit)
	}
	ms, next, err := keepPages(limit, cursor,
		func(c string, n int) ([]Module, string, bool, error) {
			p, err := x.Catalog(ctx, c, n)
			return p.Modules, p.Next, p.Next != "", err
		},
		func(m Module) bool { return vis(ctx, m.Path) },
		func(m Module) string { return moduleCursor(m.Path) })
	return CatalogPage{Modules: ms, Next: next}, err
}

// VisibleEvents is [Index.Events] without the events of modules vis
// refuses. Filtering by a module vis refuses finds nothing.
func (x *Index) VisibleEvents(ctx context.Context, vis Visible, f Filter, cursor string, limit int) (EventsPage, error) {
	if vis == nil {
		return x.Events(ctx, f, cursor, limit)
	}
	if f.Module != "" && !vis(ctx, f.Module) {
		if cursor != "" { // as malformed a cursor as without vis
			if _, _, err := parseEventCursor(cursor); err != nil {
				return EventsPage{}, err
			}
		}
		return EventsPage{Events: []Event{}}, nil
	}
	es, next, err := keepPages(limit, cursor,
		func(c string, n int) ([]Event, string, bool, error) {
			p, err := x.Events(ctx, f, c, n)
			return p.Events, p.Next, p.Next != "", err
		},
		func(e Event) bool { return vis(ctx, e.Module) },
		eventCursor)
	return EventsPage{Events: es, Next: next}, err
}

// sinceCursor is where a page of [Index.Since] starts.
type sinceCursor struct {
	since time.Time
	after module.Version
}

// VisibleSince is [Index.Since] without the versions of modules vis
// refuses: it has limit versions unless no more follow.
func (x *Index) VisibleSince(ctx context.Context, vis Visible, since time.Time, after module.Version, limit int) ([]IndexEntry, error) {
	if vis == nil {
		return x.Since(ctx, since, after, limit)
	}
	es, _, err := keepPages(limit, sinceCursor{since, after},
		func(c sinceCursor, n int) ([]IndexEntry, sinceCursor, bool, error) {
			es, err := x.Since(ctx, c.since, c.after, n)
			if err != nil || len(es) == 0 {
				return es, c, false, err
			}
			last := es[len(es)-1]
			return es, sinceCursor{last.Timestamp, module.Version{Path: last.Path, Version: last.Version}}, len(es) == pageSize(n), nil
		},
		func(e IndexEntry) bool { return vis(ctx, e.Path) },
		func(e IndexEntry) sinceCursor {
			return sinceCursor{e.Timestamp, module.Version{Path: e.Path, Version: e.Version}}
		})
	if es == nil {
		es = []IndexEntry{}
	}
	return es, err
}

// keepPages returns up to limit (as pageSize reads it) items of a listing
// that keep accepts, starting at cursor, and the cursor of the page after
// them, or the zero C if no accepted item follows them. It reads the
// listing a page at a time with read, which returns up to n items from a
// cursor, the cursor after them, and whether more may follow; it stops
// once it holds one accepted item more than limit, or the listing ends.
// The returned cursor is cursorOf the last item returned, never of an
// item left out. Pages grow (up to MaxLimit) while items are left out.
func keepPages[T any, C comparable](limit int, cursor C,
	read func(c C, n int) ([]T, C, bool, error), keep func(T) bool, cursorOf func(T) C) ([]T, C, error) {
	var zero C
	limit = pageSize(limit)
	kept := []T{}
	for n := limit + 1; ; n = min(2*n, MaxLimit) {
		items, next, more, err := read(cursor, n)
		if err != nil {
			return nil, zero, err
		}
		for _, it := range items {
			if keep(it) {
				kept = append(kept, it)
			}
		}
		if len(kept) > limit {
			kept = kept[:limit]
			return kept, cursorOf(kept[limit-1]), nil
		}
		if !more {
			return kept, zero, nil
		}
		cursor = next
	}
}

// moduleCursor returns the cursor of the page of modules that follows
// path ([Index.Catalog], [Index.SearchModules]).
func moduleCursor(path string) string {
	return strings.TrimSuffix(escKey(path), "/@v/")
}

// eventCursor returns the cursor of the page of events that follows e
// ([Index.Events]).
func eventCursor(e Event) string {
	return strconv.FormatInt(unixNano(e.Time), 10) + "." + strconv.FormatInt(e.ID, 10)
}
