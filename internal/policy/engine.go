package policy

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/mod/module"

	"github.com/modvault/modvault/internal/license"
	"github.com/modvault/modvault/internal/vulndb"
)

// maxCached is the number of decisions a cache holds before it starts over.
const maxCached = 100_000

// Engine decides what may enter. It is safe for concurrent use.
type Engine struct {
	src   Sources
	state atomic.Pointer[state]
}

// state is one configuration of an Engine, with the cache of its decisions.
type state struct {
	cfg   Config
	rules []CompiledRule
	cache atomic.Pointer[cache]
}

// cache holds the decisions made with one vulnerability database.
type cache struct {
	vulnModified time.Time
	mu           sync.RWMutex
	m            map[module.Version]cached
}

type cached struct {
	d       Decision
	expires int64 // Unix nanoseconds after which d is stale; 0 means never
}

// New returns an Engine deciding by cfg with what src gives. It checks cfg
// and its rules; an error names each bad value or rule.
func New(cfg Config, src Sources) (*Engine, error) {
	if src.Now == nil {
		src.Now = time.Now
	}
	e := &Engine{src: src}
	if err := e.Update(cfg); err != nil {
		return nil, err
	}
	return e, nil
}

// Update installs a new configuration (a reloaded config file) and drops
// every cached decision. On error the Engine keeps the previous one.
func (e *Engine) Update(cfg Config) error {
	err := cfg.check()
	rules, rerr := ParseRules(cfg.Rules)
	if err := errors.Join(err, rerr); err != nil {
		return fmt.Errorf("policy: %w", err)
	}
	if len(cfg.LicenseAllow) > 0 && e.src.Licenses == nil {
		return errors.New("policy: license-allow is set but nothing records licenses")
	}
	if cfg.MinAge > 0 && e.src.Published == nil {
		return errors.New("policy: min-age is set but nothing records publication times")
	}
	st := &state{cfg: policyDefaults(cfg), rules: rules}
	st.cache.Store(newCache(time.Time{}))
	e.state.Store(st)
	return nil
}

// Config returns the configuration in force, with defaults filled in.
func (e *Engine) Config() Config { return e.state.Load().cfg }

func newCache(vulnModified time.Time) *cache {
	return &cache{vulnModified: vulnModified, m: map[module.Version]cached{}}
}

// Decide returns the policy's decision for mv. A cached decision costs a
// map lookup; otherwise the rules are matched and, if no rule decides, the
// vulnerability database, the licenses and the publication time are read
// from the Sources. Decide never fails: a source that cannot answer is an
// unknown input (see Sources).
func (e *Engine) Decide(ctx context.Context, mv module.Version) Decision {
	st := e.state.Load()
	db := e.db()
	c := st.cache.Load()
	if mod := modified(db); !c.vulnModified.Equal(mod) {
		st.cache.CompareAndSwap(c, newCache(mod))
		c = st.cache.Load()
		if !c.vulnModified.Equal(mod) { // another DB won the race: do not cache
			d, _, _ := st.decide(ctx, mv, db, e.src)
			return d
		}
	}
	c.mu.RLock()
	ent, ok := c.m[mv]
	c.mu.RUnlock()
	if ok && (ent.expires == 0 || e.src.Now().UnixNano() < ent.expires) {
		return ent.d
	}
	d, expires, keep := st.decide(ctx, mv, db, e.src)
	if keep {
		c.mu.Lock()
		if len(c.m) >= maxCached {
			clear(c.m)
		}
		c.m[mv] = cached{d: d, expires: expires}
		c.mu.Unlock()
	}
	return d
}

// DecideStored is Decide for a version whose zip is stored, so that its
// licenses should be known: if the license check is on and they are not
// (their detection failed, or has not run yet for a zip stored before the
// check was turned on), they count as UNKNOWN, which is never allowed,
// instead of leaving the decision Incomplete. Such a decision is not
// cached: the next one sees the licenses once they are recorded.
func (e *Engine) DecideStored(ctx context.Context, mv module.Version) Decision {
	d := e.Decide(ctx, mv)
	st := e.state.Load()
	if !d.Incomplete || len(st.cfg.LicenseAllow) == 0 || e.src.Licenses(ctx, mv) != nil {
		return d
	}
	d.Reasons = append(slices.Clone(d.Reasons), Reason{
		Kind:    LicenseKind,
		Verdict: verdictOf(st.cfg.LicenseAction),
		Text:    "licenses not detected (yet), UNKNOWN not allowed",
		ID:      license.Unknown,
	})
	slices.SortStableFunc(d.Reasons, func(a, b Reason) int { return int(b.Verdict) - int(a.Verdict) })
	d.Verdict = d.Reasons[0].Verdict
	return d
}

func (e *Engine) db() *vulndb.DB {
	if e.src.Vulns == nil {
		return nil
	}
	return e.src.Vulns()
}

func modified(db *vulndb.DB) time.Time {
	if db == nil {
		return time.Time{}
	}
	return db.Modified()
}

// decide makes the decision for mv, and says until when it holds (Unix
// nanoseconds, 0 for as long as its inputs do) and whether it may be cached.
func (st *state) decide(ctx context.Context, mv module.Version, db *vulndb.DB, src Sources) (d Decision, expires int64, keep bool) {
	d = Decision{Module: mv, Report: st.cfg.Mode == Report}
	if r := match(st.rules, mv); r != nil {
		d.Reasons = []Reason{ruleReason(r)}
		d.Verdict = d.Reasons[0].Verdict
		return d, 0, true
	}
	vulnVerdict := verdictOf(st.cfg.VulnAction)
	for _, f := range db.Vulns(mv.Path, mv.Version) {
		d.Reasons = append(d.Reasons, Reason{Kind: VulnKind, Verdict: vulnVerdict, Text: vulnText(f), ID: f.ID})
	}
	if len(st.cfg.LicenseAllow) > 0 {
		if found := src.Licenses(ctx, mv); found == nil {
			d.Incomplete = true
		} else if ok, why := license.Allowed(found, st.cfg.LicenseAllow); !ok {
			d.Reasons = append(d.Reasons, Reason{Kind: LicenseKind, Verdict: verdictOf(st.cfg.LicenseAction), Text: why, ID: strings.Join(license.IDs(found), ", ")})
		}
	}
	if st.cfg.MinAge > 0 {
		r, until, known := st.age(ctx, mv, src)
		if !known {
			d.Incomplete = true
		}
		if r != nil {
			d.Reasons = append(d.Reasons, *r)
			expires = until.UnixNano()
		}
	}
	slices.SortStableFunc(d.Reasons, func(a, b Reason) int { return int(b.Verdict) - int(a.Verdict) })
	if len(d.Reasons) > 0 {
		d.Verdict = d.Reasons[0].Verdict
	}
	return d, expires, !d.Incomplete
}

// age returns the minimum age's reason to hold mv back, if any, and until
// when it holds; known is false if mv cannot be dated.
func (st *state) age(ctx context.Context, mv module.Version, src Sources) (r *Reason, until time.Time, known bool) {
	min := st.cfg.MinAge
	t, ok := src.Published(ctx, mv)
	if !ok {
		return &Reason{Kind: AgeKind, Verdict: Denied, Text: "publication time unknown, held back (minimum age " + duration(min) + ")"}, time.Time{}, false
	}
	until = t.Add(min)
	if !src.Now().Before(until) {
		return nil, time.Time{}, true
	}
	return &Reason{
		Kind:    AgeKind,
		Verdict: Denied,
		Text:    fmt.Sprintf("published %s, held back until %s (minimum age %s)", t.UTC().Format(time.RFC3339), until.UTC().Format(time.RFC3339), duration(min)),
		ID:      t.UTC().Format(time.RFC3339),
	}, until, true
}

// ruleReason returns the reason a matching rule gives.
func ruleReason(r *CompiledRule) Reason {
	text := "policy-rule " + r.String()
	if r.Reason != "" {
		text = r.Reason + " (" + text + ")"
	}
	v := Allowed
	if r.Action == Deny {
		v = Denied
	}
	return Reason{Kind: RuleKind, Verdict: v, Text: text, ID: r.String()}
}

// vulnText returns "GO-2026-1234 (fixed in v1.2.4)", or "(no fixed version)".
func vulnText(f vulndb.Finding) string {
	if f.Fixed == "" {
		return f.ID + " (no fixed version)"
	}
	return f.ID + " (fixed in " + f.Fixed + ")"
}

// verdictOf returns the verdict of an automatic check's action.
func verdictOf(action string) Verdict {
	if action == Deny {
		return Denied
	}
	return Warned
}

// duration formats d without trailing zero units: "72h", "1h30m".
func duration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}
