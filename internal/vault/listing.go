package vault

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"

	"golang.org/x/mod/module"
	"golang.org/x/mod/semver"

	"github.com/modvault/modvault/internal/modcheck"
	"github.com/modvault/modvault/internal/protocol"
	"github.com/modvault/modvault/internal/store"
)

// Query resolves a version query that is not a canonical version ("main",
// a commit hash, "v1.2") through the upstream and returns its .info. Queries
// are not stored: their answers change.
func (v *Vault) Query(ctx context.Context, mod, query string) ([]byte, error) {
	key, err := protocol.Key(mod, query, protocol.Info)
	if err != nil {
		return nil, notFound(fmt.Sprintf("%s@%s: invalid version query", mod, query))
	}
	body, err := v.up.GetBytes(ctx, key, maxInfoSize)
	if err != nil {
		return nil, err
	}
	info, err := modcheck.ParseInfo(mod, body)
	if err != nil {
		return nil, invalidUpstream(err)
	}
	if v.opts.Policy != nil {
		if f, err := protocol.NewFile(module.Version{Path: mod, Version: info.Version}, protocol.Info); err == nil {
			if _, _, err := v.Admit(ctx, f); err != nil {
				return nil, err
			}
		}
	}
	return body, nil
}

// List returns the versions of mod: the union of the upstream's list and the
// stored versions, without pseudo-versions (upstream.LatestFromList says
// why) and without those the Policy denies, sorted. When the upstream
// fails, the store answers alone.
func (v *Vault) List(ctx context.Context, mod string) ([]string, Source, error) {
	out, src, err := v.listAll(ctx, mod)
	if err != nil || v.opts.Policy == nil {
		return out, src, err
	}
	return v.opts.Policy.FilterList(ctx, mod, out), src, nil
}

// listAll is List without the Policy.
func (v *Vault) listAll(ctx context.Context, mod string) ([]string, Source, error) {
	if err := module.CheckPath(mod); err != nil {
		return nil, "", notFound(err.Error())
	}
	listPath := protocol.Request{Kind: protocol.List, Module: mod}.Path()
	body, src, upErr := v.cachedGet(ctx, listPath, maxListSize, func(ctx context.Context, body []byte) {
		var vers []string
		for line := range strings.Lines(string(body)) {
			if f := strings.Fields(line); len(f) > 0 && protocol.CheckVersion(mod, f[0]) == nil {
				vers = append(vers, f[0])
			}
		}
		v.seen(ctx, mod, vers)
	})
	stored, err := v.storedVersions(ctx, mod)
	if err != nil {
		return nil, "", err
	}
	seen := make(map[string]bool)
	var out []string
	add := func(ver string) {
		if !seen[ver] && module.CanonicalVersion(ver) == ver && !module.IsPseudoVersion(ver) && protocol.CheckVersion(mod, ver) == nil {
			seen[ver] = true
			out = append(out, ver)
		}
	}
	if upErr == nil {
		for line := range strings.Lines(string(body)) {
			if f := strings.Fields(line); len(f) > 0 {
				add(f[0])
			}
		}
	}
	for _, ver := range stored {
		add(ver)
	}
	if upErr != nil {
		if len(stored) == 0 {
			return nil, "", upErr
		}
		src = Offline
		if errors.Is(upErr, fs.ErrNotExist) {
			src = Hit
		}
	}
	semver.Sort(out)
	return out, src, nil
}

// Latest returns the .info of the latest version of mod: the upstream's
// @latest answer (where an upstream has none, the version the go command
// takes from its list, upstream.LatestFromList), or else the highest stored
// release, pre-release or pseudo-version, in that order. When the Policy
// denies that version, it is the newest version of the list (upstream and
// stored) that the Policy allows ([Vault.latestAllowed]).
func (v *Vault) Latest(ctx context.Context, mod string) ([]byte, Source, error) {
	if err := module.CheckPath(mod); err != nil {
		return nil, "", notFound(err.Error())
	}
	latestPath := protocol.Request{Kind: protocol.Latest, Module: mod}.Path()
	body, src, upErr := v.cachedGet(ctx, latestPath, maxInfoSize, func(ctx context.Context, body []byte) {
		if info, err := modcheck.ParseInfo(mod, body); err == nil {
			v.seen(ctx, mod, []string{info.Version})
		}
	})
	if upErr == nil {
		if info, err := modcheck.ParseInfo(mod, body); err == nil {
			return v.latestAllowed(ctx, mod, info.Version, body, src)
		} else {
			upErr = invalidUpstream(err)
		}
	}
	stored, err := v.storedVersions(ctx, mod)
	if err != nil {
		return nil, "", err
	}
	best := ""
	for _, ver := range stored {
		if best == "" || latestRank(ver) > latestRank(best) ||
			(latestRank(ver) == latestRank(best) && semver.Compare(ver, best) > 0) {
			best = ver
		}
	}
	if best == "" {
		return nil, "", upErr
	}
	infoKey, _ := protocol.Key(mod, best, protocol.Info)
	body, err = v.store.ReadAll(ctx, infoKey)
	if err != nil {
		return nil, "", err
	}
	src = Offline
	if errors.Is(upErr, fs.ErrNotExist) {
		src = Hit
	}
	return v.latestAllowed(ctx, mod, best, body, src)
}

// latestAllowed returns the .info body of version, the latest version of
// mod, if the Policy allows it (or there is none). Otherwise it returns the
// .info of the newest version of mod's list (upstream and stored) that the
// Policy allows, storing its .info and .mod if they are not stored yet,
// or, if it allows none, the Policy's error for version.
func (v *Vault) latestAllowed(ctx context.Context, mod, version string, body []byte, src Source) ([]byte, Source, error) {
	p := v.opts.Policy
	if p == nil {
		return body, src, nil
	}
	d := p.Decide(ctx, module.Version{Path: mod, Version: version})
	if !d.Denied() {
		return body, src, nil
	}
	versions, listSrc, err := v.List(ctx, mod) // already filtered; Latest decides from the cache
	if err != nil {
		return nil, "", d.Err()
	}
	best, ok := p.Latest(ctx, mod, versions)
	if !ok {
		return nil, "", d.Err()
	}
	f, err := protocol.NewFile(module.Version{Path: mod, Version: best}, protocol.Info)
	if err != nil {
		return nil, "", err
	}
	if _, err := v.ensureInfo(ctx, f); err != nil {
		return nil, "", err
	}
	body, err = v.store.ReadAll(ctx, f.Key)
	if err != nil {
		return nil, "", err
	}
	return body, listSrc, nil
}

// latestRank orders kinds of versions for @latest: releases over
// pre-releases over pseudo-versions.
func latestRank(v string) int {
	switch {
	case module.IsPseudoVersion(v):
		return 0
	case semver.Prerelease(v) != "":
		return 1
	}
	return 2
}

// storedVersions lists the versions of mod whose .info is stored.
func (v *Vault) storedVersions(ctx context.Context, mod string) ([]string, error) {
	prefix, err := protocol.VersionsPrefix(mod)
	if err != nil {
		return nil, err
	}
	var vers []string
	err = v.store.List(ctx, prefix, func(e store.Entry) bool {
		esc, ok := strings.CutSuffix(strings.TrimPrefix(e.Key, prefix), ".info")
		if !ok {
			return true
		}
		ver, err := module.UnescapeVersion(esc)
		if err == nil && protocol.CheckVersion(mod, ver) == nil && module.CanonicalVersion(ver) == ver {
			vers = append(vers, ver)
		}
		return true
	})
	return vers, err
}
