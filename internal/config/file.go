package config

import (
	"errors"
	"flag"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
)

// applyFile applies the settings of a TOML configuration file to fs: each
// top-level key is the name of a flag ("list-ttl = \"5m\""), with strings,
// integers, booleans or arrays of strings (joined with commas) as values.
// Unknown keys are errors, so a typo cannot go unnoticed. Each setting's
// origin becomes "config PATH".
func applyFile(fs *flag.FlagSet, path string, origins map[string]string, rules *[]AuthRule) error {
	var m map[string]any
	md, err := toml.DecodeFile(path, &m)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return fmt.Errorf("config %s: line %d: %s", path, pe.Position.Line, pe.Message)
		}
		return fmt.Errorf("config %s: %w", path, err)
	}
	for _, key := range md.Keys() {
		if len(key) != 1 {
			continue // nested keys belong to their table, checked below
		}
		name := key[0]
		if name == "auth-rule" {
			var doc struct {
				Rules []AuthRule `toml:"auth-rule"`
			}
			rmd, err := toml.DecodeFile(path, &doc)
			if err != nil {
				return fmt.Errorf("config %s: auth-rule: %w", path, err)
			}
			for _, k := range rmd.Undecoded() {
				if len(k) > 1 && k[0] == "auth-rule" {
					return fmt.Errorf("config %s: unknown key %q in an [[auth-rule]] (want pattern and allow)", path, k.String())
				}
			}
			*rules = doc.Rules
			origins["auth-rule"] = "config " + path
			continue
		}
		f := fs.Lookup(name)
		if f == nil || name == "config" {
			return fmt.Errorf("config %s: unknown setting %q (the keys are the flags of modvault serve, without --)", path, name)
		}
		var s string
		switch v := m[name].(type) {
		case string:
			s = v
		case int64:
			s = strconv.FormatInt(v, 10)
		case bool:
			s = strconv.FormatBool(v)
		case []any:
			var parts []string
			for _, e := range v {
				es, ok := e.(string)
				if !ok {
					return fmt.Errorf("config %s: %s: want a string or an array of strings", path, name)
				}
				parts = append(parts, es)
			}
			s = strings.Join(parts, ",")
		default:
			return fmt.Errorf("config %s: %s: want a string, a number, true/false or an array of strings, not %s", path, name, md.Type(name))
		}
		if err := f.Value.Set(s); err != nil {
			return fmt.Errorf("config %s: %s = %q: %v", path, name, s, err)
		}
		origins[name] = "config " + path
	}
	return nil
}

// Setting is one effective setting of "modvault serve", for "modvault
// config".
type Setting struct {
	Name   string // the flag name, which is also the config file key
	Value  string // the effective value, secrets redacted
	Origin string // "flag", "env MODVAULT_X", "config FILE", "go env X", "default", …
}

// Settings returns every setting of c in flag order with its effective
// value (secrets redacted) and where it came from.
func (c Serve) Settings() []Setting {
	var scratch Serve
	var sumdb, tokens string
	fs := serveFlags(&scratch, &sumdb, &tokens)
	// The flags point into scratch: fill it with c's effective values.
	scratch = c
	sumdb = strings.Join(c.SumDB, ",")
	var ts []string
	for _, t := range c.DirectTokens {
		ts = append(ts, t.String())
	}
	tokens = strings.Join(ts, ",")
	var out []Setting
	fs.VisitAll(func(f *flag.Flag) {
		if f.Name == "config" {
			return
		}
		origin := c.Origins[f.Name]
		if origin == "" {
			origin = "default"
		}
		out = append(out, Setting{Name: f.Name, Value: redactValue(f.Value.String()), Origin: origin})
	})
	for _, r := range c.AuthRules {
		out = append(out, Setting{Name: "auth-rule", Value: r.Pattern + " = " + strings.Join(r.Allow, ","), Origin: c.Origins["auth-rule"]})
	}
	return out
}

// redactValue hides secrets in a setting's value: the user information of
// URLs (user names can be tokens too) and query parameters whose names say
// secret, key, token, password, signature or credential. Lists separated by
// "," or "|" are redacted entry by entry.
func redactValue(v string) string {
	if !strings.Contains(v, "://") && !strings.Contains(v, "@") {
		return v
	}
	var b strings.Builder
	start := 0
	for i := 0; i <= len(v); i++ {
		if i < len(v) && v[i] != ',' && v[i] != '|' {
			continue
		}
		b.WriteString(redactURL(v[start:i]))
		if i < len(v) {
			b.WriteByte(v[i])
		}
		start = i + 1
	}
	return b.String()
}

func redactURL(s string) string {
	u, err := url.Parse(strings.TrimSpace(s))
	if err != nil || u.Scheme == "" {
		if at := strings.LastIndexByte(s, '@'); at >= 0 && !strings.Contains(s, "://") {
			return "xxxxx" + s[at:] // user:password@host without a scheme
		}
		return s
	}
	if u.User != nil {
		u.User = url.User("xxxxx")
	}
	q := u.Query()
	changed := false
	for k, vs := range q {
		if len(vs) == 1 && strings.Contains(vs[0], "://") {
			// A URL in a parameter (an endpoint) may carry its own
			// user information.
			if r := redactURL(vs[0]); r != vs[0] {
				q.Set(k, r)
				changed = true
			}
		}
		lk := strings.ToLower(k)
		for _, w := range []string{"secret", "key", "token", "password", "signature", "credential", "sig"} {
			if strings.Contains(lk, w) {
				q.Set(k, "xxxxx")
				changed = true
				break
			}
		}
	}
	if changed {
		u.RawQuery = q.Encode()
	}
	return u.String()
}
