package app

import (
	"net"
	"net/http"
	"time"

	"golang.org/x/mod/module"

	"github.com/modvault/modvault/internal/auth"
	"github.com/modvault/modvault/internal/fault"
	"github.com/modvault/modvault/internal/index"
	"github.com/modvault/modvault/internal/policy"
	"github.com/modvault/modvault/internal/route"
	"github.com/modvault/modvault/internal/server"
	"github.com/modvault/modvault/internal/vault"
)

// served records a served .info, .mod or .zip in the index
// (server.Options.Served): a zip served, filled or failed is an event; an
// .info or .mod served is a hit counter, and one whose fill failed an
// event. A version the policy refused is a denied event, and one it warned
// about (or would have refused or warned about, in report mode) is a
// warned (report) event besides. Neither blocks: the index buffers them.
func (a *App) served(r *http.Request, info server.RequestInfo) {
	req := info.Request // not route.Of(r): without access control or tracing that would parse the path again
	user := auth.Principal(r.Context())
	filled := info.Source == vault.Miss
	ok := info.Status < 300
	if ok && info.Policy.Verdict != policy.Allowed {
		a.policyEvent(r, info, user)
	}
	if info.Endpoint != route.Zip && ok && !filled {
		a.index.CountHit(module.Version{Path: req.Module, Version: req.Version}, user, time.Now())
		return
	}
	ev := index.Event{
		User:       user,
		ClientAddr: clientHost(r.RemoteAddr),
		Module:     req.Module,
		Version:    req.Version,
		Kind:       kindOf(info.Endpoint),
	}
	if ok {
		ev.Bytes = info.Bytes // not the bytes of an error's text
	}
	switch {
	case ok && filled:
		ev.Result = index.ResultFilled
	case ok:
		ev.Result = index.ResultHit
	case info.Status == 499:
		return // the client went away: nothing was served, nothing failed
	case info.Fault.Missing():
		ev.Result = index.ResultNotFound
	case info.Fault == fault.Policy:
		ev.Result, ev.Reason = index.ResultDenied, info.Policy.Text()
	default:
		ev.Result, ev.Reason = index.ResultError, info.Fault.String()
	}
	a.index.Record(ev)
}

// policyEvent records the policy's warning, or its report-mode decision,
// on a version file served.
func (a *App) policyEvent(r *http.Request, info server.RequestInfo, user string) {
	result := index.ResultWarned
	if info.Policy.Report {
		result = index.ResultReport
	}
	a.index.Record(index.Event{
		User:       user,
		ClientAddr: clientHost(r.RemoteAddr),
		Module:     info.Request.Module,
		Version:    info.Request.Version,
		Kind:       kindOf(info.Endpoint),
		Result:     result,
		Reason:     info.Policy.Text(),
	})
}

// denied records a request that access control refused.
func (a *App) denied(r *http.Request, who, reason string) {
	rt := route.Of(r)
	a.index.Record(index.Event{
		User:       who,
		ClientAddr: clientHost(r.RemoteAddr),
		Module:     rt.Module(),
		Version:    rt.Request.Version,
		Kind:       kindOf(rt.Endpoint),
		Result:     index.ResultDenied,
		Reason:     reason,
	})
}

// kindOf returns the event kind of an endpoint.
func kindOf(e route.Endpoint) string {
	switch e {
	case route.Info:
		return index.KindInfo
	case route.Mod:
		return index.KindMod
	case route.Zip:
		return index.KindZip
	case route.List:
		return index.KindList
	case route.Latest:
		return index.KindLatest
	}
	return e.String()
}

// clientHost returns the host of a request's RemoteAddr.
func clientHost(addr string) string {
	if host, _, err := net.SplitHostPort(addr); err == nil {
		return host
	}
	return addr
}
