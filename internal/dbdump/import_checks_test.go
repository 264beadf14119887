package dbdump

import (
	"context"
	"errors"
	"fmt"

	"slices"
	"strings"
	"testing"

	"github.com/docker-backup/docker-backup/internal/portable"
)

func oneTable(table string, cols ...string) *portable.Schema {
	t := portable.Table{Name: table}
	for _, c := range cols {
		t.Columns = append(t.Columns, portable.Column{Name: c, Kind: portable.Text, Type: "text"})
	}
	return &portable.Schema{Tables: []portable.Table{t}}
}

// A name the server would cut or refuses is refused before the load, with
// the table, the limit and what to do.
func TestImportRefusesNamesTheServerWouldChange(t *testing.T) {
	long := strings.Repeat("n", 64)
	longUTF8 := strings.Repeat("é", 32) // 32 characters, 64 bytes
	for _, tc := range []struct {
		s       *portable.Schema
		pg, my  error
		pgMsg   string
		myMsg   string
		noError bool
	}{
		{s: oneTable(long, "a"), pg: ErrNameTooLong, my: nil, pgMsg: `table "` + long + `" is 64 bytes, PostgreSQL keeps 63 of a name`},
		{s: oneTable("t", long+"x"), pg: ErrNameTooLong, my: ErrNameTooLong, pgMsg: `column "` + long + `x" of table "t" is 65 bytes`, myMsg: "is 65 characters, MySQL allows 64"},
		{s: oneTable(longUTF8, "a"), pg: ErrNameTooLong, my: nil, pgMsg: "rename it in the source to at most 63 bytes and export again"},
		{s: oneTable(strings.Repeat("é", 65), "a"), pg: ErrNameTooLong, my: ErrNameTooLong, myMsg: "is 65 characters"},
		{s: oneTable("t", "a\x00b"), pg: ErrBadName, my: ErrBadName, pgMsg: "holds a NUL byte"},
		{s: oneTable("", "a"), pg: ErrBadName, my: ErrBadName, pgMsg: "empty name"},
		{s: oneTable("t\xff", "a"), pg: ErrBadName, my: ErrBadName, pgMsg: "not valid UTF-8"},
		{s: oneTable("t ", "a"), pg: nil, my: ErrBadName, myMsg: "ends with a space"},
		{s: oneTable("t😀", "a"), pg: nil, my: ErrBadName, myMsg: "U+1F600"},
		// A newline is a character like any other, quoted.
		{s: oneTable("new\nline", "col\numn"), pg: nil, my: nil},
		{s: oneTable(strings.Repeat("n", 63), strings.Repeat("c", 63)), pg: nil, my: nil},
	} {
		_, err := pgImportPlan(tc.s)
		if !errors.Is(err, tc.pg) || (tc.pg == nil) != (err == nil) || err != nil && !strings.Contains(err.Error(), tc.pgMsg) {
			t.Errorf("PostgreSQL, table %q: %v, want %v (%s)", tc.s.Tables[0].Name, err, tc.pg, tc.pgMsg)
		}
		_, err = myTarget{flavor: "MariaDB", ver: []int{10, 11}}.importPlan(tc.s)
		if !errors.Is(err, tc.my) || (tc.my == nil) != (err == nil) || err != nil && !strings.Contains(err.Error(), tc.myMsg) {
			t.Errorf("MySQL, table %q: %v, want %v (%s)", tc.s.Tables[0].Name, err, tc.my, tc.myMsg)
		}
	}
	// Labels and defaults PostgreSQL text cannot hold.
	s := oneTable("t", "a")
	s.Tables[0].Columns[0].Default = strPtr("a\x00b")
	if _, err := pgImportPlan(s); !errors.Is(err, ErrBadValue) {
		t.Errorf("a NUL in a default: %v", err)
	}
	s.Tables[0].Columns[0] = portable.Column{Name: "e", Kind: portable.Enum, Type: "mood", Labels: []string{"ok", "x\x00"}}
	if _, err := pgImportPlan(s); !errors.Is(err, ErrBadValue) {
		t.Errorf("a NUL in a label: %v", err)
	}
}

// The counts read back a table whose name holds a newline or a "|".
func TestPgCountsReadAnyName(t *testing.T) {
	out := `"public.plain"|3` + "\n" + `"public.new\nline"|5` + "\n" + `"public.pipe|d"|7` + "\n" + `"public.t\"q\\\\"|0` + "\n"
	got, err := pgParseCounts(out)
	want := []TableCount{{"public.plain", 3}, {"public.new\nline", 5}, {"public.pipe|d", 7}, {`public.t"q\\`, 0}}
	if err != nil || !slices.Equal(got, want) {
		t.Errorf("got %+v, %v", got, err)
	}
	if _, err := pgParseCounts("public.x|3\n"); err == nil {
		t.Error("a line without a JSON name was read")
	}
}

// The query that prints them asks for JSON names, which hold no newline.
func TestPgCountAsksForJSONNames(t *testing.T) {
	var query string
	x := &fakeExec{handler: func(cmd, env []string) reply {
		return reply{stdout: `"public.new\nline"|2` + "\n"}
	}}
	sess := session{x: x, id: "c1"}
	got, err := pgCount(context.Background(), sess, "db")
	if calls := x.recorded(); len(calls) == 1 {
		query = calls[0].stdin
	}
	if err != nil || len(got) != 1 || got[0].Table != "public.new\nline" || got[0].Rows != 2 {
		t.Errorf("counts %+v, %v", got, err)
	}
	if !strings.HasPrefix(query, pgSessionSQL) || !strings.Contains(query, "to_json(%L::text)") {
		t.Errorf("count query %q", query)
	}
}

// manyTables is n tables of a text column and a primary key: each locks
// itself, its TOAST table and index and its key.
func manyTables(n int) *portable.Schema {
	s := &portable.Schema{}
	for i := 0; i < n; i++ {
		s.Tables = append(s.Tables, portable.Table{
			Name:       fmt.Sprintf("t%d", i),
			Columns:    []portable.Column{{Name: "id", Kind: portable.Integer, Size: 8}, {Name: "v", Kind: portable.Text}},
			PrimaryKey: []string{"id"},
		})
	}
	return s
}

func TestPgLockEstimate(t *testing.T) {
	// As counted in pg_locks on PostgreSQL 15: a table with a text
	// column, an identity, a primary key and an index locks 6 objects;
	// one of fixed-width columns 1.
	s := &portable.Schema{Meta: portable.Meta{Engine: Postgres}, Tables: []portable.Table{
		{Name: "a", Columns: []portable.Column{
			{Name: "id", Kind: portable.Integer, Type: "bigint", Size: 8, AutoIncrement: true},
			{Name: "name", Kind: portable.Text, Type: "text"},
			{Name: "n", Kind: portable.Integer, Type: "integer", Size: 4},
		}, PrimaryKey: []string{"id"}, Indexes: []portable.Index{{Name: "a_n", Columns: []string{"n"}}}},
		{Name: "b", Columns: []portable.Column{
			{Name: "id", Kind: portable.Integer, Type: "bigint", Size: 8},
			{Name: "e", Kind: portable.Enum, Type: "t1_e", Labels: []string{"x"}},
			{Name: "v", Kind: portable.Text, Type: "character varying(40)", Length: 40},
		}},
		{Name: "c", Columns: []portable.Column{{Name: "v", Kind: portable.Text, Type: "character varying(600)", Length: 600}}},
	}}
	plan, err := pgImportPlan(s)
	if err != nil {
		t.Fatal(err)
	}
	if got := plan.locks() - pgLockSlack; got != 6+1+3 {
		t.Errorf("%d locks, want 10 (types %q)", got, plan.types)
	}
}

// Tables by the thousand need more locks than a default server's lock
// table holds: refused up front, naming the setting and the value needed.
func TestPgRefusesMoreLocksThanTheServerHas(t *testing.T) {
	defaults := "64 100 3 8 10 0\n"
	plan, err := pgImportPlan(manyTables(10000))
	if err != nil {
		t.Fatal(err)
	}
	err = pgCheckLocks(plan.locks(), defaults)
	if !errors.Is(err, ErrTooManyLocks) || !strings.Contains(err.Error(), "locks about 40064 tables, indexes and sequences") ||
		!strings.Contains(err.Error(), "holds 7808 (max_locks_per_transaction 64 for each of 122 server processes") ||
		!strings.Contains(err.Error(), "set max_locks_per_transaction to at least 362") {
		t.Errorf("10000 tables: %v", err)
	}
	plan, _ = pgImportPlan(manyTables(1000))
	if err := pgCheckLocks(plan.locks(), defaults); err != nil {
		t.Errorf("1000 tables: %v", err)
	}
	if err := pgCheckLocks(10, "x"); err == nil {
		t.Error("unreadable settings passed")
	}
}

// pgPortableFake answers what the PostgreSQL side of an import asks.
func pgPortableFake(settings string) *fakeExec {
	return &fakeExec{handler: func(cmd, env []string) reply {
		last := cmd[len(cmd)-1]
		switch {
		case cmd[0] == "id":
			return reply{stdout: "postgres\n"}
		case last == "SHOW server_version":
			return reply{stdout: "15.18\n"}
		case last == pgLockSettings:
			return reply{stdout: settings}
		case cmd[0] == "psql":
			return reply{}
		}
		return reply{code: 127}
	}}
}

func TestPgCheckImport(t *testing.T) {
	x := pgPortableFake("10 20 1 0 0 0\n")
	p, err := pgPortable(context.Background(), x, Target{Service: "db", ContainerID: "c1", Env: []string{"POSTGRES_PASSWORD=pw"}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := p.CheckImport(ctx, "db", manyTables(10)); err != nil {
		t.Errorf("10 tables: %v", err)
	}
	if err := p.CheckImport(ctx, "db", manyTables(100)); !errors.Is(err, ErrTooManyLocks) || !strings.Contains(err.Error(), "service db") {
		t.Errorf("100 tables into 220 locks: %v", err)
	}
	if err := p.CheckImport(ctx, strings.Repeat("d", 64), manyTables(1)); !errors.Is(err, ErrNameTooLong) {
		t.Errorf("a long database name: %v", err)
	}
	// Nothing but reading: no load, no CREATE DATABASE.
	for _, c := range x.recorded() {
		if slices.Contains(c.cmd, "-f") || strings.Contains(strings.Join(c.cmd, " "), "CREATE") {
			t.Errorf("the check ran %q", c.cmd)
		}
	}
}

// The load is one transaction the script begins and commits itself: a
// script cut short (the file's rows fail, docker-backup dies) ends
// without COMMIT, and the server rolls it back, where psql's
// --single-transaction would commit what it had read.
func TestPgImportScriptCommitsOnlyWhenComplete(t *testing.T) {
	plan, err := pgImportPlan(oneTable("t", "a"))
	if err != nil {
		t.Fatal(err)
	}
	rows := func(ctx context.Context, tb *portable.Table, fn func([]any) error) error { return fn([]any{"x"}) }
	var out strings.Builder
	if err := plan.write(context.Background(), &out, "", rows); err != nil {
		t.Fatal(err)
	}
	script := out.String()
	if !strings.HasPrefix(script, pgSessionSQL) || !strings.Contains(script, "\nBEGIN;\n") || !strings.HasSuffix(script, "\nCOMMIT;\n") {
		t.Errorf("script:\n%s", script)
	}
	out.Reset()
	bad := func(ctx context.Context, tb *portable.Table, fn func([]any) error) error {
		if err := fn([]any{"x"}); err != nil {
			return err
		}
		return fn([]any{"a\x00b"})
	}
	if err := plan.write(context.Background(), &out, "", bad); err == nil || strings.Contains(out.String(), "COMMIT") {
		t.Errorf("a failed write: %v\n%s", err, out.String())
	}
	// psql runs it without --single-transaction.
	x := pgPortableFake("64 100 3 8 10 0\n")
	p, err := pgPortable(context.Background(), x, Target{Service: "db", ContainerID: "c1", Env: []string{"POSTGRES_PASSWORD=pw"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Load(context.Background(), "db", oneTable("t", "a"), false, rows); err != nil {
		t.Fatal(err)
	}
	for _, c := range x.recorded() {
		if slices.Contains(c.cmd, "-f") && (slices.Contains(c.cmd, "--single-transaction") || !strings.HasSuffix(c.stdin, "COMMIT;\n")) {
			t.Errorf("load %q:\n%s", c.cmd, c.stdin)
		}
	}
}

// A restore counts a MySQL database's rows as an import does: the names
// come escaped in the client's batch output, so one with a newline or a
// tab reads back whole, and the count statements quote them.
func TestMySQLServerCountsAnyName(t *testing.T) {
	s := myFakeServer{version: "10.11.6-MariaDB", script: func(cmd []string, stdin string) reply {
		switch {
		case strings.Contains(stdin, "SCHEMA_NAME = 'shop'"):
			return reply{stdout: "db\n" + myOut("table", "new\nline") + myOut("table", "a\tb")}
		case strings.Contains(stdin, "SELECT COUNT(*) FROM `shop`.`a\tb`;\nSELECT COUNT(*) FROM `shop`.`new\nline`;"):
			return reply{stdout: "3\n4\n"}
		case stdin == "":
			return reply{} // the -e probes
		}
		return reply{code: 1, stderr: "ERROR 1064 (42000): unexpected " + stdin}
	}}
	srv, err := Connect(context.Background(), s.exec(), MySQL, Target{Service: "db", ContainerID: "c1", Env: []string{"MARIADB_ROOT_PASSWORD=" + myPassword}})
	if err != nil {
		t.Fatal(err)
	}
	got, err := srv.Tables(context.Background(), "shop")
	if want := []TableCount{{"shop.a\tb", 3}, {"shop.new\nline", 4}}; err != nil || !slices.Equal(got, want) {
		t.Errorf("counts %+v, %v", got, err)
	}
}
