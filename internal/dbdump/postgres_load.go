package dbdump

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
)

func pgConnect(ctx context.Context, x execer, t Target) (*Server, error) {
	user, env, err := pgEnv(ctx, x, t)
	if err != nil {
		return nil, err
	}
	id := t.ContainerID
	osu, note := osUser(ctx, x, id, "postgres")
	sess := session{x: x, id: id, env: append(env, pgSessionEnv...), user: osu}
	// template1 always exists, and is never a database we drop.
	psql := []string{"psql", "-X", "-A", "-t", "-q", "--no-password", "-d", "template1"}
	version, err := sess.capture(ctx, append(psql, "-v", "ON_ERROR_STOP=1", "-c", "SHOW server_version"))
	if err != nil {
		return nil, connectError("PostgreSQL", t.Service, user, "POSTGRES_PASSWORD", err)
	}
	version = strings.TrimSpace(version)
	s := &Server{Engine: Postgres, Flavor: "PostgreSQL", Version: version, User: user}
	priv, err := sess.capture(ctx, append(psql, "-v", "ON_ERROR_STOP=1", "-c", "SELECT rolsuper::text || ' ' || rolcreatedb::text FROM pg_roles WHERE rolname = current_user"))
	if err != nil {
		return nil, fmt.Errorf("reading the privileges of user %s of service %s: %w", user, t.Service, err)
	}
	super, createdb, _ := strings.Cut(strings.TrimSpace(priv), " ")
	s.Admin = super == "true"
	s.canReplace = func(ctx context.Context, db string) error {
		// The owner of a database may drop it, and with CREATEDB make it
		// again as the dump says.
		out, err := sess.capture(ctx, append(psql, "-v", "ON_ERROR_STOP=1", "-c", "SELECT pg_get_userbyid(datdba) = current_user FROM pg_database WHERE datname = "+pgLiteral(db)))
		if err != nil {
			return fmt.Errorf("reading the owner of database %s of service %s: %w", db, t.Service, err)
		}
		owner := strings.TrimSpace(out)
		if createdb != "true" || owner == "f" {
			return fmt.Errorf("user %s of service %s may not replace database %s (only a superuser, or its owner with CREATEDB, may): name a superuser's credentials with x-backup user-env and password-env", user, t.Service, db)
		}
		return nil
	}
	if note != "" {
		s.Notes = append(s.Notes, "service "+t.Service+": "+note)
	}
	// psql's restricted mode (17.6, 16.10, 15.14, 14.19, 13.22 and
	// later) runs no meta-command but \unrestrict with the key: a load
	// starts with it, and the key is ours.
	_, rerr := sess.capture(ctx, append(psql, "-c", `\restrict dockerbackupprobe`))
	restrict := rerr == nil
	force := true
	if v, ok := majorVersion("PostgreSQL", version); ok && v[0] < 13 {
		force = false // DROP DATABASE ... WITH (FORCE) is PostgreSQL 13+
	}
	s.list = func(ctx context.Context, kind string) ([]string, error) {
		q := "SELECT rolname FROM pg_roles WHERE rolname !~ '^pg_' ORDER BY 1"
		if kind == "database" {
			q = "SELECT datname FROM pg_database WHERE NOT datistemplate ORDER BY 1"
		} else if !s.Admin {
			return nil, nil // roles are left alone
		}
		out, err := sess.capture(ctx, append(psql, "-v", "ON_ERROR_STOP=1", "-c", q))
		if err != nil {
			return nil, fmt.Errorf("listing the %ss of service %s: %w", kind, t.Service, err)
		}
		return lines(out), nil
	}
	s.drop = func(ctx context.Context, kind, name string) error {
		q := "DROP ROLE IF EXISTS " + pgIdent(name)
		if kind == "database" {
			q = "DROP DATABASE IF EXISTS " + pgIdent(name)
			if force {
				q += " WITH (FORCE)"
			}
		}
		if _, err := sess.capture(ctx, append(psql, "-v", "ON_ERROR_STOP=1", "-c", q)); err != nil {
			return fmt.Errorf("dropping %s %s of service %s: %w", kind, name, t.Service, err)
		}
		return nil
	}
	s.count = func(ctx context.Context, db string) ([]TableCount, error) {
		return pgCount(ctx, sess, db)
	}
	s.loadGlobals = func(ctx context.Context, r io.Reader) error {
		r = io.MultiReader(strings.NewReader(pgSessionSQL), r)
		if restrict {
			key, err := restrictKey()
			if err != nil {
				return err
			}
			r = io.MultiReader(strings.NewReader(`\restrict `+key+"\n"), r)
		}
		// Without ON_ERROR_STOP, so that roles that exist already are
		// tolerated; every other error fails the load.
		errs := &pgErrorLines{}
		if err := sess.feed(ctx, append(psql, "-v", "ON_ERROR_STOP=0", "-f", "-"), r, errs); err != nil {
			return fmt.Errorf("loading roles into service %s: %w", t.Service, err)
		}
		if bad := errs.unexpected(); len(bad) > 0 {
			return fmt.Errorf("loading roles into service %s: %s", t.Service, strings.Join(bad, "; "))
		}
		return nil
	}
	s.loadDatabase = func(ctx context.Context, db string, r io.Reader) error {
		q := pgIdent(db)
		drop := "DROP DATABASE IF EXISTS " + q + " WITH (FORCE)"
		if !force {
			drop = "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = " + pgLiteral(db) + " AND pid <> pg_backend_pid(); DROP DATABASE IF EXISTS " + q
		}
		if _, err := sess.capture(ctx, append(psql, "-v", "ON_ERROR_STOP=1", "-c", drop)); err != nil {
			return fmt.Errorf("dropping database %s of service %s: %w", db, t.Service, err)
		}
		// --create makes the database as it was (owner, encoding, locale);
		// the dump was taken with pg_dump --format=custom, which
		// pg_restore sends to the server as SQL: no psql meta-command
		// can come of it.
		cmd := []string{"pg_restore", "--create", "--exit-on-error", "--no-password", "--dbname=template1"}
		if err := sess.feed(ctx, cmd, r, nil); err != nil {
			return fmt.Errorf("loading database %s into service %s: %w", db, t.Service, err)
		}
		return nil
	}
	return s, nil
}

// restrictKey is a key for psql's \restrict that no archive can know.
func restrictKey() (string, error) {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

// pgErrorLines collects psql's error lines other than "already exists".
type pgErrorLines struct {
	mu   sync.Mutex
	part []byte
	bad  []string
}

func (p *pgErrorLines) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.part = append(p.part, b...)
	for {
		i := bytes.IndexByte(p.part, '\n')
		if i < 0 {
			break
		}
		p.line(string(p.part[:i]))
		p.part = p.part[i+1:]
	}
	return len(b), nil
}

func (p *pgErrorLines) line(l string) {
	if strings.Contains(l, "ERROR:") && !strings.Contains(l, "already exists") && len(p.bad) < 5 {
		p.bad = append(p.bad, strings.TrimSpace(l))
	}
}

func (p *pgErrorLines) unexpected() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.part) > 0 {
		p.line(string(p.part))
		p.part = nil
	}
	return p.bad
}

// pgCount counts the rows of every table of db exactly. Each name comes
// as a JSON string, which holds no newline, so that a name with one
// (or with a "|") reads back whole.
func pgCount(ctx context.Context, sess session, db string) ([]TableCount, error) {
	q := pgSessionSQL + "SELECT format('SELECT to_json(%L::text)::text || ''|'' || count(*) FROM %I.%I', schemaname || '.' || tablename, schemaname, tablename) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY schemaname, tablename \\gexec\n"
	cmd := []string{"psql", "-X", "-A", "-t", "-q", "--no-password", "-v", "ON_ERROR_STOP=1", "-d", pgDBName(db)}
	out, err := sess.query(ctx, cmd, strings.NewReader(q))
	if err != nil {
		return nil, err
	}
	return pgParseCounts(out)
}

// pgParseCounts reads pgCount's lines: a JSON string, "|", a count.
func pgParseCounts(out string) ([]TableCount, error) {
	var tables []TableCount
	for _, l := range lines(out) {
		i := strings.LastIndexByte(l, '|')
		var name string
		if i < 0 || json.Unmarshal([]byte(l[:i]), &name) != nil {
			return nil, fmt.Errorf("unexpected output %q", l)
		}
		n, err := strconv.ParseInt(strings.TrimSpace(l[i+1:]), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("unexpected output %q", l)
		}
		tables = append(tables, TableCount{Table: name, Rows: n})
	}
	return tables, nil
}
