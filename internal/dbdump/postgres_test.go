package dbdump

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
)

const pgPassword = "pg-Secr3t!"

// pgServer answers psql, pg_dump and pg_dumpall as a server with dbs,
// reached as a superuser.
func pgServer(dbs []string, dumpFails map[string]reply) func(cmd, env []string) reply {
	return pgServerAs(true, dbs, dumpFails)
}

func pgServerAs(superuser bool, dbs []string, dumpFails map[string]reply) func(cmd, env []string) reply {
	return func(cmd, env []string) reply {
		switch cmd[0] {
		case "psql":
			sql := cmd[len(cmd)-1]
			switch {
			case sql == "SHOW server_version":
				return reply{stdout: "16.3 (Debian 16.3-1.pgdg120+1)\n"}
			case strings.HasPrefix(sql, "SELECT rolsuper FROM pg_roles"):
				if superuser {
					return reply{stdout: "t\n"}
				}
				return reply{stdout: "f\n"}
			case sql == "SHOW data_directory" && superuser:
				return reply{stdout: "/srv/pg\n"}
			case strings.HasPrefix(sql, "SELECT datname FROM pg_database"):
				if !superuser && !strings.Contains(sql, "pg_get_userbyid(datdba) = current_user") {
					return reply{code: 1, stderr: "ERROR: the fake wants the databases a non-superuser owns"}
				}
				return reply{stdout: strings.Join(dbs, "\n") + "\n"}
			}
			return reply{code: 3, stderr: "ERROR: unexpected query"}
		case "pg_dump":
			if hasArg(cmd, "--version") {
				return reply{stdout: "pg_dump (PostgreSQL) 16.3 (Debian 16.3-1.pgdg120+1)\n"}
			}
			db := strings.TrimPrefix(argsWithPrefix(cmd, "--dbname=")[0], "--dbname=")
			if r, ok := dumpFails[db]; ok {
				return r
			}
			return reply{stdout: "PGDMP:" + db}
		case "pg_dumpall":
			return reply{stdout: "-- roles\nCREATE ROLE app;\n"}
		case "cat":
			if cmd[2] == "/run/secrets/pg" {
				return reply{stdout: pgPassword + "\n"}
			}
		}
		return reply{code: 127, stderr: cmd[0] + ": not found"}
	}
}

func TestPostgresPlan(t *testing.T) {
	for _, viaFile := range []bool{false, true} {
		name := "password in env"
		env := []string{"POSTGRES_USER=app", "POSTGRES_PASSWORD=" + pgPassword}
		if viaFile {
			name = "password file"
			env = []string{"POSTGRES_USER=app", "POSTGRES_PASSWORD_FILE=/run/secrets/pg"}
		}
		t.Run(name, func(t *testing.T) {
			x := &fakeExec{handler: pgServer([]string{"app", "postgres", "my db"}, nil)}
			target := Target{
				Service: "db", ContainerID: "c1", Env: env,
				ExcludeTable:     []string{"*.audit_*", "app.public.sessions", "other.*.big", "postgres.*.*"},
				ExcludeTableData: []string{"cache", "my db.logs.*"},
			}
			plan, err := For(Postgres).Plan(context.Background(), x, target)
			if err != nil {
				t.Fatal(err)
			}
			if plan.Engine != Postgres || plan.Flavor != "PostgreSQL" || plan.Version != "16.3 (Debian 16.3-1.pgdg120+1)" {
				t.Errorf("plan %+v", plan)
			}
			var paths []string
			for _, j := range plan.Jobs {
				paths = append(paths, j.Path)
				if j.Tool != "pg_dump (PostgreSQL) 16.3 (Debian 16.3-1.pgdg120+1)" {
					t.Errorf("%s: tool %q", j.Path, j.Tool)
				}
			}
			wantPaths := []string{"databases/db/globals.sql", "databases/db/app.pgdump", "databases/db/postgres.pgdump", "databases/db/my%20db.pgdump"}
			if !reflect.DeepEqual(paths, wantPaths) {
				t.Fatalf("paths %v, want %v", paths, wantPaths)
			}
			if j := plan.Jobs[0]; j.Kind != "globals" || j.Format != "sql" || j.Database != "" {
				t.Errorf("globals job %+v", j.Dump)
			}
			if j := plan.Jobs[3]; j.Kind != "database" || j.Format != "pg_dump-custom" || j.Database != "my db" {
				t.Errorf("database job %+v", j.Dump)
			}

			// Nothing is dumped before a job is opened.
			if n := len(x.callsOf("pg_dumpall")); n != 0 {
				t.Errorf("pg_dumpall ran %d times while planning", n)
			}
			for _, c := range x.callsOf("pg_dump") {
				if !hasArg(c.cmd, "--version") {
					t.Errorf("pg_dump ran while planning: %q", c.cmd)
				}
			}

			outs := map[string]string{}
			for _, j := range plan.Jobs {
				out, err := readJob(t, j)
				if err != nil {
					t.Fatalf("%s: %v", j.Path, err)
				}
				outs[j.Path] = out
			}
			if outs["databases/db/app.pgdump"] != "PGDMP:app" || !strings.HasPrefix(outs["databases/db/globals.sql"], "-- roles") {
				t.Errorf("dump output %q", outs)
			}

			all := x.callsOf("pg_dumpall")
			if len(all) != 1 || !reflect.DeepEqual(all[0].cmd, []string{"pg_dumpall", "--globals-only", "--no-password", "--database=postgres"}) {
				t.Errorf("pg_dumpall calls %+v", all)
			}
			dumps := map[string][]string{}
			for _, c := range x.callsOf("pg_dump") {
				if hasArg(c.cmd, "--version") {
					continue
				}
				if c.id != "c1" {
					t.Errorf("dump in container %q", c.id)
				}
				for _, flag := range []string{"--format=custom", "--compress=0", "--no-password"} {
					if !hasArg(c.cmd, flag) {
						t.Errorf("pg_dump %q lacks %s", c.cmd, flag)
					}
				}
				db := argsWithPrefix(c.cmd, "--dbname=")
				if len(db) != 1 {
					t.Fatalf("pg_dump %q: --dbname %v", c.cmd, db)
				}
				dumps[strings.TrimPrefix(db[0], "--dbname=")] = c.cmd
			}
			wantExcl := map[string][2][]string{
				"app":      {{"--exclude-table=*.audit_*", "--exclude-table=public.sessions"}, {"--exclude-table-data=*.cache"}},
				"postgres": {{"--exclude-table=*.audit_*", "--exclude-table=*.*"}, {"--exclude-table-data=*.cache"}},
				"my db":    {{"--exclude-table=*.audit_*"}, {"--exclude-table-data=*.cache", "--exclude-table-data=logs.*"}},
			}
			if len(dumps) != len(wantExcl) {
				t.Errorf("dumped %d databases, want %d", len(dumps), len(wantExcl))
			}
			for db, want := range wantExcl {
				cmd, ok := dumps[db]
				if !ok {
					t.Errorf("database %q not dumped", db)
					continue
				}
				if got := argsWithPrefix(cmd, "--exclude-table="); !reflect.DeepEqual(got, want[0]) {
					t.Errorf("%s: --exclude-table %v, want %v", db, got, want[0])
				}
				if got := argsWithPrefix(cmd, "--exclude-table-data="); !reflect.DeepEqual(got, want[1]) {
					t.Errorf("%s: --exclude-table-data %v, want %v", db, got, want[1])
				}
			}

			// Credentials: the user and password in the environment of
			// every connecting command, never on a command line.
			assertSecretOnlyInEnv(t, x, pgPassword, "PGPASSWORD")
			for _, c := range x.recorded() {
				connects := c.cmd[0] == "psql" || c.cmd[0] == "pg_dumpall" || (c.cmd[0] == "pg_dump" && !hasArg(c.cmd, "--version"))
				if !connects {
					if len(c.env) != 0 {
						t.Errorf("%q got env %q", c.cmd, c.env)
					}
					continue
				}
				if !hasArg(c.env, "PGPASSWORD="+pgPassword) || !hasArg(c.env, "PGUSER=app") {
					t.Errorf("%q env %q", c.cmd, c.env)
				}
				for _, arg := range c.cmd {
					if strings.Contains(arg, "app") && strings.HasPrefix(arg, "--user") {
						t.Errorf("user on the command line: %q", c.cmd)
					}
				}
			}
		})
	}
}

func TestPostgresPlanNoPassword(t *testing.T) {
	x := &fakeExec{handler: pgServer([]string{"app"}, nil)}
	plan, err := For(Postgres).Plan(context.Background(), x, Target{Service: "db", ContainerID: "c1", Env: []string{"POSTGRES_HOST_AUTH_METHOD=trust"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.Jobs) != 2 {
		t.Errorf("jobs %d", len(plan.Jobs))
	}
	for _, c := range x.callsOf("psql") {
		for _, e := range c.env {
			if strings.HasPrefix(e, "PGPASSWORD") {
				t.Errorf("empty password passed: %q", c.env)
			}
		}
		if !hasArg(c.env, "PGUSER=postgres") {
			t.Errorf("psql env %q", c.env)
		}
	}
}

func TestPostgresDumpFails(t *testing.T) {
	x := &fakeExec{handler: pgServer([]string{"app", "broken"}, map[string]reply{
		"broken": {stdout: "PGDMP-partial", stderr: "pg_dump: error: query failed: ERROR:  permission denied for table secrets\n", code: 2},
	})}
	plan, err := For(Postgres).Plan(context.Background(), x, Target{Service: "db", ContainerID: "c1", Env: []string{"POSTGRES_PASSWORD=" + pgPassword}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := readJob(t, plan.Jobs[1]); err != nil {
		t.Errorf("app: %v", err)
	}
	out, err := readJob(t, plan.Jobs[2])
	if err == nil {
		t.Fatalf("a failed dump read without error (%q)", out)
	}
	for _, want := range []string{"pg_dump", "exit code 2", "permission denied for table secrets"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if strings.Contains(err.Error(), pgPassword) || strings.Contains(err.Error(), "--format") {
		t.Errorf("error %q shows the command line or the password", err)
	}
}

func TestPostgresPlanErrors(t *testing.T) {
	boom := errors.New("engine gone")
	tests := []struct {
		desc    string
		handler func(cmd, env []string) reply
		want    string
	}{
		{desc: "cannot connect", handler: func(cmd, env []string) reply {
			return reply{code: 2, stderr: `psql: error: connection to server on socket failed: FATAL:  password authentication failed for user "app"`}
		}, want: "password authentication failed"},
		{desc: "no pg_dump", handler: func(cmd, env []string) reply {
			if cmd[0] == "pg_dump" {
				return reply{code: 127, stderr: "exec: pg_dump: not found"}
			}
			return pgServer(nil, nil)(cmd, env)
		}, want: "pg_dump is not usable"},
		{desc: "exec error", handler: func(cmd, env []string) reply { return reply{err: boom} }, want: "engine gone"},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			x := &fakeExec{handler: tt.handler}
			_, err := For(Postgres).Plan(context.Background(), x, Target{Service: "db", ContainerID: "c1", Env: []string{"POSTGRES_USER=app", "POSTGRES_PASSWORD=" + pgPassword}})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
			if !strings.Contains(err.Error(), "db") || strings.Contains(err.Error(), pgPassword) {
				t.Errorf("error %q", err)
			}
		})
	}
	x := &fakeExec{handler: pgServer([]string{"app"}, nil)}
	if _, err := For(Postgres).Plan(context.Background(), x, Target{Service: "db", ExcludeTable: []string{"a.b.c.d"}}); err == nil {
		t.Error("invalid pattern accepted")
	}
}

func TestPostgresPlanOddDatabaseNames(t *testing.T) {
	// A name with '=' or a URI prefix would be read by pg_dump as a
	// connection string: it must reach pg_dump as a database name only.
	dbs := []string{"a=b", "host=evil.example dbname=x", "postgresql://evil.example/x", "it's"}
	x := &fakeExec{handler: pgServer(dbs, nil)}
	plan, err := For(Postgres).Plan(context.Background(), x, Target{Service: "db", ContainerID: "c1"})
	if err != nil {
		t.Fatal(err)
	}
	for i, j := range plan.Jobs[1:] {
		if j.Database != dbs[i] {
			t.Errorf("job %d database %q, want %q", i, j.Database, dbs[i])
		}
		readJob(t, j)
	}
	want := map[string]bool{
		`--dbname=dbname='a=b'`:                         true,
		`--dbname=dbname='host=evil.example dbname=x'`:  true,
		`--dbname=dbname='postgresql://evil.example/x'`: true,
		`--dbname=it's`:                                 true,
	}
	for _, c := range x.callsOf("pg_dump") {
		if hasArg(c.cmd, "--version") {
			continue
		}
		db := argsWithPrefix(c.cmd, "--dbname=")[0]
		if !want[db] {
			t.Errorf("pg_dump %s", db)
		}
		delete(want, db)
	}
	if len(want) > 0 {
		t.Errorf("not dumped: %v", want)
	}
	if got := pgDBName(`a\b='c'`); got != `dbname='a\\b=\'c\''` {
		t.Errorf("pgDBName = %s", got)
	}
}

// A user that is not a superuser dumps its databases without the roles,
// which it may not read, and says so; the server's data folder is asked
// of a superuser.
func TestPostgresPlanAsNonSuperuser(t *testing.T) {
	for _, super := range []bool{true, false} {
		f := &fakeExec{handler: pgServerAs(super, []string{"appdb"}, nil)}
		plan, err := postgres{}.Plan(context.Background(), f, Target{Service: "db", ContainerID: "c1", Env: []string{"POSTGRES_USER=app", "POSTGRES_PASSWORD=" + pgPassword}})
		if err != nil {
			t.Fatal(err)
		}
		var kinds []string
		for _, j := range plan.Jobs {
			kinds = append(kinds, j.Kind)
		}
		if super {
			if !reflect.DeepEqual(kinds, []string{"globals", "database"}) || plan.DataDir != "/srv/pg" || len(plan.Notes) != 0 {
				t.Errorf("superuser: jobs %v, data dir %q, notes %q", kinds, plan.DataDir, plan.Notes)
			}
			continue
		}
		if !reflect.DeepEqual(kinds, []string{"database"}) || len(plan.Notes) != 1 || !strings.Contains(plan.Notes[0], "without the roles") {
			t.Errorf("non-superuser: jobs %v, notes %q", kinds, plan.Notes)
		}
	}
}
