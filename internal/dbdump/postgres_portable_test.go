package dbdump

import (
	"bytes"
	"context"
	"reflect"
	"strings"
	"testing"

	"github.com/docker-backup/docker-backup/internal/portable"
)

func TestPgParseRowsReadsCopyTextTableAfterTable(t *testing.T) {
	s := &portable.Schema{Tables: []portable.Table{
		{Name: "a", Columns: []portable.Column{
			{Name: "id", Kind: portable.Integer}, {Name: "ok", Kind: portable.Boolean}, {Name: "s", Kind: portable.Text},
			{Name: "b", Kind: portable.Binary}, {Name: "ts", Kind: portable.TimestampTZ}, {Name: "f", Kind: portable.Float, Size: 4},
			{Name: "n", Kind: portable.Decimal},
		}},
		{Name: "empty", Columns: []portable.Column{{Name: "x", Kind: portable.Text}}},
		{Name: "c", Columns: []portable.Column{{Name: "x", Kind: portable.Text}, {Name: "t", Kind: portable.Time}, {Name: "d", Kind: portable.Timestamp}}},
	}}
	in := "1\tt\ta\\tb\\nc\\\\d\\x41\\101\t\\\\x00ff\t2024-03-01 13:45:00.5+00\t0.1\t12345678901234567890.01\n" +
		"2\tf\t\\N\t\\\\x\t\\N\tNaN\t\\N\n" +
		`\.` + "\n" + `\.` + "\n" +
		"\\\\.\t13:45:00+0530\t2024-03-01 00:00:00\n" + `\.` + "\n"
	type got struct {
		table string
		row   []any
	}
	var rows []got
	err := pgParseRows(strings.NewReader(in), s, func(tb *portable.Table, row []any) error {
		rows = append(rows, got{tb.Name, append([]any(nil), row...)})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []got{
		{"a", []any{int64(1), int64(1), "a\tb\nc\\dAA", []byte{0, 0xff}, "2024-03-01T13:45:00.5+00:00", 0.1, "12345678901234567890.01"}},
		{"a", []any{int64(2), int64(0), nil, []byte{}, nil, "NaN", nil}},
		{"c", []any{`\.`, "13:45:00+05:30", "2024-03-01T00:00:00"}},
	}
	if !reflect.DeepEqual(rows, want) {
		t.Errorf("rows\n got %#v\nwant %#v", rows, want)
	}
	// A stream cut short is an error, not a short table.
	err = pgParseRows(strings.NewReader("1\tt\tx\t\\N\t\\N\t\\N\t\\N\n"), s, func(*portable.Table, []any) error { return nil })
	if err == nil {
		t.Error("a truncated stream was accepted")
	}
}

func TestPgColumnDefaults(t *testing.T) {
	row := func(typname, def, identity string) []string {
		return []string{"1", "c", typname, typname, "b", "N", "f", def, identity, "", "-1", "", ""}
	}
	cases := []struct {
		typ, def, identity string
		want               func(c portable.Column) bool
	}{
		{"int4", "nextval('t_id_seq'::regclass)", "", func(c portable.Column) bool { return c.AutoIncrement && c.Default == nil }},
		{"int8", "", "d", func(c portable.Column) bool { return c.AutoIncrement }},
		{"varchar", "'it''s'::character varying", "", func(c portable.Column) bool { return c.Default != nil && *c.Default == "it's" }},
		{"int4", "(-1)", "", func(c portable.Column) bool { return c.Default != nil && *c.Default == "-1" }},
		{"bool", "true", "", func(c portable.Column) bool { return c.Default != nil && *c.Default == "1" }},
		{"timestamptz", "now()", "", func(c portable.Column) bool { return c.DefaultNow }},
		{"timestamptz", "CURRENT_TIMESTAMP", "", func(c portable.Column) bool { return c.DefaultNow }},
		{"text", "lower('X'::text)", "", func(c portable.Column) bool { return c.Default == nil && c.DefaultExpr == "lower('X'::text)" }},
		{"numeric", "0.00", "", func(c portable.Column) bool { return c.Default != nil && *c.Default == "0.00" }},
	}
	for _, tc := range cases {
		c, _ := pgColumn("t", row(tc.typ, tc.def, tc.identity))
		if !tc.want(c) {
			t.Errorf("%s default %q: %+v", tc.typ, tc.def, c)
		}
	}
	// numeric(12,2) has the typmod (12 << 16 | 2) + 4.
	r := row("numeric", "", "")
	r[10] = "786438"
	if c, _ := pgColumn("t", r); c.Precision != 12 || c.Scale != 2 || c.Kind != portable.Decimal {
		t.Errorf("numeric(12,2): %+v", c)
	}
}

// An export is data: nothing of it reaches psql but quoted names,
// validated types and COPY data.
func TestPgImportScriptIsDataOnly(t *testing.T) {
	evil := `x"; DROP DATABASE prod; --`
	s := &portable.Schema{
		Meta: portable.Meta{Engine: Postgres},
		Tables: []portable.Table{{
			Name: evil,
			Columns: []portable.Column{
				{Name: "id", Kind: portable.Integer, Type: "integer); DROP TABLE users; --", Size: 4, AutoIncrement: true, NotNull: true},
				{Name: "e", Kind: portable.Enum, Type: "mood", Labels: []string{"it's", `a"b`}},
				{Name: "d", Kind: portable.Text, Type: "text", Default: strPtr("'); DROP TABLE x; --"), DefaultExpr: ""},
				{Name: "x", Kind: portable.Text, Type: "text", DefaultExpr: "pg_sleep(100)"},
				{Name: "b", Kind: portable.Binary, Type: "bytea"},
			},
			PrimaryKey: []string{"id"},
		}},
	}
	plan, err := pgImportPlan(s)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	src := func(ctx context.Context, tb *portable.Table, fn func([]any) error) error {
		if err := fn([]any{int64(1), "it's", "a\\.\n\\.", nil, []byte("\\.")}); err != nil {
			return err
		}
		return fn([]any{int64(2), nil, `\.`, "x", nil})
	}
	if err := plan.write(context.Background(), &out, "KEY", src); err != nil {
		t.Fatal(err)
	}
	script := out.String()
	if !strings.HasPrefix(script, "\\restrict KEY\n") {
		t.Errorf("no \\restrict first:\n%s", script)
	}
	for _, bad := range []string{"DROP TABLE users", "pg_sleep", "integer);"} {
		if strings.Contains(script, bad) {
			t.Errorf("the script holds %q:\n%s", bad, script)
		}
	}
	if !strings.Contains(script, `"x""; DROP DATABASE prod; --"`) || !strings.Contains(script, `'it''s'`) {
		t.Errorf("names and labels not quoted:\n%s", script)
	}
	if !strings.Contains(script, `'''); DROP TABLE x; --'::text`) {
		t.Errorf("the default is not a quoted constant:\n%s", script)
	}
	// Only the ends of the COPY data are "\.".
	if n := strings.Count("\n"+script, "\n\\.\n"); n != 1 {
		t.Errorf("%d lines end COPY data:\n%s", n, script)
	}
	if len(plan.notes) == 0 || !strings.Contains(strings.Join(plan.notes, "\n"), "pg_sleep(100)") {
		t.Errorf("notes %q", plan.notes)
	}
}

func strPtr(s string) *string { return &s }

func TestPgCopyValue(t *testing.T) {
	cases := []struct {
		c    portable.Column
		v    any
		want string
	}{
		{portable.Column{Kind: portable.Boolean}, int64(1), "t"},
		{portable.Column{Kind: portable.Boolean}, int64(0), "f"},
		{portable.Column{Kind: portable.Binary}, []byte{1, 0xab}, `\\x01ab`},
		{portable.Column{Kind: portable.Float, Size: 4}, 0.1, "0.1"},
		{portable.Column{Kind: portable.Float, Size: 8}, "NaN", "NaN"},
		{portable.Column{Kind: portable.Text}, "a\tb\\c\nd\re", `a\tb\\c\nd\re`},
		{portable.Column{Kind: portable.Integer}, int64(-42), "-42"},
		{portable.Column{Kind: portable.Text}, nil, `\N`},
	}
	for _, tc := range cases {
		got, err := pgCopyValue(nil, tc.c, tc.v)
		if err != nil || string(got) != tc.want {
			t.Errorf("%v as %s: %q, %v; want %q", tc.v, tc.c.Kind, got, err, tc.want)
		}
	}
	if _, err := pgCopyValue(nil, portable.Column{Kind: portable.Text}, "a\x00b"); err == nil {
		t.Error("a NUL was accepted")
	}
}

func TestPgColumnTypeKeepsOnlyBuiltInTypes(t *testing.T) {
	cases := []struct {
		c    portable.Column
		same bool
		want string
	}{
		{portable.Column{Kind: portable.Decimal, Type: "numeric(12,2)"}, true, "numeric(12,2)"},
		{portable.Column{Kind: portable.TimestampTZ, Type: "timestamp(3) with time zone"}, true, "timestamp(3) with time zone"},
		{portable.Column{Kind: portable.Array, Type: "integer[]"}, true, "integer[]"},
		{portable.Column{Kind: portable.Other, Type: "hstore"}, true, "text"},
		{portable.Column{Kind: portable.Integer, Type: "int(10) unsigned", Size: 4, Unsigned: true}, false, "bigint"},
		{portable.Column{Kind: portable.Integer, Type: "bigint unsigned", Size: 8, Unsigned: true}, false, "numeric(20,0)"},
		{portable.Column{Kind: portable.Integer, Type: "tinyint(4)", Size: 1}, false, "smallint"},
		{portable.Column{Kind: portable.Text, Type: "varchar(40)", Length: 40}, false, "character varying(40)"},
		{portable.Column{Kind: portable.Text, Type: "char(2)", Length: 2}, false, "character(2)"},
		{portable.Column{Kind: portable.Integer, Type: "INTEGER"}, false, "bigint"},
	}
	for _, tc := range cases {
		if got := pgColumnType(tc.c, tc.same); got != tc.want {
			t.Errorf("%s (same engine %v): %s, want %s", tc.c.Type, tc.same, got, tc.want)
		}
	}
}
