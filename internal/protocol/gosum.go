package protocol

import (
	"bufio"
	"fmt"
	"os"
	"strings"

	"golang.org/x/mod/module"
)

// SumLine is one line of a go.sum file: the hash of a version's .mod file
// (Kind Mod, a "mod ver/go.mod h1:…" line) or of its zip (Kind Zip).
type SumLine struct {
	module.Version
	Kind Kind
	Hash string
}

// ReadGoSum reads the go.sum file name. Blank lines are skipped; a line
// that is not "module version hash", or names an invalid module version,
// is an error naming the file and line.
func ReadGoSum(name string) ([]SumLine, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var lines []SumLine
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 {
			continue
		}
		if len(fields) != 3 {
			return nil, fmt.Errorf("%s:%d: malformed go.sum line", name, n)
		}
		kind, vers := Zip, fields[1]
		if v, ok := strings.CutSuffix(vers, "/go.mod"); ok {
			kind, vers = Mod, v
		}
		if err := module.Check(fields[0], vers); err != nil {
			return nil, fmt.Errorf("%s:%d: %v", name, n, err)
		}
		lines = append(lines, SumLine{Version: module.Version{Path: fields[0], Version: vers}, Kind: kind, Hash: fields[2]})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	return lines, nil
}
