package portable

import (
	"context"
	"database/sql"
	"errors"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func str(s string) *string { return &s }

func testSchema() *Schema {
	return &Schema{
		Meta: Meta{Engine: "postgres", Flavor: "PostgreSQL", Version: "15.18", Database: "shop", Created: "2026-12-02T00:00:00Z", Format: FormatVersion},
		Tables: []Table{
			{
				Name: "customers",
				Columns: []Column{
					{Name: "id", Kind: Integer, Type: "bigint", NotNull: true, AutoIncrement: true, Size: 8},
					{Name: "email", Kind: Text, Type: "character varying(200)", NotNull: true, Length: 200},
					{Name: "vip", Kind: Boolean, Type: "boolean", Default: str("0")},
					{Name: "balance", Kind: Decimal, Type: "numeric(30,10)", Precision: 30, Scale: 10, Default: str("0.0000000000")},
					{Name: "created", Kind: TimestampTZ, Type: "timestamp with time zone", DefaultNow: true},
					{Name: "mood", Kind: Enum, Type: "mood", Labels: []string{"sad", "ok", "happy"}},
					{Name: "photo", Kind: Binary, Type: "bytea"},
					{Name: "score", Kind: Float, Type: "double precision", Size: 8},
					{Name: "code", Kind: Text, Type: "text", Default: str("it's")},
				},
				PrimaryKey: []string{"id"},
				Indexes:    []Index{{Name: "customers_email_key", Unique: true, Columns: []string{"email"}}, {Name: "by_mood", Columns: []string{"mood", "vip"}}},
			},
			{
				Name: "orders",
				Columns: []Column{
					{Name: "customer", Kind: Integer, Type: "bigint", NotNull: true, Size: 8},
					{Name: "n", Kind: Integer, Type: "integer", NotNull: true, Size: 4},
					{Name: "parent_n", Kind: Integer, Type: "integer", Size: 4},
				},
				PrimaryKey:  []string{"customer", "n"},
				ForeignKeys: []ForeignKey{{Columns: []string{"customer"}, RefTable: "customers", RefColumns: []string{"id"}, OnDelete: "CASCADE", OnUpdate: "NO ACTION"}, {Columns: []string{"customer", "parent_n"}, RefTable: "orders", RefColumns: []string{"customer", "n"}, OnDelete: "SET NULL", OnUpdate: "NO ACTION"}},
				Indexes:     []Index{{Name: "by_mood", Columns: []string{"n"}}},
			},
		},
		Unmapped: []Unmapped{{Kind: "view", Name: "public.rich", Definition: "SELECT ...", Reason: "SQLite cannot hold it"}},
	}
}

func writeTestFile(t *testing.T, s *Schema, rows map[string][][]any) string {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "shop.sqlite")
	w, err := Create(ctx, path, s)
	if err != nil {
		t.Fatal(err)
	}
	for i := range s.Tables {
		tb := &s.Tables[i]
		for _, r := range rows[tb.Name] {
			if err := w.Insert(ctx, tb, append([]any(nil), r...)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("the file has its name before Commit: %v", err)
	}
	if err := w.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestRoundTripKeepsSchemaAndValues(t *testing.T) {
	ctx := context.Background()
	s := testSchema()
	rows := map[string][][]any{
		"customers": {
			{int64(1), "a@example.com", int64(1), "12345678901234567890.0123456789", "2024-03-01T13:45:00.5+00:00", "happy", []byte{0, 1, 2, 255}, 0.1, "x\ty\nz"},
			{int64(2), "ü@例え.jp", nil, nil, nil, nil, nil, math.NaN(), nil},
			{int64(3), "c@example.com", int64(0), "0", nil, "sad", []byte{}, math.Inf(-1), "NULL"},
		},
		"orders": {{int64(1), int64(1), nil}, {int64(1), int64(2), int64(1)}, {int64(3), int64(1), nil}},
	}
	path := writeTestFile(t, s, rows)
	r, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.Foreign {
		t.Error("our own export read as foreign")
	}
	if err := r.Check(ctx); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(r.Schema.Meta, s.Meta) {
		t.Errorf("meta %+v, want %+v", r.Schema.Meta, s.Meta)
	}
	if !reflect.DeepEqual(r.Schema.Unmapped, s.Unmapped) {
		t.Errorf("unmapped %+v", r.Schema.Unmapped)
	}
	for i, want := range s.Tables {
		got := r.Schema.Tables[i]
		if !reflect.DeepEqual(got.Columns, want.Columns) {
			t.Errorf("%s columns\n got %+v\nwant %+v", want.Name, got.Columns, want.Columns)
		}
		if !reflect.DeepEqual(got.PrimaryKey, want.PrimaryKey) || !reflect.DeepEqual(got.ForeignKeys, want.ForeignKeys) {
			t.Errorf("%s keys: %v %+v", want.Name, got.PrimaryKey, got.ForeignKeys)
		}
		if len(got.Indexes) != len(want.Indexes) {
			t.Fatalf("%s indexes %+v", want.Name, got.Indexes)
		}
		for j := range want.Indexes {
			if got.Indexes[j].Unique != want.Indexes[j].Unique || !reflect.DeepEqual(got.Indexes[j].Columns, want.Indexes[j].Columns) {
				t.Errorf("%s index %+v, want %+v", want.Name, got.Indexes[j], want.Indexes[j])
			}
		}
		var read [][]any
		if err := r.Rows(ctx, &got, func(row []any) error {
			read = append(read, append([]any(nil), row...))
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		exp := rows[want.Name]
		if len(read) != len(exp) {
			t.Fatalf("%s: %d rows", want.Name, len(read))
		}
		for k := range exp {
			for c := range exp[k] {
				g, w := read[k][c], exp[k][c]
				if f, ok := w.(float64); ok && math.IsNaN(f) {
					w = "NaN"
				}
				if f, ok := w.(float64); ok && math.IsInf(f, -1) {
					w = "-Infinity"
				}
				if !reflect.DeepEqual(g, w) {
					t.Errorf("%s row %d column %d: %#v, want %#v", want.Name, k, c, g, w)
				}
			}
		}
	}
	// The index names of two tables do not clash in SQLite's one namespace.
	if r.Schema.Tables[1].Indexes[0].Name == r.Schema.Tables[0].Indexes[1].Name {
		t.Errorf("two indexes named %s", r.Schema.Tables[1].Indexes[0].Name)
	}
}

func TestCommitRefusesBrokenForeignKeys(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "x.sqlite")
	s := testSchema()
	w, err := Create(ctx, path, s)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Insert(ctx, &s.Tables[1], []any{int64(9), int64(1), nil}); err != nil {
		t.Fatal(err)
	}
	err = w.Commit(ctx)
	if !errors.Is(err, ErrForeignKey) {
		t.Fatalf("commit: %v", err)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 0 {
		t.Errorf("left behind: %v", entries)
	}
}

func TestAbortLeavesNothing(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	w, err := Create(ctx, filepath.Join(dir, "x.sqlite"), testSchema())
	if err != nil {
		t.Fatal(err)
	}
	w.Abort()
	entries, _ := os.ReadDir(dir)
	if len(entries) != 0 {
		t.Errorf("left behind: %v", entries)
	}
}

func TestOpenRefusesWhatIsNotAnExport(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	notSQLite := filepath.Join(dir, "dump.sql")
	os.WriteFile(notSQLite, []byte("CREATE TABLE t (a int);\n"), 0o600)
	if _, err := Open(ctx, notSQLite); !errors.Is(err, ErrNotSQLite) {
		t.Errorf("a text file: %v", err)
	}
	path := writeTestFile(t, testSchema(), nil)
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("UPDATE " + metaTable + " SET value = '99' WHERE key = 'format'"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if _, err := Open(ctx, path); !errors.Is(err, ErrNewerFormat) {
		t.Errorf("a newer format: %v", err)
	}
}

func TestForeignFileKindsFromDeclaredTypes(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "app.db")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`CREATE TABLE users (id INTEGER PRIMARY KEY AUTOINCREMENT, name VARCHAR(40) NOT NULL DEFAULT 'anon', active BOOLEAN DEFAULT TRUE, born DATE, seen DATETIME DEFAULT CURRENT_TIMESTAMP, pic BLOB, w REAL, price DECIMAL(10,2), x, UNIQUE (name))`,
		`CREATE TABLE posts (id INTEGER PRIMARY KEY, author INTEGER REFERENCES users ON DELETE CASCADE, body TEXT DEFAULT (lower('X')))`,
		`CREATE INDEX posts_author ON posts (author)`,
		`CREATE INDEX posts_lower ON posts (lower(body))`,
		`CREATE VIEW v AS SELECT * FROM users`,
		`INSERT INTO users (name) VALUES ('a')`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(q, err)
		}
	}
	db.Close()
	r, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if !r.Foreign || len(r.Schema.Tables) != 2 {
		t.Fatalf("foreign %v, tables %+v", r.Foreign, r.Schema.Tables)
	}
	u := r.Schema.Tables[0]
	kinds := []Kind{Integer, Text, Boolean, Date, Timestamp, Binary, Float, Decimal, Text}
	for i, k := range kinds {
		if u.Columns[i].Kind != k {
			t.Errorf("column %s: kind %s, want %s", u.Columns[i].Name, u.Columns[i].Kind, k)
		}
	}
	if d := u.Columns[1].Default; d == nil || *d != "anon" {
		t.Errorf("default of name: %v", d)
	}
	if d := u.Columns[2].Default; d == nil || *d != "1" {
		t.Errorf("default of active: %v", d)
	}
	if !u.Columns[4].DefaultNow {
		t.Error("seen: no DefaultNow")
	}
	if len(u.Indexes) != 1 || !u.Indexes[0].Unique || u.Indexes[0].Columns[0] != "name" {
		t.Errorf("users indexes %+v", u.Indexes)
	}
	p := r.Schema.Tables[1]
	if len(p.ForeignKeys) != 1 || p.ForeignKeys[0].RefColumns[0] != "id" || p.ForeignKeys[0].OnDelete != "CASCADE" {
		t.Errorf("posts foreign keys %+v", p.ForeignKeys)
	}
	if p.Columns[2].DefaultExpr == "" || p.Columns[2].Default != nil {
		t.Errorf("an expression default is kept as a value: %+v", p.Columns[2])
	}
	if len(p.Indexes) != 1 || p.Indexes[0].Columns[0] != "author" {
		t.Errorf("posts indexes %+v", p.Indexes)
	}
	notes := strings.Join(r.Notes, "\n")
	if !strings.Contains(notes, "view v") || !strings.Contains(notes, "expression index posts_lower") {
		t.Errorf("notes %q", notes)
	}
}

func TestCreateRefusesNamesSQLiteConfuses(t *testing.T) {
	s := &Schema{Tables: []Table{{Name: "A", Columns: []Column{{Name: "x", Kind: Text}}}, {Name: "a", Columns: []Column{{Name: "x", Kind: Text}}}}}
	if _, err := Create(context.Background(), filepath.Join(t.TempDir(), "x.sqlite"), s); err == nil {
		t.Error("tables A and a accepted")
	}
}

// An unsigned 64-bit integer beyond int64 stays exact: INTEGER affinity
// would store it as a rounded REAL.
func TestUnsignedBigintKeepsEveryDigit(t *testing.T) {
	ctx := context.Background()
	s := &Schema{Meta: Meta{Engine: "mysql", Format: FormatVersion}, Tables: []Table{{Name: "t", Columns: []Column{
		{Name: "u", Kind: Integer, Type: "bigint(20) unsigned", Size: 8, Unsigned: true},
	}}}}
	path := writeTestFile(t, s, map[string][][]any{"t": {{"18446744073709551615"}, {"9223372036854775809"}, {int64(7)}}})
	r, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var got []any
	if err := r.Rows(ctx, &r.Schema.Tables[0], func(row []any) error { got = append(got, row[0]); return nil }); err != nil {
		t.Fatal(err)
	}
	want := []any{"18446744073709551615", "9223372036854775809", int64(7)}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %#v, want %#v", got, want)
	}
}

// The driver parses the text of DATE and DATETIME columns of files made
// elsewhere into times: they come back as the ISO 8601 text they hold.
func TestForeignFileDatesStayText(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "app.db")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`CREATE TABLE e (d DATE, ts DATETIME, s TIMESTAMP); INSERT INTO e VALUES ('2024-01-02', '2024-01-02 03:04:05.5', '2024-01-02T03:04:05Z')`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	r, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var got []any
	if err := r.Rows(ctx, &r.Schema.Tables[0], func(row []any) error { got = append([]any(nil), row...); return nil }); err != nil {
		t.Fatal(err)
	}
	want := []any{"2024-01-02", "2024-01-02T03:04:05.5", "2024-01-02T03:04:05"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %#v, want %#v", got, want)
	}
}

// SQLite reads a literal of the file's defaults back as the value, also
// one that holds what other dialects escape (and a NUL, which ends
// SQLite's reading of a statement).
func TestLiteralReadsBackExactly(t *testing.T) {
	db, err := sql.Open("sqlite", ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, v := range []string{"", "it's", `a\'b`, `\`, "a\x00b'); DROP TABLE x; --", "\x00", "line\nbreak", "$x$", `"`, "ü\xff"} {
		var got string
		if err := db.QueryRow("SELECT " + literal(v)).Scan(&got); err != nil || got != v {
			t.Errorf("%q as %s: %q, %v", v, literal(v), got, err)
		}
	}
	// In a default, too: the file is made with it.
	s := &Schema{Meta: Meta{Format: FormatVersion}, Tables: []Table{{Name: "t", Columns: []Column{
		{Name: "id", Kind: Integer, Type: "integer"},
		{Name: "d", Kind: Text, Type: "text", Default: str("a\x00'b")},
	}}}}
	path := writeTestFile(t, s, map[string][][]any{"t": {{int64(1), "x"}}})
	f, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var got string
	if _, err := f.Exec("INSERT INTO t (id) VALUES (2)"); err != nil {
		t.Fatal(err)
	}
	if err := f.QueryRow("SELECT d FROM t WHERE id = 2").Scan(&got); err != nil || got != "a\x00'b" {
		t.Errorf("the default reads %q, %v", got, err)
	}
}
