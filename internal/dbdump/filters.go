package dbdump

import (
	"fmt"
	"path"
	"strings"
)

// splitPattern splits a filter glob into parts (db.table for MySQL,
// db.schema.table for PostgreSQL); missing leading parts match anything,
// so "sessions" means that table in every database (and schema).
func splitPattern(pattern string, parts int) ([]string, error) {
	fields := strings.Split(pattern, ".")
	if len(fields) > parts || pattern == "" {
		return nil, fmt.Errorf("invalid table pattern %q: use %s", pattern, map[int]string{2: "db.table", 3: "db.schema.table"}[parts])
	}
	for _, f := range fields {
		if _, err := path.Match(f, ""); err != nil || f == "" {
			return nil, fmt.Errorf("invalid table pattern %q", pattern)
		}
	}
	for len(fields) < parts {
		fields = append([]string{"*"}, fields...)
	}
	return fields, nil
}

// ValidatePatterns checks filter globs before anything runs.
func ValidatePatterns(engine string, patterns []string) error {
	parts := 3
	if engine == MySQL {
		parts = 2
	}
	for _, p := range patterns {
		if _, err := splitPattern(p, parts); err != nil {
			return err
		}
	}
	return nil
}

func globMatch(pattern, name string) bool {
	ok, _ := path.Match(pattern, name)
	return ok
}

// safeFileName makes a database name usable as a file name in the archive:
// anything but letters, digits, '_', '-' and '.' is percent-encoded.
func safeFileName(name string) string {
	var b strings.Builder
	for _, r := range []byte(name) {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_', r == '-', r == '.' && b.Len() > 0:
			b.WriteByte(r)
		default:
			fmt.Fprintf(&b, "%%%02X", r)
		}
	}
	return b.String()
}
