package config

import (
	"errors"
	"flag"
	"fmt"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/modvault/modvault/internal/policy"
	"github.com/modvault/modvault/internal/redact"
)

// applyFile applies the settings of a TOML configuration file to fs: each
// top-level key is the name of a flag ("list-ttl = \"5m\""), with strings,
// integers, booleans or arrays of strings (joined with commas) as values.
// Unknown keys are errors, so a typo cannot go unnoticed. Each setting's
// origin becomes "config PATH".
func applyFile(fs *flag.FlagSet, path string, origins map[string]string, rules *[]AuthRule, policyRules *[]policy.Rule) error {
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
		if name == "policy-rule" {
			var doc struct {
				Rules []policy.Rule `toml:"policy-rule"`
			}
			rmd, err := toml.DecodeFile(path, &doc)
			if err != nil {
				return fmt.Errorf("config %s: policy-rule: %w", path, err)
			}
			for _, k := range rmd.Undecoded() {
				if len(k) > 1 && k[0] == "policy-rule" {
					return fmt.Errorf("config %s: unknown key %q in a [[policy-rule]] (want module, versions, action and reason)", path, k.String())
				}
			}
			*policyRules = doc.Rules
			origins["policy-rule"] = "config " + path
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
	var raw rawFlags
	fs := serveFlags(&scratch, &raw)
	// The flags point into scratch and raw: fill them with c's effective
	// values, the tokens already redacted.
	scratch = c
	raw.sumdb = strings.Join(c.SumDB, ",")
	raw.gosumdb = joinStrings(c.GOSUMDB)
	raw.tokens = joinStrings(c.DirectTokens)
	raw.license = strings.Join(c.Policy.LicenseAllow, ",")
	var out []Setting
	fs.VisitAll(func(f *flag.Flag) {
		if f.Name == "config" {
			return
		}
		origin := c.Origins[f.Name]
		if origin == "" {
			origin = "default"
		}
		out = append(out, Setting{Name: f.Name, Value: redact.List(f.Value.String()), Origin: origin})
	})
	for _, r := range c.AuthRules {
		out = append(out, Setting{Name: "auth-rule", Value: r.Pattern + " = " + strings.Join(r.Allow, ","), Origin: c.Origins["auth-rule"]})
	}
	for _, r := range c.Policy.Rules {
		v := r.String()
		if r.Reason != "" {
			v += fmt.Sprintf(" (reason %q)", r.Reason)
		}
		out = append(out, Setting{Name: "policy-rule", Value: v, Origin: c.Origins["policy-rule"]})
	}
	return out
}

// joinStrings joins the String forms of values with commas.
func joinStrings[T fmt.Stringer](values []T) string {
	s := make([]string, len(values))
	for i, v := range values {
		s[i] = v.String()
	}
	return strings.Join(s, ",")
}
