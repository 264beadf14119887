package dbdump

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/docker-backup/docker-backup/internal/engine"
)

// Server is a running database server to restore dumps into, connected
// with the same credentials a dump would use.
type Server struct {
	Engine  string
	Flavor  string
	Version string
	// Notes say what the load cannot do as it should (run as the
	// database's own user).
	Notes []string
	// Admin: the credentials may manage accounts (roles, users and
	// grants). Without, only what the user may drop and create is
	// restored: CanReplace says what.
	Admin bool
	// User is the account the server is reached as.
	User string
	// canReplace tells, for a user that is not an administrator, why it
	// may not drop and create a database, or nil.
	canReplace func(ctx context.Context, db string) error
	// loadGlobals and loadDatabase are the engine's ways to load a dump.
	loadGlobals  func(ctx context.Context, r io.Reader) error
	loadDatabase func(ctx context.Context, db string, r io.Reader) error
	// list and drop read and remove "account" (roles, users) and
	// "database" objects by name.
	list func(ctx context.Context, kind string) ([]string, error)
	drop func(ctx context.Context, kind, name string) error
	// count lists a database's tables with their exact row counts.
	count func(ctx context.Context, db string) ([]TableCount, error)
}

// TableCount is a table and its number of rows.
type TableCount struct {
	Table string `json:"table"`
	Rows  int64  `json:"rows"`
}

// CanReplace tells whether the server's user may drop and create db,
// with an error that says why not. An administrator may.
func (s *Server) CanReplace(ctx context.Context, db string) error {
	if s.Admin || s.canReplace == nil {
		return nil
	}
	return s.canReplace(ctx, db)
}

// Tables lists db's tables and counts their rows exactly (count(*)).
func (s *Server) Tables(ctx context.Context, db string) ([]TableCount, error) {
	return s.count(ctx, db)
}

// WaitListening waits until the server of a freshly started container
// listens on TCP: the official images first run a temporary server on the
// socket only, then restart it, and a load into that one would be cut off.
func WaitListening(ctx context.Context, x execer, engineName, id string) error {
	cmd := []string{"pg_isready", "-q", "-h", "127.0.0.1"}
	if engineName == MySQL {
		cmd = []string{"sh", "-c", "if command -v mariadb-admin >/dev/null; then exec mariadb-admin ping -h127.0.0.1 --protocol=tcp --silent; else exec mysqladmin ping -h127.0.0.1 --protocol=tcp --silent; fi"}
	}
	for {
		code, err := x.Exec(ctx, id, engine.ExecOptions{Cmd: cmd})
		if err == nil && code == 0 {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("the test server never accepted connections: %w", ctx.Err())
		}
		select {
		case <-ctx.Done():
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// Objects lists the server's accounts (kind "account": roles or
// user@host) or databases (kind "database"), so that a rollback can remove
// what a failed restore added.
func (s *Server) Objects(ctx context.Context, kind string) ([]string, error) {
	return s.list(ctx, kind)
}

// Drop removes an account or database listed by Objects.
func (s *Server) Drop(ctx context.Context, kind, name string) error {
	return s.drop(ctx, kind, name)
}

// LoadGlobals loads roles, users and grants, tolerating those that exist.
// r must hold only SQL (FilterReader): the client runs in its restricted
// mode where it has one, too.
func (s *Server) LoadGlobals(ctx context.Context, r io.Reader) error {
	return s.loadGlobals(ctx, r)
}

// LoadDatabase drops db, recreates it and loads the dump from r, stopping
// at the first error.
func (s *Server) LoadDatabase(ctx context.Context, db string, r io.Reader) error {
	return s.loadDatabase(ctx, db, r)
}

// Connect connects to the database server of t for a restore and reads its
// version.
func Connect(ctx context.Context, x execer, engineName string, t Target) (*Server, error) {
	switch engineName {
	case Postgres:
		return pgConnect(ctx, x, t)
	case MySQL:
		return mysqlConnect(ctx, x, t)
	}
	return nil, fmt.Errorf("unknown database engine %q", engineName)
}

// ErrFlavor: a dump of MySQL into MariaDB or the reverse, which may load
// but is not guaranteed to.
var ErrFlavor = errors.New("dump and server are different database products")

// ErrTooNew: the dump comes from a newer major version than the server's.
var ErrTooNew = errors.New("dump is from a newer server version")

// CheckCompatible tells whether a dump taken from dumpFlavor dumpVersion can
// be loaded into a server of srvFlavor srvVersion: never into an older
// major version; MySQL into MariaDB or the reverse fails with ErrFlavor.
func CheckCompatible(service, dumpFlavor, dumpVersion, srvFlavor, srvVersion string) error {
	if !strings.EqualFold(dumpFlavor, srvFlavor) {
		return fmt.Errorf("%w: dump taken from %s %s; service %s runs %s %s", ErrFlavor, dumpFlavor, dumpVersion, service, srvFlavor, srvVersion)
	}
	dv, dOK := majorVersion(dumpFlavor, dumpVersion)
	sv, sOK := majorVersion(srvFlavor, srvVersion)
	if !dOK || !sOK {
		return nil
	}
	if compareVersions(dv, sv) > 0 {
		return fmt.Errorf("%w: dump taken from %s %s; service %s runs %s: restore into %s %s or newer",
			ErrTooNew, dumpFlavor, shortVersion(dumpVersion), service, shortVersion(srvVersion), dumpFlavor, joinVersion(dv))
	}
	return nil
}

// majorVersion is the part of a version that names a release series:
// PostgreSQL 10+ "16", PostgreSQL 9 "9.6", MySQL and MariaDB "8.0", "10.11".
func majorVersion(flavor, v string) ([]int, bool) {
	nums := leadingNumbers(v)
	if len(nums) == 0 {
		return nil, false
	}
	n := 2
	if flavor == "PostgreSQL" && nums[0] >= 10 {
		n = 1
	}
	if len(nums) < n {
		return nums, true
	}
	return nums[:n], true
}

// leadingNumbers parses "15.18 (Debian ...)" or "10.11.6-MariaDB-..." into
// its leading dotted numbers.
func leadingNumbers(v string) []int {
	v = shortVersion(v)
	var out []int
	for _, f := range strings.Split(v, ".") {
		end := 0
		for end < len(f) && f[end] >= '0' && f[end] <= '9' {
			end++
		}
		if end == 0 {
			break
		}
		n, err := strconv.Atoi(f[:end])
		if err != nil {
			break
		}
		out = append(out, n)
		if end < len(f) {
			break
		}
	}
	return out
}

// shortVersion drops a version's build suffix: "15.18 (Debian 15.18-1)"
// gives "15.18", "10.11.6-MariaDB-0+deb12u1" gives "10.11.6".
func shortVersion(v string) string {
	v = strings.TrimSpace(v)
	if i := strings.IndexAny(v, " -+"); i > 0 {
		v = v[:i]
	}
	return v
}

func compareVersions(a, b []int) int {
	for i := 0; i < len(a) && i < len(b); i++ {
		if a[i] != b[i] {
			if a[i] > b[i] {
				return 1
			}
			return -1
		}
	}
	return 0
}

func joinVersion(v []int) string {
	s := make([]string, len(v))
	for i, n := range v {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, ".")
}
