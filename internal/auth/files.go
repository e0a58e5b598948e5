package auth

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/bcrypt"
)

// users are the users of an htpasswd file.
type users struct {
	hash map[string][]byte // bcrypt hash by user name
	// decoy is a hash checked for unknown user names, so that they take as
	// long as known ones: the first user's, or [noSuchUser].
	decoy []byte
}

// tokens are the named token hashes of a tokens file.
type tokens []token

type token struct {
	name string
	sum  [sha256.Size]byte
}

// lines calls fn with each line of data that is neither empty nor a
// comment, trimmed of surrounding space, and its 1-based number; it stops
// at fn's first error, which it returns prefixed with the line number.
func lines(data []byte, fn func(line string) error) error {
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if err := fn(line); err != nil {
			return fmt.Errorf("line %d: %w", n, err)
		}
	}
	return sc.Err()
}

// parseHtpasswd parses an htpasswd file whose hashes are all bcrypt.
func parseHtpasswd(data []byte) (users, error) {
	us := users{hash: make(map[string][]byte), decoy: []byte(noSuchUser)}
	err := lines(data, func(line string) error {
		name, hash, ok := strings.Cut(line, ":")
		if !ok {
			return errors.New("want user:hash")
		}
		if err := checkName(name); err != nil {
			return fmt.Errorf("user %q: %w", name, err)
		}
		if name == TokenUser {
			return fmt.Errorf("user %q: the name is reserved for tokens sent with Basic authentication", name)
		}
		if _, dup := us.hash[name]; dup {
			return fmt.Errorf("user %q is listed twice", name)
		}
		if !isBcrypt(hash) {
			return fmt.Errorf("user %q: unsupported password hash %s: only bcrypt ($2y$, $2a$, $2b$) is accepted; create the entry with \"htpasswd -B\"", name, hashKind(hash))
		}
		if _, err := bcrypt.Cost([]byte(hash)); err != nil {
			return fmt.Errorf("user %q: malformed bcrypt hash: %w", name, err)
		}
		if len(us.hash) == 0 {
			us.decoy = []byte(hash)
		}
		us.hash[name] = []byte(hash)
		return nil
	})
	if err != nil {
		return users{}, err
	}
	return us, nil
}

func isBcrypt(hash string) bool {
	for _, p := range []string{"$2y$", "$2a$", "$2b$"} {
		if strings.HasPrefix(hash, p) {
			return true
		}
	}
	return false
}

// hashKind names the kind of an htpasswd hash for an error message.
func hashKind(hash string) string {
	switch {
	case strings.HasPrefix(hash, "$apr1$"):
		return "Apache MD5 ($apr1$)"
	case strings.HasPrefix(hash, "{SHA}"):
		return "SHA-1 ({SHA})"
	case strings.HasPrefix(hash, "$1$"):
		return "MD5-crypt ($1$)"
	case strings.HasPrefix(hash, "$5$"):
		return "SHA-256-crypt ($5$)"
	case strings.HasPrefix(hash, "$6$"):
		return "SHA-512-crypt ($6$)"
	case strings.HasPrefix(hash, "$2x$"):
		return "bcrypt with the $2x$ bug marker"
	case strings.HasPrefix(hash, "$"):
		return "of an unknown kind"
	}
	return "crypt(3) or plain text"
}

// HashToken returns the form of token a tokens file holds: "sha256:" and
// the hexadecimal SHA-256 of token. A tokens file line is
// "NAME:" + HashToken(token). The same with a shell:
//
//	printf 'ci:sha256:%s\n' "$(printf %s "$TOKEN" | sha256sum | cut -d' ' -f1)" >>tokens
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// parseTokens parses a tokens file: "name:sha256:HEX" per line.
func parseTokens(data []byte) (tokens, error) {
	var ts tokens
	names := make(map[string]bool)
	sums := make(map[[sha256.Size]byte]bool)
	err := lines(data, func(line string) error {
		name, rest, ok := strings.Cut(line, ":")
		if !ok {
			// Not quoted: the line may be a token pasted as is.
			return errors.New("want NAME:sha256:HEX, HEX being the 64 hexadecimal digits of the token's SHA-256 (the token itself is never stored)")
		}
		if err := checkName(name); err != nil {
			return fmt.Errorf("token %q: %w", name, err)
		}
		h, ok := strings.CutPrefix(rest, "sha256:")
		var t token
		if !ok || len(h) != hex.EncodedLen(sha256.Size) {
			return fmt.Errorf("token %q: want NAME:sha256:HEX, HEX being the 64 hexadecimal digits of the token's SHA-256 (the token itself is never stored)", name)
		}
		if _, err := hex.Decode(t.sum[:], []byte(h)); err != nil {
			return fmt.Errorf("token %q: the SHA-256 is not hexadecimal: %w", name, err)
		}
		if names[name] {
			return fmt.Errorf("token %q is listed twice", name)
		}
		if sums[t.sum] {
			return fmt.Errorf("token %q: the same token is listed under another name", name)
		}
		t.name = name
		names[name], sums[t.sum] = true, true
		ts = append(ts, t)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return ts, nil
}
