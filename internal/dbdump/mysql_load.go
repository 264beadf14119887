package dbdump

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strings"
)

// mysqlClientConn is the server's own client in its container, with the
// credentials a dump would use: the password in the exec's environment
// only.
type mysqlClientConn struct {
	sess    session
	client  []string
	version string
	note    string
	user    string
}

// mysqlClient finds the client, connects and reads the server's version.
func mysqlClient(ctx context.Context, x execer, t Target) (*mysqlClientConn, error) {
	user, password, _, err := mysqlCreds(ctx, x, t)
	if err != nil {
		return nil, err
	}
	var env []string
	if password != "" {
		env = append(env, "MYSQL_PWD="+password)
	}
	id := t.ContainerID
	found, err := capture(ctx, x, id, []string{"sh", "-c", "command -v mariadb || command -v mysql"}, nil)
	if err != nil || len(lines(found)) != 1 {
		return nil, fmt.Errorf("service %s has no mysql/mariadb client in its container", t.Service)
	}
	osu, note := osUser(ctx, x, id, "mysql")
	sess := session{x: x, id: id, env: env, user: osu}
	client := []string{lines(found)[0], "--user=" + user, "--default-character-set=utf8mb4", "--max-allowed-packet=1G"}
	version, err := sess.capture(ctx, append(append([]string{}, client...), "--batch", "--skip-column-names", "--raw", "-e", "SELECT VERSION()"))
	if err != nil {
		return nil, connectError("the MySQL/MariaDB server", t.Service, user, "MYSQL_ROOT_PASSWORD", err)
	}
	return &mysqlClientConn{sess: sess, client: client, version: strings.TrimSpace(version), note: note, user: user}, nil
}

func mysqlConnect(ctx context.Context, x execer, t Target) (*Server, error) {
	c, err := mysqlClient(ctx, x, t)
	if err != nil {
		return nil, err
	}
	sess, client, version, note := c.sess, c.client, c.version, c.note
	s := &Server{Engine: MySQL, Flavor: "MySQL", Version: version, User: c.user}
	if strings.Contains(strings.ToLower(version), "mariadb") {
		s.Flavor = "MariaDB"
	}
	if note != "" {
		s.Notes = append(s.Notes, "service "+t.Service+": "+note)
	}
	// Every statement of ours comes after mySession: its literals read
	// as written whatever the server's sql_mode and character set.
	batch := func(ctx context.Context, q string) (string, error) {
		return sess.capture(ctx, append(append([]string{}, client...), "--batch", "--skip-column-names", "--raw", "-e", mySession+q))
	}
	// An application's user (the only one some compose files let us
	// know) may not read the accounts: the users and grants are then
	// left alone, and its own databases restored.
	_, aerr := batch(ctx, "SELECT 1 FROM mysql.user LIMIT 1")
	s.Admin = aerr == nil
	s.canReplace = func(ctx context.Context, db string) error {
		// information_schema lists the current user's privileges, a
		// database's grants by their LIKE pattern; ALL expanded.
		out, err := batch(ctx, "SELECT PRIVILEGE_TYPE FROM information_schema.USER_PRIVILEGES UNION SELECT PRIVILEGE_TYPE FROM information_schema.SCHEMA_PRIVILEGES WHERE "+myLiteral(db)+" LIKE TABLE_SCHEMA")
		if err != nil {
			return fmt.Errorf("reading the privileges of user %s of service %s: %w", c.user, t.Service, err)
		}
		have := map[string]bool{}
		for _, p := range lines(out) {
			have[strings.ToUpper(strings.TrimSpace(p))] = true
		}
		var missing []string
		for _, p := range []string{"DROP", "CREATE", "INSERT"} {
			if !have[p] {
				missing = append(missing, p)
			}
		}
		if len(missing) > 0 {
			return fmt.Errorf("user %s of service %s may not replace database %s (it lacks %s on it): name an administrator's credentials with x-backup user-env and password-env", c.user, t.Service, db, strings.Join(missing, ", "))
		}
		return nil
	}
	load, err := safeLoadFlags(ctx, sess, client[0], t.Service)
	if err != nil {
		return nil, err
	}
	loader := append(append([]string{}, client...), load...)
	// The counts are read as an import reads them, the names escaped in
	// the client's output (no --raw): a name may hold a tab or a newline.
	m := &myConn{sess: sess, service: t.Service, script: myCmd(myCmd(client, "--batch", "--quick", "--skip-column-names"), load...)}
	s.list = func(ctx context.Context, kind string) ([]string, error) {
		q := "SELECT CONCAT(QUOTE(user), '@', QUOTE(host)) FROM mysql.user ORDER BY 1"
		if kind == "database" {
			q = "SHOW DATABASES"
		} else if !s.Admin {
			return nil, nil // accounts are left alone
		}
		out, err := batch(ctx, q)
		if err != nil {
			return nil, fmt.Errorf("listing the %ss of service %s: %w", kind, t.Service, err)
		}
		return lines(out), nil
	}
	s.drop = func(ctx context.Context, kind, name string) error {
		// Account names come from QUOTE() above: already quoted.
		q := "DROP USER IF EXISTS " + name
		if kind == "database" {
			q = "DROP DATABASE IF EXISTS " + myIdent(name)
		}
		if _, err := sess.capture(ctx, append(client, "-e", mySession+q)); err != nil {
			return fmt.Errorf("dropping %s %s of service %s: %w", kind, name, t.Service, err)
		}
		return nil
	}
	s.count = func(ctx context.Context, db string) ([]TableCount, error) {
		counts, err := m.count(ctx, db)
		for i := range counts {
			counts[i].Table = db + "." + counts[i].Table
		}
		return counts, err
	}
	s.loadGlobals = func(ctx context.Context, r io.Reader) error {
		// MariaDB's dump says CREATE USER IF NOT EXISTS; the statements
		// read from MySQL's SHOW CREATE USER do not.
		rc := createUserIfNotExists(r)
		defer rc.Close()
		// The users of MySQL are SHOW CREATE USER's statements, read
		// under mySession (mysqlUsersJob): loaded under it too.
		in := io.MultiReader(strings.NewReader(mySession), rc)
		if err := sess.feed(ctx, loader, in, nil); err != nil {
			return fmt.Errorf("loading users and grants into service %s: %w", t.Service, err)
		}
		return nil
	}
	s.loadDatabase = func(ctx context.Context, db string, r io.Reader) error {
		drop := "DROP DATABASE IF EXISTS " + myIdent(db)
		if _, err := sess.capture(ctx, append(client, "-e", mySession+drop)); err != nil {
			return fmt.Errorf("dropping database %s of service %s: %w", db, t.Service, err)
		}
		// The dump creates the database and switches to it (--databases);
		// the client stops at the first error.
		if err := sess.feed(ctx, loader, r, nil); err != nil {
			return fmt.Errorf("loading database %s into service %s: %w", db, t.Service, err)
		}
		return nil
	}
	return s, nil
}

// safeLoadFlags are the client's options under which a dump it reads can
// make it run none of its own commands: --binary-mode, in which it parses
// no command but delimiter and \C (MySQL 5.6.3 and MariaDB 10.0.13 on),
// and MariaDB's --sandbox, which refuses those that reach files and
// shells. Without --binary-mode the load is refused.
func safeLoadFlags(ctx context.Context, sess session, client, service string) ([]string, error) {
	help, err := sess.capture(ctx, []string{client, "--no-defaults", "--help"})
	if err != nil {
		return nil, fmt.Errorf("reading the options of the mysql client of service %s: %w", service, err)
	}
	has := func(opt string) bool {
		for _, l := range lines(help) {
			if f := strings.Fields(l); len(f) > 0 && (f[0] == opt || strings.HasPrefix(f[0], opt+"=")) {
				return true
			}
		}
		return false
	}
	if !has("--binary-mode") {
		return nil, fmt.Errorf("the client %s of service %s has no --binary-mode, under which a dump cannot make it run commands: restore with a MySQL 5.6.3, MariaDB 10.0.13 or newer client", client, service)
	}
	flags := []string{"--binary-mode"}
	if has("--sandbox") {
		flags = append(flags, "--sandbox")
	}
	return flags, nil
}

// createUserIfNotExists rewrites "CREATE USER 'x'" statements at the start
// of a line into "CREATE USER IF NOT EXISTS 'x'", so that accounts that
// exist are kept, as pg's "role exists" errors are tolerated.
func createUserIfNotExists(r io.Reader) io.ReadCloser {
	pr, pw := io.Pipe()
	go func() {
		br := bufio.NewReaderSize(r, 64<<10)
		for {
			line, err := br.ReadString('\n')
			if rest, ok := strings.CutPrefix(line, "CREATE USER "); ok && !strings.HasPrefix(rest, "IF NOT EXISTS") {
				line = "CREATE USER IF NOT EXISTS " + rest
			}
			if _, werr := io.WriteString(pw, line); werr != nil {
				return
			}
			if err != nil {
				if err == io.EOF {
					err = nil
				}
				pw.CloseWithError(err)
				return
			}
		}
	}()
	return pr
}
