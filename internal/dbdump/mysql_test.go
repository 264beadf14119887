package dbdump

import (
	"context"
	"io"
	"reflect"
	"strings"
	"testing"
)

const myPassword = "my-R00t'pw$"

// mysqlServer answers the client, the dump tool and the shell probes.
type mysqlServer struct {
	version   string // SELECT VERSION()
	client    string // paths `command -v` finds
	dumper    string
	dbs       []string
	tables    []string // db.table
	users     []string
	dumpFails map[string]reply // by database
}

func (s mysqlServer) handle(cmd, env []string) reply {
	switch {
	case cmd[0] == "sh" && len(cmd) == 3 && strings.Contains(cmd[2], "command -v"):
		var found []string
		for _, p := range []string{s.client, s.dumper} {
			if p != "" {
				found = append(found, p)
			}
		}
		if len(found) < 2 {
			return reply{stdout: strings.Join(found, "\n"), code: 1}
		}
		return reply{stdout: strings.Join(found, "\n") + "\n"}
	case cmd[0] == "cat" && cmd[2] == "/run/secrets/root":
		return reply{stdout: myPassword + "\n"}
	case cmd[0] == s.client:
		sql := cmd[len(cmd)-1]
		switch {
		case sql == "SELECT VERSION()":
			return reply{stdout: s.version + "\n"}
		case sql == "SHOW DATABASES":
			return reply{stdout: strings.Join(s.dbs, "\n") + "\n"}
		case strings.Contains(sql, "information_schema.tables"):
			return reply{stdout: strings.Join(s.tables, "\n") + "\n"}
		// The users' names come QUOTE()d, with backslashes: the listing
		// and the statements that use them run without
		// NO_BACKSLASH_ESCAPES.
		case strings.HasPrefix(sql, mySession) && strings.Contains(sql, "FROM mysql.user"):
			return reply{stdout: strings.Join(s.users, "\n") + "\n"}
		case strings.HasPrefix(sql, mySession+"SHOW CREATE USER"):
			return reply{stdout: "CREATE USER 'app'@'%'\nGRANT USAGE ON *.* TO 'app'@'%'\n"}
		}
		return reply{code: 1, stderr: "ERROR 1064 (42000): unexpected query"}
	case cmd[0] == s.dumper && hasArg(cmd, "--version"):
		return reply{stdout: s.dumper + "  Ver 10.19 Distrib 11.4.2-MariaDB\n"}
	case cmd[0] == s.dumper && hasArg(cmd, "--system=users"):
		return reply{stdout: "CREATE USER app;\n"}
	case cmd[0] == s.dumper:
		// As the tool's option parser: a word starting with "-" is an
		// option unless it comes after "--".
		opts, args := getopt(cmd[1:])
		for _, o := range opts {
			if !knownDumpOption(o) {
				return reply{code: 2, stderr: "mariadb-dump: unknown option '" + o + "'"}
			}
		}
		if hasArg(cmd, "--no-data") {
			return reply{stdout: "-- structure of " + strings.Join(args[1:], ",") + "\n"}
		}
		db := args[0]
		if r, ok := s.dumpFails[db]; ok {
			return r
		}
		return reply{stdout: "-- data of " + db + "\n"}
	}
	return reply{code: 127, stderr: cmd[0] + ": not found"}
}

// getopt splits arguments as my_getopt does: options, then the words that
// are not options (all of them after "--").
func getopt(args []string) (opts, rest []string) {
	for i, a := range args {
		switch {
		case a == "--":
			return opts, append(rest, args[i+1:]...)
		case strings.HasPrefix(a, "-"):
			opts = append(opts, a)
		default:
			rest = append(rest, a)
		}
	}
	return opts, rest
}

func knownDumpOption(o string) bool {
	name, _, _ := strings.Cut(o, "=")
	switch name {
	case "--user", "--single-transaction", "--quick", "--routines", "--triggers", "--events", "--hex-blob",
		"--default-character-set", "--max-allowed-packet", "--databases", "--ignore-table", "--no-data", "--no-create-db":
		return true
	}
	return false
}

// uniq drops repeated strings, keeping the first.
func uniq(list []string) []string {
	var out []string
	for _, s := range list {
		if !hasArg(out, s) {
			out = append(out, s)
		}
	}
	return out
}

func TestMySQLPlanMariaDB(t *testing.T) {
	srv := mysqlServer{
		version: "11.4.2-MariaDB-ubu2404",
		client:  "/usr/bin/mariadb", dumper: "/usr/bin/mariadb-dump",
		dbs: []string{"information_schema", "app", "mysql", "performance_schema", "sys", "shop"},
		tables: []string{
			"app.sessions", "app.users", "app.audit_log", "app.audit_2024", "app.cache",
			"shop.orders", "shop.cache", "shop.sessions",
		},
	}
	x := &fakeExec{handler: srv.handle}
	target := Target{
		Service: "db", ContainerID: "c1",
		Env:              []string{"MARIADB_ROOT_PASSWORD_FILE=/run/secrets/root", "MARIADB_DATABASE=app"},
		ExcludeTable:     []string{"sessions", "app.audit_*"},
		ExcludeTableData: []string{"*.cache", "app.audit_log"},
	}
	plan, err := For(MySQL).Plan(context.Background(), x, target)
	if err != nil {
		t.Fatal(err)
	}
	if plan.Engine != MySQL || plan.Flavor != "MariaDB" || plan.Version != "11.4.2-MariaDB-ubu2404" || len(plan.Notes) != 0 {
		t.Errorf("plan %+v", plan)
	}
	var paths []string
	for _, j := range plan.Jobs {
		paths = append(paths, j.Path)
		if j.Format != "sql" || !strings.Contains(j.Tool, "Ver 10.19") {
			t.Errorf("%s: %+v", j.Path, j.Dump)
		}
	}
	if want := []string{"databases/db/users.sql", "databases/db/app.sql", "databases/db/shop.sql"}; !reflect.DeepEqual(paths, want) {
		t.Fatalf("paths %v, want %v (system schemas left out)", paths, want)
	}
	if plan.Jobs[0].Kind != "globals" || plan.Jobs[1].Kind != "database" || plan.Jobs[1].Database != "app" {
		t.Errorf("jobs %+v", plan.Jobs)
	}
	for _, c := range x.recorded() {
		if c.cmd[0] == srv.dumper && !hasArg(c.cmd, "--version") {
			t.Errorf("dump ran while planning: %q", c.cmd)
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
	if got := outs["databases/db/app.sql"]; got != "-- data of app\n-- structure of cache\n" {
		t.Errorf("app.sql = %q: want the data pass then the structure pass", got)
	}
	if got := outs["databases/db/shop.sql"]; got != "-- data of shop\n-- structure of cache\n" {
		t.Errorf("shop.sql = %q", got)
	}
	if got := outs["databases/db/users.sql"]; got != "CREATE USER app;\n" {
		t.Errorf("users.sql = %q", got)
	}

	var users, mains, structures [][]string
	for _, c := range x.callsOf(srv.dumper) {
		switch {
		case hasArg(c.cmd, "--version"):
		case hasArg(c.cmd, "--system=users"):
			users = append(users, c.cmd)
		case hasArg(c.cmd, "--no-data"):
			structures = append(structures, c.cmd)
		default:
			mains = append(mains, c.cmd)
		}
	}
	if len(users) != 1 || !hasArg(users[0], "--user=root") {
		t.Errorf("users dumps %q", users)
	}
	if len(mains) != 2 || len(structures) != 2 {
		t.Fatalf("main dumps %q, structure dumps %q", mains, structures)
	}
	for _, cmd := range append(mains, structures...) {
		for _, flag := range []string{"--user=root", "--single-transaction", "--routines", "--triggers", "--events", "--hex-blob"} {
			if !hasArg(cmd, flag) {
				t.Errorf("%q lacks %s", cmd, flag)
			}
		}
	}
	wantIgnore := map[string][]string{
		"app":  {"--ignore-table=app.sessions", "--ignore-table=app.audit_log", "--ignore-table=app.audit_2024", "--ignore-table=app.cache"},
		"shop": {"--ignore-table=shop.sessions", "--ignore-table=shop.cache"},
	}
	for _, cmd := range mains {
		_, db := getopt(cmd[1:])
		if len(db) == 0 || !hasArg(cmd, "--databases") {
			t.Fatalf("no --databases in %q", cmd)
		}
		if got := uniq(argsWithPrefix(cmd, "--ignore-table=")); !reflect.DeepEqual(got, wantIgnore[db[0]]) {
			t.Errorf("%s: %v, want %v", db[0], got, wantIgnore[db[0]])
		}
	}
	wantStructure := map[string][]string{"app": {"cache"}, "shop": {"cache"}}
	for _, cmd := range structures {
		_, rest := getopt(cmd[1:])
		if len(rest) < 2 || !reflect.DeepEqual(rest[1:], wantStructure[rest[0]]) {
			t.Errorf("structure pass %q", cmd)
		}
		if hasArg(cmd, "--databases") {
			t.Errorf("structure pass with --databases: %q", cmd)
		}
	}

	assertSecretOnlyInEnv(t, x, myPassword, "MYSQL_PWD")
	for _, c := range x.recorded() {
		if c.cmd[0] == srv.client || (c.cmd[0] == srv.dumper && !hasArg(c.cmd, "--version")) {
			if !reflect.DeepEqual(c.env, []string{"MYSQL_PWD=" + myPassword}) {
				t.Errorf("%q env %q", c.cmd, c.env)
			}
		}
	}
}

func TestMySQLPlanMySQL(t *testing.T) {
	srv := mysqlServer{
		version: "8.4.0",
		client:  "/usr/bin/mysql", dumper: "/usr/bin/mysqldump",
		dbs:   []string{"information_schema", "mysql", "performance_schema", "sys", "shop"},
		users: []string{"'app'@'%'", "'report'@'localhost'"},
	}
	x := &fakeExec{handler: srv.handle}
	plan, err := For(MySQL).Plan(context.Background(), x, Target{Service: "db", ContainerID: "c1", Env: []string{"MYSQL_ROOT_PASSWORD=" + myPassword}})
	if err != nil {
		t.Fatal(err)
	}
	if plan.Flavor != "MySQL" || plan.Version != "8.4.0" {
		t.Errorf("plan %+v", plan)
	}
	if len(plan.Jobs) != 2 || plan.Jobs[0].Path != "databases/db/users.sql" || plan.Jobs[1].Path != "databases/db/shop.sql" {
		t.Fatalf("jobs %+v", plan.Jobs)
	}
	for _, j := range plan.Jobs {
		out, err := readJob(t, j)
		if err != nil {
			t.Fatalf("%s: %v", j.Path, err)
		}
		// SHOW CREATE USER and SHOW GRANTS print bare statements.
		if want := "CREATE USER 'app'@'%';\nGRANT USAGE ON *.* TO 'app'@'%';\n"; j.Kind == "globals" && out != want {
			t.Errorf("users.sql = %q, want %q", out, want)
		}
	}
	// No exclusions: the tables are never listed.
	for _, c := range x.callsOf(srv.client) {
		if strings.Contains(c.cmd[len(c.cmd)-1], "information_schema.tables") {
			t.Errorf("tables listed without filters")
		}
	}
	var shell []execCall
	for _, c := range x.callsOf(srv.client) {
		if strings.HasPrefix(c.cmd[len(c.cmd)-1], mySession+"SHOW CREATE USER") {
			shell = append(shell, c)
		}
	}
	if len(shell) != 1 {
		t.Fatalf("users job calls %+v", shell)
	}
	sql := shell[0].cmd[len(shell[0].cmd)-1]
	for _, u := range srv.users {
		if !strings.Contains(sql, "SHOW CREATE USER "+u) || !strings.Contains(sql, "SHOW GRANTS FOR "+u) {
			t.Errorf("users SQL %q lacks %s", sql, u)
		}
	}
	if shell[0].cmd[1] != "--user=root" {
		t.Errorf("users job %q", shell[0].cmd)
	}
	for _, c := range x.callsOf(srv.dumper) {
		if hasArg(c.cmd, "--system=users") {
			t.Errorf("MySQL has no --system=users: %q", c.cmd)
		}
	}
	assertSecretOnlyInEnv(t, x, myPassword, "MYSQL_PWD")
}

func TestMySQLPlanAppUser(t *testing.T) {
	srv := mysqlServer{version: "8.0.36", client: "/usr/bin/mysql", dumper: "/usr/bin/mysqldump", dbs: []string{"information_schema", "app"}}
	x := &fakeExec{handler: srv.handle}
	plan, err := For(MySQL).Plan(context.Background(), x, Target{Service: "db", ContainerID: "c1", Env: []string{"MYSQL_USER=app", "MYSQL_PASSWORD=" + myPassword}})
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.Notes) != 1 || !strings.Contains(plan.Notes[0], "without users and grants") {
		t.Errorf("notes %q", plan.Notes)
	}
	if len(plan.Jobs) != 1 || plan.Jobs[0].Path != "databases/db/app.sql" {
		t.Fatalf("jobs %+v: no users dump without root", plan.Jobs)
	}
	if _, err := readJob(t, plan.Jobs[0]); err != nil {
		t.Fatal(err)
	}
	for _, c := range x.callsOf(srv.dumper) {
		if !hasArg(c.cmd, "--version") && !hasArg(c.cmd, "--user=app") {
			t.Errorf("%q not as app", c.cmd)
		}
	}
	assertSecretOnlyInEnv(t, x, myPassword, "MYSQL_PWD")
}

func TestMySQLPlanEmptyRootPassword(t *testing.T) {
	srv := mysqlServer{version: "11.4.2-MariaDB", client: "/usr/bin/mariadb", dumper: "/usr/bin/mariadb-dump", dbs: []string{"app"}}
	x := &fakeExec{handler: srv.handle}
	plan, err := For(MySQL).Plan(context.Background(), x, Target{Service: "db", ContainerID: "c1", Env: []string{"MARIADB_ALLOW_EMPTY_ROOT_PASSWORD=yes"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, j := range plan.Jobs {
		readJob(t, j)
	}
	for _, c := range x.recorded() {
		for _, e := range c.env {
			if strings.HasPrefix(e, "MYSQL_PWD") {
				t.Errorf("%q: empty password passed as %q", c.cmd, e)
			}
		}
	}
}

func TestMySQLDumpFails(t *testing.T) {
	srv := mysqlServer{
		version: "8.4.0", client: "/usr/bin/mysql", dumper: "/usr/bin/mysqldump",
		dbs: []string{"app", "broken"},
		dumpFails: map[string]reply{"broken": {
			stdout: "-- partial", code: 2,
			stderr: "mysqldump: Got error: 1044: \"Access denied for user 'root'@'localhost' to database 'broken'\" when selecting the database\n",
		}},
	}
	x := &fakeExec{handler: srv.handle}
	plan, err := For(MySQL).Plan(context.Background(), x, Target{Service: "db", ContainerID: "c1", Env: []string{"MYSQL_ROOT_PASSWORD=" + myPassword}})
	if err != nil {
		t.Fatal(err)
	}
	var broken *Job
	for i := range plan.Jobs {
		if plan.Jobs[i].Database == "broken" {
			broken = &plan.Jobs[i]
		}
	}
	if broken == nil {
		t.Fatalf("jobs %+v", plan.Jobs)
	}
	_, err = readJob(t, *broken)
	if err == nil {
		t.Fatal("a failed dump read without error")
	}
	for _, want := range []string{"mysqldump", "exit code 2", "Access denied for user 'root'@'localhost' to database 'broken'"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if strings.Contains(err.Error(), myPassword) || strings.Contains(err.Error(), "--single-transaction") {
		t.Errorf("error %q shows the command line or the password", err)
	}
}

func TestMySQLDumpFailsInStructurePass(t *testing.T) {
	srv := mysqlServer{version: "8.4.0", client: "/usr/bin/mysql", dumper: "/usr/bin/mysqldump", dbs: []string{"app"}, tables: []string{"app.big"}}
	x := &fakeExec{handler: func(cmd, env []string) reply {
		if cmd[0] == srv.dumper && hasArg(cmd, "--no-data") {
			return reply{code: 3, stderr: "mysqldump: Couldn't find table: \"big\""}
		}
		return srv.handle(cmd, env)
	}}
	plan, err := For(MySQL).Plan(context.Background(), x, Target{Service: "db", ContainerID: "c1", Env: []string{"MYSQL_ROOT_PASSWORD=x1"}, ExcludeTableData: []string{"app.big"}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = readJob(t, plan.Jobs[len(plan.Jobs)-1])
	if err == nil || !strings.Contains(err.Error(), "exit code 3") || !strings.Contains(err.Error(), `Couldn't find table: "big"`) {
		t.Errorf("err = %v", err)
	}
}

func TestMySQLPlanErrors(t *testing.T) {
	tests := []struct {
		desc string
		srv  mysqlServer
		env  []string
		want string
	}{
		{desc: "no credentials", srv: mysqlServer{client: "/usr/bin/mysql", dumper: "/usr/bin/mysqldump"}, env: nil, want: "no credentials"},
		{desc: "no dump tool", srv: mysqlServer{client: "/usr/bin/mysql"}, env: []string{"MYSQL_ROOT_PASSWORD=x1"}, want: "no mysql/mariadb client and dump tool"},
		{desc: "cannot connect", srv: mysqlServer{client: "/usr/bin/mysql", dumper: "/usr/bin/mysqldump"}, env: []string{"MYSQL_ROOT_PASSWORD=x1"}, want: "cannot connect"},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			srv := tt.srv
			x := &fakeExec{handler: func(cmd, env []string) reply {
				if cmd[0] == srv.client && cmd[len(cmd)-1] == "SELECT VERSION()" && tt.desc == "cannot connect" {
					return reply{code: 1, stderr: "ERROR 1045 (28000): Access denied for user 'root'@'localhost' (using password: YES)"}
				}
				return srv.handle(cmd, env)
			}}
			_, err := For(MySQL).Plan(context.Background(), x, Target{Service: "db", ContainerID: "c1", Env: tt.env})
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "db") {
				t.Errorf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestMySQLDatabaseNamedUsers(t *testing.T) {
	// A database named users must not take the users dump's file.
	srv := mysqlServer{version: "11.4.2-MariaDB", client: "/usr/bin/mariadb", dumper: "/usr/bin/mariadb-dump", dbs: []string{"users", "Users"}}
	x := &fakeExec{handler: srv.handle}
	plan, err := For(MySQL).Plan(context.Background(), x, Target{Service: "db", ContainerID: "c1", Env: []string{"MARIADB_ROOT_PASSWORD=x1"}})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, j := range plan.Jobs {
		if seen[j.Path] {
			t.Errorf("two dumps at %s", j.Path)
		}
		seen[j.Path] = true
	}
	if !seen["databases/db/users.sql"] || !seen["databases/db/%75sers.sql"] || !seen["databases/db/Users.sql"] {
		t.Errorf("paths %v", seen)
	}
}

func TestMySQLMatches(t *testing.T) {
	tables := []string{"app.users", "app.sessions", "app.session_log", "shop.sessions", "shop.orders"}
	tests := []struct {
		db       string
		patterns []string
		want     []string
	}{
		{"app", []string{"sessions"}, []string{"sessions"}},
		{"app", []string{"*.session*"}, []string{"sessions", "session_log"}},
		{"app", []string{"sessions", "app.sessions"}, []string{"sessions"}},
		{"shop", []string{"app.*"}, nil},
		{"shop", []string{"s?op.*"}, []string{"sessions", "orders"}},
		{"app", []string{"missing"}, nil},
		{"app", nil, nil},
	}
	for _, tt := range tests {
		got, err := mysqlMatches(tt.db, tables, tt.patterns)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("mysqlMatches(%s, %v) = %v, want %v", tt.db, tt.patterns, got, tt.want)
		}
	}
	if _, err := mysqlMatches("app", tables, []string{"a.b.c"}); err == nil {
		t.Error("db.schema.table accepted for MySQL")
	}
}

// Names starting with "-" are names, not options: a database named -dash
// used to make every backup of the project fail ("unknown option '-s'").
func TestMySQLNamesStartingWithADash(t *testing.T) {
	srv := mysqlServer{
		version: "11.4.2-MariaDB", client: "/usr/bin/mariadb", dumper: "/usr/bin/mariadb-dump",
		dbs:    []string{"-dash", "shop"},
		tables: []string{"-dash.-log", "-dash.items", "shop.-tmp"},
	}
	x := &fakeExec{handler: srv.handle}
	plan, err := mysql{}.Plan(context.Background(), x, Target{
		Service: "db", ContainerID: "c1", Env: []string{"MARIADB_ROOT_PASSWORD=pw"},
		ExcludeTableData: []string{"*.-*"},
	})
	if err != nil {
		t.Fatal(err)
	}
	outs := map[string]string{}
	for _, job := range plan.Jobs {
		b, err := io.ReadAll(job.Open(context.Background()))
		if err != nil {
			t.Fatalf("%s: %v", job.Path, err)
		}
		outs[job.Database] = string(b)
	}
	if got := outs["-dash"]; got != "-- data of -dash\n-- structure of -log\n" {
		t.Errorf("-dash: %q", got)
	}
	if got := outs["shop"]; got != "-- data of shop\n-- structure of -tmp\n" {
		t.Errorf("shop: %q", got)
	}
}
