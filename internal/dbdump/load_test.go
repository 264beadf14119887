package dbdump

import (
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
)

func TestCheckCompatible(t *testing.T) {
	for _, tc := range []struct {
		dumpFlavor, dumpVersion, srvFlavor, srvVersion string
		want                                           error
		msg                                            string
	}{
		{"PostgreSQL", "15.18 (Debian 15.18-0+deb12u1)", "PostgreSQL", "15.2", nil, ""},
		{"PostgreSQL", "14.9", "PostgreSQL", "15.18 (Debian 15.18-0+deb12u1)", nil, ""},
		{"PostgreSQL", "16.4", "PostgreSQL", "15.18 (Debian 15.18-0+deb12u1)", ErrTooNew,
			"dump taken from PostgreSQL 16.4; service db runs 15.18: restore into PostgreSQL 16 or newer"},
		{"PostgreSQL", "9.6.24", "PostgreSQL", "9.5.1", ErrTooNew, "restore into PostgreSQL 9.6 or newer"},
		{"PostgreSQL", "9.6.24", "PostgreSQL", "10.1", nil, ""},
		{"MariaDB", "10.11.6-MariaDB-0+deb12u1", "MariaDB", "10.11.2-MariaDB", nil, ""},
		{"MariaDB", "11.4.2-MariaDB", "MariaDB", "10.11.6-MariaDB-0+deb12u1", ErrTooNew, "restore into MariaDB 11.4 or newer"},
		{"MySQL", "8.0.36", "MySQL", "8.4.0", nil, ""},
		{"MySQL", "8.0.36", "MariaDB", "10.11.6-MariaDB", ErrFlavor, "dump taken from MySQL 8.0.36; service db runs MariaDB"},
		{"PostgreSQL", "unknown", "PostgreSQL", "15.1", nil, ""},
	} {
		err := CheckCompatible("db", tc.dumpFlavor, tc.dumpVersion, tc.srvFlavor, tc.srvVersion)
		if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
			t.Errorf("%s %s into %s %s: got %v, want %v", tc.dumpFlavor, tc.dumpVersion, tc.srvFlavor, tc.srvVersion, err, tc.want)
			continue
		}
		if err != nil && !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("message %q lacks %q", err, tc.msg)
		}
	}
}

func TestCreateUserIfNotExists(t *testing.T) {
	in := "CREATE USER 'app'@'%' IDENTIFIED WITH 'caching_sha2_password' AS 'x';\nCREATE USER IF NOT EXISTS `b`@`%`;\nGRANT SELECT ON *.* TO 'app'@'%';\n  CREATE USER inside a string\nlast line without newline CREATE USER "
	rc := createUserIfNotExists(strings.NewReader(in))
	out, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	want := "CREATE USER IF NOT EXISTS 'app'@'%' IDENTIFIED WITH 'caching_sha2_password' AS 'x';\nCREATE USER IF NOT EXISTS `b`@`%`;\nGRANT SELECT ON *.* TO 'app'@'%';\n  CREATE USER inside a string\nlast line without newline CREATE USER "
	if string(out) != want {
		t.Errorf("got\n%s\nwant\n%s", out, want)
	}
	// Closing early ends the rewriting goroutine instead of blocking it.
	rc = createUserIfNotExists(strings.NewReader(strings.Repeat("CREATE USER 'x'@'%';\n", 100000)))
	buf := make([]byte, 10)
	if _, err := rc.Read(buf); err != nil {
		t.Fatal(err)
	}
	rc.Close()
}

func TestPgErrorLines(t *testing.T) {
	p := &pgErrorLines{}
	io.WriteString(p, "psql:<stdin>:5: ERROR:  role \"app\" already exists\npsql:<stdin>:9: ERROR:  syntax err")
	io.WriteString(p, "or at or near \"x\"\nNOTICE: something\n")
	bad := p.unexpected()
	if len(bad) != 1 || !strings.Contains(bad[0], "syntax error") {
		t.Errorf("unexpected errors: %q", bad)
	}
}

func pgLoadServer(t *testing.T, fail map[string]reply) (*fakeExec, *Server) {
	t.Helper()
	f := &fakeExec{handler: func(cmd, env []string) reply {
		for prog, r := range fail {
			if cmd[0] == prog {
				return r
			}
		}
		switch {
		case cmd[0] == "id" && cmd[1] == "-un":
			return reply{stdout: "root\n"}
		case cmd[0] == "id":
			return reply{stdout: "101\n"}
		case cmd[0] == "cat":
			return reply{stdout: "pw 'with\" quotes\n"}
		case cmd[0] == "psql" && slices.Contains(cmd, "SHOW server_version"):
			return reply{stdout: "15.18 (Debian 15.18-0+deb12u1)\n"}
		case cmd[0] == "psql", cmd[0] == "pg_restore":
			return reply{}
		}
		return reply{code: 127}
	}}
	srv, err := Connect(context.Background(), f, Postgres, Target{
		Service: "db", ContainerID: "c1",
		Env: []string{"POSTGRES_USER=app", "POSTGRES_PASSWORD_FILE=/run/secrets/pw"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return f, srv
}

func TestPostgresLoad(t *testing.T) {
	f, srv := pgLoadServer(t, nil)
	if srv.Flavor != "PostgreSQL" || !strings.HasPrefix(srv.Version, "15.18") {
		t.Errorf("server %+v", srv)
	}
	ctx := context.Background()
	if err := srv.LoadGlobals(ctx, strings.NewReader("CREATE ROLE app;\n")); err != nil {
		t.Fatal(err)
	}
	if err := srv.LoadDatabase(ctx, `we"ird`, strings.NewReader("PGDMP...")); err != nil {
		t.Fatal(err)
	}
	var drop, restore execCall
	for _, c := range f.recorded() {
		if c.cmd[0] == "psql" && strings.Contains(strings.Join(c.cmd, " "), "DROP DATABASE") {
			drop = c
		}
		if c.cmd[0] == "pg_restore" {
			restore = c
		}
	}
	if got := drop.cmd[len(drop.cmd)-1]; got != `DROP DATABASE IF EXISTS "we""ird" WITH (FORCE)` {
		t.Errorf("drop: %q", got)
	}
	if !slices.Contains(restore.cmd, "--create") || !slices.Contains(restore.cmd, "--exit-on-error") || restore.stdin != "PGDMP..." {
		t.Errorf("pg_restore: %q with %q", restore.cmd, restore.stdin)
	}
	// The clients run as postgres, not as the container's root, and are
	// stopped in the container when the restore is cancelled.
	for _, c := range f.recorded() {
		if (c.cmd[0] == "psql" || c.cmd[0] == "pg_restore") && (c.user != "postgres" || !c.kill) {
			t.Errorf("%q ran as %q, kill on cancel %v", c.cmd, c.user, c.kill)
		}
	}
	// psql has \restrict: the globals load starts restricted, with a
	// key of its own.
	for _, c := range f.recorded() {
		if c.cmd[0] == "psql" && slices.Contains(c.cmd, "-f") {
			first, rest, _ := strings.Cut(c.stdin, "\n")
			key, ok := strings.CutPrefix(first, `\restrict `)
			if !ok || len(key) < 32 || rest != pgSessionSQL+"CREATE ROLE app;\n" {
				t.Errorf("globals load read %q", c.stdin)
			}
		}
	}
	// Every session reads literals as written, whatever the role's
	// settings.
	for _, c := range f.recorded() {
		if (c.cmd[0] == "psql" || c.cmd[0] == "pg_restore") && !slices.Contains(c.env, "PGOPTIONS=-c standard_conforming_strings=on") {
			t.Errorf("%q without standard_conforming_strings: %q", c.cmd, c.env)
		}
	}
	assertSecretOnlyInEnv(t, f, "pw 'with\" quotes", "PGPASSWORD")
}

func TestPostgresLoadGlobalsFailsOnRealErrors(t *testing.T) {
	_, srv := pgLoadServer(t, map[string]reply{"psql": {stderr: "psql:<stdin>:1: ERROR:  role \"app\" already exists\npsql:<stdin>:2: ERROR:  permission denied to create role\n"}})
	err := srv.LoadGlobals(context.Background(), strings.NewReader("x"))
	if err == nil || !strings.Contains(err.Error(), "permission denied") || strings.Contains(err.Error(), "already exists") {
		t.Errorf("got %v", err)
	}
}

func TestPostgresLoadFailsWithTheToolsError(t *testing.T) {
	_, srv := pgLoadServer(t, map[string]reply{"pg_restore": {code: 1, stderr: "pg_restore: error: could not execute query: ERROR:  out of disk"}})
	err := srv.LoadDatabase(context.Background(), "appdb", strings.NewReader("x"))
	if err == nil || !strings.Contains(err.Error(), "out of disk") || !strings.Contains(err.Error(), "appdb") {
		t.Errorf("got %v", err)
	}
}

// mariadbHelp is the part of `mariadb --help` the load looks at.
const mariadbHelp = `  --binary-mode       Binary mode allows certain character sequences to be
                      turns off parsing of all client commands except \C and
  --sandbox           Disallow commands that access the file system (except \P
binary-mode                       FALSE
`

func TestMySQLLoad(t *testing.T) {
	f := &fakeExec{handler: func(cmd, env []string) reply {
		switch {
		case cmd[0] == "id" && cmd[1] == "-un":
			return reply{stdout: "root\n"}
		case cmd[0] == "id":
			return reply{stdout: "999\n"}
		case slices.Contains(cmd, "--help"):
			return reply{stdout: mariadbHelp}
		case cmd[0] == "sh":
			return reply{stdout: "/usr/bin/mariadb\n"}
		case slices.Contains(cmd, "SELECT VERSION()"):
			return reply{stdout: "10.11.6-MariaDB-0+deb12u1\n"}
		case cmd[0] == "/usr/bin/mariadb":
			return reply{}
		}
		return reply{code: 127}
	}}
	srv, err := Connect(context.Background(), f, MySQL, Target{Service: "db", ContainerID: "c1", Env: []string{"MARIADB_ROOT_PASSWORD=r00t secret"}})
	if err != nil {
		t.Fatal(err)
	}
	if srv.Flavor != "MariaDB" {
		t.Errorf("flavor %s", srv.Flavor)
	}
	ctx := context.Background()
	if err := srv.LoadGlobals(ctx, strings.NewReader("CREATE USER 'a'@'%';\n")); err != nil {
		t.Fatal(err)
	}
	if err := srv.LoadDatabase(ctx, "sh`op", strings.NewReader("CREATE DATABASE ...")); err != nil {
		t.Fatal(err)
	}
	var stdins []string
	sawDrop := false
	for _, c := range f.recorded() {
		if c.stdin != "" {
			stdins = append(stdins, c.stdin)
		}
		if c.cmd[len(c.cmd)-1] == mySession+"DROP DATABASE IF EXISTS `sh``op`" {
			sawDrop = true
		}
	}
	if !sawDrop || len(stdins) != 2 || stdins[0] != mySession+"CREATE USER IF NOT EXISTS 'a'@'%';\n" {
		t.Errorf("drop %v, stdins %q", sawDrop, stdins)
	}
	// Dumps go to a client that runs none of its own commands, as mysql.
	for _, c := range f.recorded() {
		if c.stdin == "" {
			continue
		}
		if !slices.Contains(c.cmd, "--binary-mode") || !slices.Contains(c.cmd, "--sandbox") || c.user != "mysql" || !c.kill {
			t.Errorf("load %q as %q", c.cmd, c.user)
		}
	}
	assertSecretOnlyInEnv(t, f, "r00t secret", "MYSQL_PWD")
}

// A client that cannot be kept from running commands loads nothing.
func TestMySQLLoadNeedsBinaryMode(t *testing.T) {
	f := &fakeExec{handler: func(cmd, env []string) reply {
		switch {
		case slices.Contains(cmd, "--help"):
			return reply{stdout: "  --batch   Don't use history file.\n"}
		case cmd[0] == "sh":
			return reply{stdout: "/usr/bin/mysql\n"}
		case slices.Contains(cmd, "SELECT VERSION()"):
			return reply{stdout: "5.5.62\n"}
		}
		return reply{code: 127}
	}}
	_, err := Connect(context.Background(), f, MySQL, Target{Service: "db", ContainerID: "c1", Env: []string{"MYSQL_ROOT_PASSWORD=x"}})
	if err == nil || !strings.Contains(err.Error(), "--binary-mode") {
		t.Errorf("got %v", err)
	}
}

// An image without the database's own user loads as root, and says so.
func TestLoadAsRootIsNoted(t *testing.T) {
	f := &fakeExec{handler: func(cmd, env []string) reply {
		switch {
		case cmd[0] == "id" && cmd[1] == "-un":
			return reply{stdout: "root\n"}
		case cmd[0] == "id":
			return reply{code: 1, stderr: "id: 'postgres': no such user"}
		case cmd[0] == "psql" && slices.Contains(cmd, "SHOW server_version"):
			return reply{stdout: "15.18\n"}
		case cmd[0] == "psql":
			return reply{}
		}
		return reply{code: 127}
	}}
	srv, err := Connect(context.Background(), f, Postgres, Target{Service: "db", ContainerID: "c1", Env: []string{"POSTGRES_PASSWORD=x"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(srv.Notes) != 1 || !strings.Contains(srv.Notes[0], "service db: the container has no postgres user") {
		t.Errorf("notes %q", srv.Notes)
	}
	for _, c := range f.recorded() {
		if c.cmd[0] == "psql" && c.user != "" {
			t.Errorf("%q as %q", c.cmd, c.user)
		}
	}
}

// With only the application's user (a random root password), the server
// says it may not manage accounts, lists none, and tells which databases
// that user may replace from its privileges.
func TestMySQLAppUserOnly(t *testing.T) {
	f := &fakeExec{handler: func(cmd, env []string) reply {
		last := cmd[len(cmd)-1]
		switch {
		case cmd[0] == "id" && cmd[1] == "-un":
			return reply{stdout: "root\n"}
		case cmd[0] == "id":
			return reply{stdout: "999\n"}
		case slices.Contains(cmd, "--help"):
			return reply{stdout: mariadbHelp}
		case cmd[0] == "sh":
			return reply{stdout: "/usr/bin/mariadb\n"}
		case cmd[0] == "cat":
			return reply{stdout: "app-pw\n"}
		case last == "SELECT VERSION()":
			return reply{stdout: "10.11.6-MariaDB-0+deb12u1\n"}
		case strings.Contains(last, "FROM mysql.user"):
			return reply{code: 1, stderr: "ERROR 1142 (42000) at line 1: SELECT command denied to user 'shop'@'localhost' for table `mysql`.`user`"}
		case strings.Contains(last, "SCHEMA_PRIVILEGES") && strings.Contains(last, "'shop' LIKE TABLE_SCHEMA"):
			return reply{stdout: "USAGE\nSELECT\nINSERT\nCREATE\nDROP\n"}
		case strings.Contains(last, "SCHEMA_PRIVILEGES"):
			return reply{stdout: "USAGE\n"}
		}
		return reply{code: 127}
	}}
	srv, err := Connect(context.Background(), f, MySQL, Target{Service: "db", ContainerID: "c1", Env: []string{"MYSQL_RANDOM_ROOT_PASSWORD=yes", "MARIADB_USER=shop", "MARIADB_PASSWORD_FILE=/run/secrets/pw"}})
	if err != nil {
		t.Fatal(err)
	}
	if srv.Admin || srv.User != "shop" {
		t.Errorf("admin %v user %q", srv.Admin, srv.User)
	}
	ctx := context.Background()
	if accounts, err := srv.Objects(ctx, "account"); err != nil || len(accounts) != 0 {
		t.Errorf("accounts %q, %v", accounts, err)
	}
	if err := srv.CanReplace(ctx, "shop"); err != nil {
		t.Errorf("shop: %v", err)
	}
	if err := srv.CanReplace(ctx, "crm"); err == nil || !strings.Contains(err.Error(), "user shop of service db may not replace database crm (it lacks DROP, CREATE, INSERT on it)") {
		t.Errorf("crm: %v", err)
	}
	assertSecretOnlyInEnv(t, f, "app-pw", "MYSQL_PWD")
}

// A PostgreSQL user that is not a superuser may replace the databases it
// owns when it may create databases; not the others.
func TestPostgresOwnerOnly(t *testing.T) {
	f := &fakeExec{handler: func(cmd, env []string) reply {
		last := cmd[len(cmd)-1]
		switch {
		case cmd[0] == "id" && cmd[1] == "-un":
			return reply{stdout: "root\n"}
		case cmd[0] == "id":
			return reply{stdout: "999\n"}
		case last == "SHOW server_version":
			return reply{stdout: "15.18\n"}
		case strings.Contains(last, "rolsuper"):
			return reply{stdout: "false true\n"}
		case strings.Contains(last, "datname = E'appdb'"):
			return reply{stdout: "t\n"}
		case strings.Contains(last, "datname = E'other'"):
			return reply{stdout: "f\n"}
		case cmd[0] == "psql":
			return reply{}
		}
		return reply{code: 127}
	}}
	srv, err := Connect(context.Background(), f, Postgres, Target{Service: "db", ContainerID: "c1", Env: []string{"APP_USER=app", "APP_PASSWORD=pw"}, UserEnv: "APP_USER", PasswordEnv: "APP_PASSWORD"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if srv.Admin {
		t.Error("a user that is not a superuser manages roles")
	}
	if err := srv.CanReplace(ctx, "appdb"); err != nil {
		t.Errorf("appdb: %v", err)
	}
	if err := srv.CanReplace(ctx, "other"); err == nil || !strings.Contains(err.Error(), "may not replace database other") {
		t.Errorf("other: %v", err)
	}
}
