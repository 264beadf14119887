package dbdump

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/docker-backup/docker-backup/internal/archive"
)

type mysql struct{}

func (mysql) Name() string { return MySQL }

func (mysql) DataDirs([]string) []string {
	return []string{"/var/lib/mysql", "/bitnami/mysql", "/bitnami/mariadb"}
}

// systemSchemas are the server's own databases, never dumped as data.
var systemSchemas = map[string]bool{"information_schema": true, "performance_schema": true, "sys": true, "mysql": true}

// mysqlCreds prefers root (needed for users and grants), then the app user.
func mysqlCreds(ctx context.Context, x execer, t Target) (user, password string, note string, err error) {
	if t.UserEnv != "" || t.PasswordEnv != "" {
		if t.UserEnv != "" {
			if user, _, err = secret(ctx, x, t, t.UserEnv); err != nil {
				return
			}
		}
		if user == "" {
			user = "root"
		}
		password, _, err = secret(ctx, x, t, t.PasswordEnv)
		return
	}
	pw, ok, err := secret(ctx, x, t, "MARIADB_ROOT_PASSWORD", "MYSQL_ROOT_PASSWORD")
	if err != nil || ok {
		return "root", pw, "", err
	}
	for _, k := range []string{"MARIADB_ALLOW_EMPTY_ROOT_PASSWORD", "MYSQL_ALLOW_EMPTY_PASSWORD", "ALLOW_EMPTY_PASSWORD"} {
		if v, set := envLookup(t.Env, k); set && v != "" && v != "0" && !strings.EqualFold(v, "no") {
			return "root", "", "", nil
		}
	}
	u, okU, err := secret(ctx, x, t, "MARIADB_USER", "MYSQL_USER")
	if err != nil {
		return
	}
	if okU {
		pw, _, err = secret(ctx, x, t, "MARIADB_PASSWORD", "MYSQL_PASSWORD")
		return u, pw, fmt.Sprintf("service %s: no root password in the container's environment; dumping as %s, without users and grants (set x-backup user-env/password-env for a user that may read them)", t.Service, u), err
	}
	return "", "", "", fmt.Errorf("%w for the MySQL/MariaDB server of service %s: set MYSQL_ROOT_PASSWORD (or _FILE) in its environment, or name the variables with x-backup user-env and password-env", errNoCredentials, t.Service)
}

func (mysql) Plan(ctx context.Context, x execer, t Target) (*Plan, error) {
	user, password, note, err := mysqlCreds(ctx, x, t)
	if err != nil {
		return nil, err
	}
	env := []string{}
	if password != "" {
		env = append(env, "MYSQL_PWD="+password)
	}
	tools, err := capture(ctx, x, t.ContainerID, []string{"sh", "-c",
		"command -v mariadb || command -v mysql; command -v mariadb-dump || command -v mysqldump"}, nil)
	found := lines(tools)
	if err != nil || len(found) != 2 {
		return nil, fmt.Errorf("service %s has no mysql/mariadb client and dump tool in its container", t.Service)
	}
	client, dumper := found[0], found[1]
	userFlag := "--user=" + user
	query := func(sql string) (string, error) {
		return capture(ctx, x, t.ContainerID, []string{client, userFlag, "--batch", "--skip-column-names", "--raw", "-e", sql}, env)
	}
	version, err := query("SELECT VERSION()")
	if err != nil {
		return nil, connectError("the MySQL/MariaDB server", t.Service, user, "MYSQL_ROOT_PASSWORD", err)
	}
	version = strings.TrimSpace(version)
	tool, err := capture(ctx, x, t.ContainerID, []string{dumper, "--version"}, nil)
	if err != nil {
		return nil, fmt.Errorf("%s is not usable in service %s: %w", dumper, t.Service, err)
	}
	tool = strings.TrimSpace(tool)
	out, err := query("SHOW DATABASES")
	if err != nil {
		return nil, fmt.Errorf("listing the databases of service %s: %w", t.Service, err)
	}
	plan := &Plan{Engine: MySQL, Flavor: "MySQL", Version: version}
	if d, err := query("SELECT @@datadir"); err == nil {
		plan.DataDir = strings.TrimSuffix(strings.TrimSpace(d), "/")
	}
	if strings.Contains(strings.ToLower(version), "mariadb") {
		plan.Flavor = "MariaDB"
	}
	if note != "" {
		plan.Notes = append(plan.Notes, note)
	}
	dir := archive.DatabasesDir + t.Service + "/"
	id := t.ContainerID
	common := []string{userFlag, "--single-transaction", "--quick", "--routines", "--triggers", "--events",
		"--hex-blob", "--default-character-set=utf8mb4", "--max-allowed-packet=1G"}

	if note == "" {
		users, err := usersJob(ctx, plan, x, t, client, dumper, userFlag, env, tool, dir)
		if err != nil {
			return nil, err
		}
		plan.Jobs = append(plan.Jobs, users)
	}

	var tables []string
	if len(t.ExcludeTable)+len(t.ExcludeTableData) > 0 {
		all, err := query("SELECT CONCAT(table_schema, '.', table_name) FROM information_schema.tables WHERE table_type = 'BASE TABLE' OR table_type = 'VIEW'")
		if err != nil {
			return nil, fmt.Errorf("listing the tables of service %s: %w", t.Service, err)
		}
		tables = lines(all)
	}
	for _, db := range lines(out) {
		if systemSchemas[db] {
			continue
		}
		excluded, err := mysqlMatches(db, tables, t.ExcludeTable)
		if err != nil {
			return nil, err
		}
		noData, err := mysqlMatches(db, tables, t.ExcludeTableData)
		if err != nil {
			return nil, err
		}
		main := append(append([]string{dumper}, common...), "--databases")
		for _, tb := range append(excluded, noData...) {
			main = append(main, "--ignore-table="+db+"."+tb)
		}
		// Names come after "--": a database or table named "-x" is a
		// name, not an option.
		main = append(main, "--", db)
		cmds := [][]string{main}
		if kept := without(noData, excluded); len(kept) > 0 {
			// Structure only, appended to the same file; the first pass
			// already switched to the database.
			structure := append(append([]string{dumper}, common...), "--no-data", "--no-create-db", "--", db)
			cmds = append(cmds, append(structure, kept...))
		}
		plan.Jobs = append(plan.Jobs, Job{
			Dump: archive.Dump{Path: dir + mysqlFileName(db) + ".sql", Database: db, Kind: "database", Format: "sql", Tool: tool},
			open: func(ctx context.Context) io.ReadCloser { return stream(ctx, x, id, cmds, env) },
		})
	}
	return plan, nil
}

// usersJob dumps accounts and grants: MariaDB's dump tool does it with
// --system=users; for MySQL they are read with SHOW CREATE USER and SHOW GRANTS.
func usersJob(ctx context.Context, plan *Plan, x execer, t Target, client, dumper, userFlag string, env []string, tool, dir string) (Job, error) {
	dump := archive.Dump{Path: dir + "users.sql", Kind: "globals", Format: "sql", Tool: tool}
	id := t.ContainerID
	if plan.Flavor == "MariaDB" {
		cmd := []string{dumper, userFlag, "--system=users", "--insert-ignore"}
		return Job{Dump: dump, open: func(ctx context.Context) io.ReadCloser { return stream(ctx, x, id, [][]string{cmd}, env) }}, nil
	}
	// QUOTE() escapes with backslashes, which the statements that use
	// its output read as such only without NO_BACKSLASH_ESCAPES: both
	// sessions, and the load of what they print, run under mySession.
	out, err := capture(ctx, x, id, []string{client, userFlag, "--batch", "--skip-column-names", "--raw", "-e",
		mySession + "SELECT CONCAT(QUOTE(user), '@', QUOTE(host)) FROM mysql.user WHERE user NOT IN ('mysql.sys', 'mysql.session', 'mysql.infoschema', 'root')"}, env)
	if err != nil {
		return Job{}, fmt.Errorf("listing the users of service %s: %w", t.Service, err)
	}
	var sql strings.Builder
	sql.WriteString(mySession)
	for _, u := range lines(out) {
		fmt.Fprintf(&sql, "SHOW CREATE USER %s; SHOW GRANTS FOR %s; ", u, u)
	}
	if len(lines(out)) == 0 {
		sql.WriteString("SELECT '-- no users besides root' ")
	}
	// Each output line is one statement; the client's exit code is checked
	// by stream, which a shell pipeline would hide.
	cmd := []string{client, userFlag, "--batch", "--skip-column-names", "--raw", "-e", sql.String()}
	return Job{Dump: dump, open: func(ctx context.Context) io.ReadCloser {
		return terminateStatements(stream(ctx, x, id, [][]string{cmd}, env))
	}}, nil
}

// terminateStatements ends every line of r with ";".
func terminateStatements(r io.ReadCloser) io.ReadCloser {
	pr, pw := io.Pipe()
	go func() {
		defer r.Close()
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 64<<10), 16<<20)
		for sc.Scan() {
			if _, err := fmt.Fprintf(pw, "%s;\n", sc.Bytes()); err != nil {
				return
			}
		}
		pw.CloseWithError(sc.Err())
	}()
	return pr
}

// mysqlFileName is a database's dump file name: a database named users
// must not take the file of the users dump (users.sql).
func mysqlFileName(db string) string {
	name := safeFileName(db)
	if name == "users" {
		name = "%75sers"
	}
	return name
}

// mysqlMatches returns the tables of db matched by db.table globs.
func mysqlMatches(db string, tables, patterns []string) ([]string, error) {
	var out []string
	for _, p := range patterns {
		parts, err := splitPattern(p, 2)
		if err != nil {
			return nil, err
		}
		if !globMatch(parts[0], db) {
			continue
		}
		for _, full := range tables {
			d, tb, _ := strings.Cut(full, ".")
			if d == db && globMatch(parts[1], tb) && !contains(out, tb) {
				out = append(out, tb)
			}
		}
	}
	return out, nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func without(list, remove []string) []string {
	var out []string
	for _, v := range list {
		if !contains(remove, v) {
			out = append(out, v)
		}
	}
	return out
}
