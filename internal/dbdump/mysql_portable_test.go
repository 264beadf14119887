package dbdump

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/docker-backup/docker-backup/internal/portable"
)

// myFakeServer answers the probes of mysqlPortable and hands the scripts
// read on the client's stdin to script.
type myFakeServer struct {
	version string
	script  func(cmd []string, stdin string) reply
}

func (s myFakeServer) exec() *fakeExec {
	f := &fakeExec{}
	f.handler = func(cmd, env []string) reply {
		switch {
		case cmd[0] == "sh" && strings.Contains(cmd[2], "command -v mariadb"):
			return reply{stdout: "/usr/bin/mariadb\n"}
		case cmd[0] == "id" && cmd[1] == "-un":
			return reply{stdout: "root\n"}
		case cmd[0] == "id":
			return reply{stdout: "999\n"}
		case cmd[0] == "/usr/bin/mariadb" && hasArg(cmd, "--help"):
			return reply{stdout: "Usage: mariadb [OPTIONS] [database]\n  --binary-mode       By default, ASCII '\\0' is disallowed\n  --sandbox           Disallow commands that access the file system\n"}
		case cmd[0] == "/usr/bin/mariadb" && cmd[len(cmd)-1] == "SELECT VERSION()":
			return reply{stdout: s.version + "\n"}
		case cmd[0] == "/usr/bin/mariadb" && s.script != nil:
			// The fake records a call, with its stdin, before it
			// answers; the package runs one command at a time.
			calls := f.recorded()
			return s.script(cmd, calls[len(calls)-1].stdin)
		}
		return reply{code: 127, stderr: cmd[0] + ": not found"}
	}
	return f
}

func myConnectFake(t *testing.T, s myFakeServer) (*fakeExec, *Portable) {
	t.Helper()
	x := s.exec()
	p, err := mysqlPortable(context.Background(), x, Target{Service: "db", ContainerID: "c1", Env: []string{"MARIADB_ROOT_PASSWORD=" + myPassword}})
	if err != nil {
		t.Fatal(err)
	}
	return x, p
}

// myOut is one line of the client's batch output: tag (when not "") then
// the values as nv selects them (nil for NULL), escaped as the client does.
func myOut(tag string, vals ...any) string {
	var fields []string
	if tag != "" {
		fields = append(fields, tag)
	}
	esc := strings.NewReplacer("\\", `\\`, "\t", `\t`, "\n", `\n`, "\x00", `\0`)
	for _, v := range vals {
		if v == nil {
			fields = append(fields, "N")
			continue
		}
		fields = append(fields, "v"+esc.Replace(v.(string)))
	}
	return strings.Join(fields, "\t") + "\n"
}

func TestMySQLSplit(t *testing.T) {
	line := []byte(`va\tb\nc\\d\0e` + "\t" + `N` + "\t" + `vNULL` + "\t\t" + `v`)
	got, err := mySplit(line, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"va\tb\nc\\d\x00e", "N", "vNULL", "", "v"}
	if len(got) != len(want) {
		t.Fatalf("fields %q", got)
	}
	for i := range want {
		if string(got[i]) != want[i] {
			t.Errorf("field %d = %q, want %q", i, got[i], want[i])
		}
	}
	for _, bad := range []string{`va\`, `va\x`} {
		if _, err := mySplit([]byte(bad), nil); err == nil {
			t.Errorf("%q split without error", bad)
		}
	}
}

func TestMySQLColumnKinds(t *testing.T) {
	for _, tc := range []struct {
		typ, data string
		json      bool
		want      portable.Column
	}{
		{"tinyint(1)", "tinyint", false, portable.Column{Kind: portable.Boolean}},
		{"tinyint(4)", "tinyint", false, portable.Column{Kind: portable.Integer, Size: 1}},
		{"tinyint(3) unsigned", "tinyint", false, portable.Column{Kind: portable.Integer, Size: 1, Unsigned: true}},
		{"smallint(6)", "smallint", false, portable.Column{Kind: portable.Integer, Size: 2}},
		{"mediumint(8) unsigned", "mediumint", false, portable.Column{Kind: portable.Integer, Size: 4, Unsigned: true}},
		{"int(10) unsigned", "int", false, portable.Column{Kind: portable.Integer, Size: 4, Unsigned: true}},
		{"bigint(20) unsigned zerofill", "bigint", false, portable.Column{Kind: portable.Integer, Size: 8, Unsigned: true}},
		{"year(4)", "year", false, portable.Column{Kind: portable.Integer, Size: 2}},
		{"decimal(12,2)", "decimal", false, portable.Column{Kind: portable.Decimal, Precision: 12, Scale: 2}},
		{"float", "float", false, portable.Column{Kind: portable.Float, Size: 4}},
		{"double", "double", false, portable.Column{Kind: portable.Float, Size: 8}},
		{"varchar(40)", "varchar", false, portable.Column{Kind: portable.Text, Length: 40}},
		{"char(2)", "char", false, portable.Column{Kind: portable.Text, Length: 2}},
		{"mediumtext", "mediumtext", false, portable.Column{Kind: portable.Text}},
		{"longtext", "longtext", true, portable.Column{Kind: portable.JSON}},
		{"json", "json", false, portable.Column{Kind: portable.JSON}},
		{"varbinary(16)", "varbinary", false, portable.Column{Kind: portable.Binary, Length: 16}},
		{"longblob", "longblob", false, portable.Column{Kind: portable.Binary}},
		{"date", "date", false, portable.Column{Kind: portable.Date}},
		{"time(3)", "time", false, portable.Column{Kind: portable.Time}},
		{"datetime(6)", "datetime", false, portable.Column{Kind: portable.Timestamp}},
		{"timestamp", "timestamp", false, portable.Column{Kind: portable.TimestampTZ}},
		{"uuid", "uuid", false, portable.Column{Kind: portable.UUID}},
		{"enum('a','it''s','b\\\\c')", "enum", false, portable.Column{Kind: portable.Enum, Labels: []string{"a", "it's", `b\c`}}},
		{"set('x','y')", "set", false, portable.Column{Kind: portable.Other}},
		{"bit(4)", "bit", false, portable.Column{Kind: portable.Other}},
		{"point", "point", false, portable.Column{Kind: portable.Other}},
		{"inet6", "inet6", false, portable.Column{Kind: portable.Other}},
	} {
		r := myColumnRow{table: "t", name: "c", colType: tc.typ, dataType: tc.data, nullable: true, charLen: int64(tc.want.Length),
			precision: int64(tc.want.Precision), scale: int64(tc.want.Scale)}
		got, um := myColumn("MariaDB", r, tc.json)
		want := tc.want
		want.Name, want.Type = "c", tc.typ
		if !reflect.DeepEqual(got, want) || len(um) != 0 {
			t.Errorf("%s: got %+v %v, want %+v", tc.typ, got, um, want)
		}
	}
	r := myColumnRow{table: "t", name: "id", colType: "int(11)", dataType: "int", extra: "auto_increment"}
	if c, _ := myColumn("MySQL", r, false); !c.AutoIncrement || !c.NotNull {
		t.Errorf("auto_increment: %+v", c)
	}
	r = myColumnRow{table: "t", name: "total", colType: "int(11)", dataType: "int", nullable: true, extra: "STORED GENERATED", generated: "`a` + `b`"}
	if _, um := myColumn("MySQL", r, false); len(um) != 1 || um[0].Kind != "generated column" || um[0].Definition != "`a` + `b`" || um[0].Name != "t.total" {
		t.Errorf("generated: %+v", um)
	}
}

func TestMySQLDefaults(t *testing.T) {
	str := func(s string) *string { return &s }
	for _, tc := range []struct {
		flavor, typ, data, extra string
		def                      *string
		want                     *string
		now                      bool
		expr                     string
	}{
		{"MariaDB", "varchar(10)", "varchar", "", nil, nil, false, ""},
		{"MariaDB", "varchar(10)", "varchar", "", str("NULL"), nil, false, ""},
		{"MariaDB", "varchar(10)", "varchar", "", str("'NULL'"), str("NULL"), false, ""},
		{"MariaDB", "varchar(10)", "varchar", "", str("'it''s'"), str("it's"), false, ""},
		{"MariaDB", "varchar(10)", "varchar", "", str(`'a\\b'`), str(`a\b`), false, ""},
		{"MariaDB", "varchar(10)", "varchar", "", str("''"), str(""), false, ""},
		{"MariaDB", "int(11)", "int", "", str("-5"), str("-5"), false, ""},
		{"MariaDB", "decimal(12,2)", "decimal", "", str("0.00"), str("0.00"), false, ""},
		{"MariaDB", "tinyint(1)", "tinyint", "", str("1"), str("1"), false, ""},
		{"MariaDB", "timestamp", "timestamp", "on update current_timestamp()", str("current_timestamp()"), nil, true, ""},
		{"MariaDB", "datetime(6)", "datetime", "", str("current_timestamp(6)"), nil, true, ""},
		{"MariaDB", "datetime", "datetime", "", str("'2000-01-01 00:00:00'"), str("2000-01-01T00:00:00"), false, ""},
		{"MariaDB", "timestamp", "timestamp", "", str("'2000-01-01 10:00:00'"), str("2000-01-01T10:00:00+00:00"), false, ""},
		{"MariaDB", "datetime", "datetime", "", str("'0000-00-00 00:00:00'"), str("0000-00-00 00:00:00"), false, ""},
		{"MariaDB", "varchar(36)", "varchar", "", str("uuid()"), nil, false, "uuid()"},
		{"MariaDB", "bit(4)", "bit", "", str("b'101'"), str("0101"), false, ""},
		{"MariaDB", "varbinary(3)", "varbinary", "", str("'abc'"), nil, false, "'abc'"},
		{"MariaDB", "enum('a','b')", "enum", "", str("'b'"), str("b"), false, ""},
		{"MySQL", "varchar(10)", "varchar", "", str("abc"), str("abc"), false, ""},
		{"MySQL", "varchar(10)", "varchar", "", str("NULL"), str("NULL"), false, ""},
		{"MySQL", "varchar(10)", "varchar", "", str("it's"), str("it's"), false, ""},
		{"MySQL", "int", "int", "", str("7"), str("7"), false, ""},
		{"MySQL", "timestamp", "timestamp", "DEFAULT_GENERATED on update CURRENT_TIMESTAMP", str("CURRENT_TIMESTAMP"), nil, true, ""},
		{"MySQL", "datetime(3)", "datetime", "DEFAULT_GENERATED", str("CURRENT_TIMESTAMP(3)"), nil, true, ""},
		{"MySQL", "double", "double", "DEFAULT_GENERATED", str("rand()"), nil, false, "rand()"},
		{"MySQL", "varchar(20)", "varchar", "", str("CURRENT_TIMESTAMP"), str("CURRENT_TIMESTAMP"), false, ""},
	} {
		r := myColumnRow{table: "t", name: "c", colType: tc.typ, dataType: tc.data, nullable: true, extra: tc.extra, def: tc.def}
		c, _ := myColumn(tc.flavor, r, false)
		if !reflect.DeepEqual(c.Default, tc.want) || c.DefaultNow != tc.now || c.DefaultExpr != tc.expr {
			got := "<nil>"
			if c.Default != nil {
				got = *c.Default
			}
			t.Errorf("%s %s default %v: got %q now=%v expr=%q", tc.flavor, tc.typ, deref(tc.def), got, c.DefaultNow, c.DefaultExpr)
		}
	}
}

func deref(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return *s
}

func TestMySQLLabels(t *testing.T) {
	for _, tc := range []struct {
		typ  string
		want []string
	}{
		{"enum('a','b')", []string{"a", "b"}},
		{"enum('a,b','')", []string{"a,b", ""}},
		{"set('x''y','z\\\\')", []string{"x'y", `z\`}},
		{"enum('a\\'b')", []string{"a'b"}},
	} {
		got, ok := myLabels(tc.typ)
		if !ok || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: %q %v", tc.typ, got, ok)
		}
	}
	for _, bad := range []string{"enum()", "enum('a'", "enum('a',)", "enum('a' 'b')", "enum(a)", "enum('a'),('b')x"} {
		if l, ok := myLabels(bad); ok {
			t.Errorf("%s parsed as %q", bad, l)
		}
	}
}

func TestMySQLImportTypes(t *testing.T) {
	maria := myTarget{flavor: "MariaDB", ver: []int{10, 11, 6}}
	mysql8 := myTarget{flavor: "MySQL", ver: []int{8, 4, 0}}
	for _, tc := range []struct {
		target    myTarget
		c         portable.Column
		fromMySQL bool
		share     int
		want      string
	}{
		{maria, portable.Column{Kind: portable.Integer, Type: "int(10) unsigned", Size: 4, Unsigned: true}, true, 0, "int(10) unsigned"},
		{maria, portable.Column{Kind: portable.Integer, Type: "int(10) unsigned", Size: 4, Unsigned: true}, false, 0, "int unsigned"},
		{maria, portable.Column{Kind: portable.Integer, Size: 2}, false, 0, "smallint"},
		{maria, portable.Column{Kind: portable.Integer}, false, 0, "bigint"},
		{maria, portable.Column{Kind: portable.Boolean, Type: "boolean"}, false, 0, "tinyint(1)"},
		{maria, portable.Column{Kind: portable.Decimal, Type: "decimal(12,2)", Precision: 12, Scale: 2}, true, 0, "decimal(12,2)"},
		{maria, portable.Column{Kind: portable.Decimal, Type: "numeric", Precision: 0}, false, 0, "decimal(65,30)"},
		{maria, portable.Column{Kind: portable.Decimal, Type: "numeric(100,2)", Precision: 100, Scale: 2}, false, 0, "longtext"},
		{maria, portable.Column{Kind: portable.Float, Size: 4}, false, 0, "float"},
		{maria, portable.Column{Kind: portable.Float, Size: 8}, false, 0, "double"},
		{maria, portable.Column{Kind: portable.Text, Type: "character varying(40)", Length: 40}, false, 0, "varchar(40)"},
		{maria, portable.Column{Kind: portable.Text, Type: "text"}, false, 0, "longtext"},
		{maria, portable.Column{Kind: portable.Text, Type: "text"}, false, 1, "varchar(768)"},
		{maria, portable.Column{Kind: portable.Text, Type: "text"}, false, 2, "varchar(384)"},
		{maria, portable.Column{Kind: portable.Text, Type: "text"}, true, 1, "varchar(768)"},
		{maria, portable.Column{Kind: portable.Text, Length: 20000}, false, 0, "longtext"},
		{maria, portable.Column{Kind: portable.Binary, Type: "bytea"}, false, 0, "longblob"},
		{maria, portable.Column{Kind: portable.Binary, Type: "bytea"}, false, 1, "varbinary(3072)"},
		{maria, portable.Column{Kind: portable.Binary, Type: "varbinary(16)", Length: 16}, true, 0, "varbinary(16)"},
		{maria, portable.Column{Kind: portable.Date}, false, 0, "date"},
		{maria, portable.Column{Kind: portable.Time}, false, 0, "time(6)"},
		{maria, portable.Column{Kind: portable.Timestamp}, false, 0, "datetime(6)"},
		{maria, portable.Column{Kind: portable.TimestampTZ, Type: "timestamp with time zone"}, false, 0, "datetime(6)"},
		{maria, portable.Column{Kind: portable.TimestampTZ, Type: "timestamp"}, true, 0, "timestamp"},
		{maria, portable.Column{Kind: portable.UUID}, false, 0, "uuid"},
		{myTarget{flavor: "MariaDB", ver: []int{10, 6, 1}}, portable.Column{Kind: portable.UUID, Type: "uuid"}, true, 0, "char(36)"},
		{mysql8, portable.Column{Kind: portable.UUID, Type: "uuid"}, true, 0, "char(36)"},
		{mysql8, portable.Column{Kind: portable.Other, Type: "inet6"}, true, 0, "longtext"},
		{maria, portable.Column{Kind: portable.Other, Type: "inet6"}, true, 0, "inet6"},
		{maria, portable.Column{Kind: portable.JSON, Type: "jsonb"}, false, 0, "json"},
		{mysql8, portable.Column{Kind: portable.JSON, Type: "json"}, true, 0, "json"},
		{maria, portable.Column{Kind: portable.JSON, Type: "longtext"}, true, 1, "varchar(768)"},
		{maria, portable.Column{Kind: portable.Enum, Type: "mood", Labels: []string{"ok", "it's", `a\b`}}, false, 0, `enum('ok','it''s','a\\b')`},
		{maria, portable.Column{Kind: portable.Enum, Type: "enum('x'); DROP TABLE t; --", Labels: []string{"x"}}, true, 0, "enum('x')"},
		{maria, portable.Column{Kind: portable.Other, Type: "set('a','b''c')"}, true, 0, `set('a','b''c')`},
		{maria, portable.Column{Kind: portable.Other, Type: "bit(4)"}, true, 0, "bit(4)"},
		{maria, portable.Column{Kind: portable.Other, Type: "point"}, true, 0, "point"},
		{maria, portable.Column{Kind: portable.Array, Type: "integer[]"}, false, 0, "longtext"},
		{maria, portable.Column{Kind: portable.Other, Type: "interval"}, false, 1, "varchar(768)"},
		// What a file says is data: a type is copied only when it is one.
		{maria, portable.Column{Kind: portable.Integer, Type: "int); DROP TABLE t; --", Size: 4}, true, 0, "int"},
		{maria, portable.Column{Kind: portable.Integer, Type: "INT(11)", Size: 4}, true, 0, "int"},
		{maria, portable.Column{Kind: portable.Integer, Type: "varchar(10)", Size: 8}, true, 0, "bigint"},
		{maria, portable.Column{Kind: portable.Text, Type: "int(11)", Length: 5}, true, 0, "varchar(5)"},
		{maria, portable.Column{Kind: portable.Text, Type: "varchar(10) character set latin1", Length: 10}, true, 0, "varchar(10)"},
	} {
		got, _ := tc.target.columnType(&tc.c, tc.fromMySQL, tc.share)
		if got != tc.want {
			t.Errorf("%s %s %q (from MySQL %v, share %d) = %q, want %q", tc.target.flavor, tc.c.Kind, tc.c.Type, tc.fromMySQL, tc.share, got, tc.want)
		}
	}
}

func TestMySQLEncode(t *testing.T) {
	col := func(k portable.Kind) *myCol { return &myCol{kind: k} }
	for _, tc := range []struct {
		col  *myCol
		v    any
		want string
	}{
		{col(portable.Text), nil, "NULL"},
		{col(portable.Text), "NULL", "'NULL'"},
		{col(portable.Text), "it's a \\ \x00 \n \r \x1a \t ; `", `'it''s a \\ \0 \n \r \Z ` + "\t ; `'"},
		{col(portable.Text), "héllo ☃", "'héllo ☃'"},
		{col(portable.Binary), []byte{0, 0xff, 'a'}, "X'00ff61'"},
		{col(portable.Binary), []byte{}, "X''"},
		{col(portable.Binary), "ab", "X'6162'"},
		{col(portable.Boolean), int64(1), "1"},
		{col(portable.Boolean), "t", "1"},
		{col(portable.Boolean), "false", "0"},
		{col(portable.Boolean), "0", "0"},
		{col(portable.Integer), int64(-42), "-42"},
		{col(portable.Integer), float64(3), "3"},
		{col(portable.Integer), "18446744073709551615", "18446744073709551615"},
		{col(portable.Float), 0.1, "0.1"},
		{col(portable.Float), 1e300, "1e+300"},
		{col(portable.Float), "2.5", "2.5"},
		{col(portable.Float), int64(3), "3"},
		{&myCol{kind: portable.Float, f32: true}, 3.4028235e38, "3.4028234663852886e+38"},
		{&myCol{kind: portable.Float, f32: true}, 0.1, "0.10000000149011612"},
		{col(portable.Decimal), "12345678901234567890.123456789", "'12345678901234567890.123456789'"},
		{col(portable.Decimal), "-1.5e3", "'-1.5e3'"},
		{col(portable.Date), "2024-03-01", "'2024-03-01'"},
		{col(portable.Time), "13:45:00.5", "'13:45:00.5'"},
		{col(portable.Time), "13:45:00+02:00", "'11:45:00'"},
		{col(portable.Time), "01:00:00+02", "'23:00:00'"},
		{col(portable.Time), "-838:59:59", "'-838:59:59'"},
		{col(portable.Timestamp), "2024-03-01T13:45:00.123456", "'2024-03-01 13:45:00.123456'"},
		{col(portable.Timestamp), "2024-03-01 13:45:00", "'2024-03-01 13:45:00'"},
		{col(portable.TimestampTZ), "2024-03-01T13:45:00.5+00:00", "'2024-03-01 13:45:00.5'"},
		{col(portable.TimestampTZ), "2024-03-01T01:45:00+02:00", "'2024-02-29 23:45:00'"},
		{col(portable.TimestampTZ), "2024-03-01T22:15:00-0530", "'2024-03-02 03:45:00'"},
		{col(portable.TimestampTZ), "2024-03-01T13:45:00Z", "'2024-03-01 13:45:00'"},
		{col(portable.TimestampTZ), "0000-00-00 00:00:00", "'0000-00-00 00:00:00'"},
		{col(portable.Enum), "it's", `'it''s'`},
		{col(portable.JSON), `{"a": "b\"c"}`, `'{"a": "b\\"c"}'`},
		{col(portable.UUID), "7b1e3c1a-0000-4000-8000-000000000001", "'7b1e3c1a-0000-4000-8000-000000000001'"},
		{col(portable.Other), int64(5), "'5'"},
		{&myCol{kind: portable.Other, bit: true}, "0101", "b'0101'"},
		{&myCol{kind: portable.Other, geom: true}, "0101000020E6100000000000000000F03F0000000000000040", "ST_GeomFromWKB(X'0101000000000000000000f03f0000000000000040', 4326)"},
		{&myCol{kind: portable.Other, geom: true}, "0101000000000000000000F03F0000000000000040", "ST_GeomFromWKB(X'0101000000000000000000f03f0000000000000040', 0)"},
	} {
		got, err := myEncode(nil, tc.col, tc.v, false)
		if err != nil || string(got) != tc.want {
			t.Errorf("%s %#v: %s, %v; want %s", tc.col.kind, tc.v, got, err, tc.want)
		}
	}
	for _, tc := range []struct {
		col  *myCol
		v    any
		want string
	}{
		{col(portable.Float), math.NaN(), "NaN"},
		{col(portable.Float), math.Inf(1), "infinity"},
		{col(portable.Float), "NaN", "no NaN or infinity"},
		{col(portable.Float), "-Infinity", "no NaN or infinity"},
		{col(portable.Float), "1,5", "not a number"},
		{col(portable.Decimal), "NaN", "numbers only"},
		{col(portable.Decimal), "1; DROP TABLE t", "numbers only"},
		{col(portable.Integer), "12a", "not an integer"},
		{col(portable.Integer), 1.5, "not an integer"},
		{col(portable.Boolean), "maybe", "not a boolean"},
		{col(portable.Date), "2024-03-01 BC", "not a date"},
		{col(portable.Timestamp), "infinity", "not an ISO 8601 timestamp"},
		{col(portable.TimestampTZ), "0000-00-00T00:00:00+02:00", "zero date"},
		{col(portable.Time), "1 day", "not a time"},
		{&myCol{kind: portable.Other, bit: true}, "012", "not a bit string"},
		{&myCol{kind: portable.Other, geom: true}, "zz", "not a geometry"},
	} {
		got, err := myEncode(nil, tc.col, tc.v, false)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s %#v: %s, %v; want an error saying %q", tc.col.kind, tc.v, got, err, tc.want)
		}
	}
	got, _ := myEncode(nil, &myCol{kind: portable.Other, geom: true}, "0101000020E6100000000000000000F03F0000000000000040", true)
	if want := "ST_GeomFromWKB(X'0101000000000000000000f03f0000000000000040', 4326, 'axis-order=long-lat')"; string(got) != want {
		t.Errorf("MySQL 8 geometry: %s", got)
	}
}

func TestMySQLEWKB(t *testing.T) {
	// POINT(1 2) with SRID 4326, as MariaDB's ST_SRID and HEX(ST_AsWKB) give it.
	got, err := myEWKB("4326,0101000000000000000000F03F0000000000000040")
	if want := "0101000020E6100000000000000000F03F0000000000000040"; err != nil || got != want {
		t.Errorf("EWKB %s %v, want %s (PostGIS's text form)", got, err, want)
	}
	wkb, srid, err := myParseEWKB([]byte(got))
	if err != nil || srid != 4326 || strings.ToUpper(hexString(wkb)) != "0101000000000000000000F03F0000000000000040" {
		t.Errorf("parsed back %x %d %v", wkb, srid, err)
	}
	if got, _ := myEWKB("0,0101000000000000000000F03F0000000000000040"); got != "0101000000000000000000F03F0000000000000040" {
		t.Errorf("SRID 0: %s", got)
	}
	// Big endian.
	got, _ = myEWKB("3857,00000000013FF00000000000004000000000000000")
	if got != "002000000100000F113FF00000000000004000000000000000" {
		t.Errorf("big endian: %s", got)
	}
}

func hexString(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, digits[c>>4], digits[c&15])
	}
	return string(out)
}

func TestMySQLPortableRows(t *testing.T) {
	big := bytes.Repeat([]byte{0xab, 0x00, '\n'}, 1<<20) // 3 MiB: a 6 MiB line
	var script string
	srv := myFakeServer{version: "10.11.6-MariaDB", script: func(cmd []string, stdin string) reply {
		script = stdin
		out := myOut("", "1", "tab\there\nnewline \\ back\x00nul", "616263", "0.30000000000000004", "0.10000000149011612",
			"2024-03-01 13:45:00.120000", "2024-03-01 13:45:00.000000", "2024-03-01", "13:45:00.500000", "18446744073709551615", "1", "0101",
			"4326,0101000000000000000000F03F0000000000000040", "0000-00-00 00:00:00") +
			myOut("", "2", "NULL", nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil) +
			myOut("", "3", "N", "", "-1e-300", "3", "2024-03-01 13:45:00", "2024-03-01 00:00:00.000001", "0000-00-00", "-838:59:59", "-5", "0", "0000",
				"0,0101000000000000000000F03F0000000000000040", "2024-03-01 13:45:00.5") +
			myEnd + "\n" +
			myOut("", hexString(big)) +
			myEnd + "\n"
		return reply{stdout: out}
	}}
	x, p := myConnectFake(t, srv)
	if p.Engine != MySQL || p.Flavor != "MariaDB" || p.Version != "10.11.6-MariaDB" {
		t.Errorf("portable %+v", p)
	}
	s := &portable.Schema{Tables: []portable.Table{
		{Name: "all`types", Columns: []portable.Column{
			{Name: "id", Kind: portable.Integer, Size: 4},
			{Name: "s", Kind: portable.Text},
			{Name: "b", Kind: portable.Binary},
			{Name: "d", Kind: portable.Float, Size: 8},
			{Name: "f", Kind: portable.Float, Size: 4},
			{Name: "tz", Kind: portable.TimestampTZ, Type: "timestamp(2)"},
			{Name: "ts", Kind: portable.Timestamp, Type: "datetime(6)"},
			{Name: "day", Kind: portable.Date},
			{Name: "tm", Kind: portable.Time},
			{Name: "big", Kind: portable.Integer, Size: 8, Unsigned: true},
			{Name: "flag", Kind: portable.Boolean},
			{Name: "bits", Kind: portable.Other, Type: "bit(4)"},
			{Name: "geo", Kind: portable.Other, Type: "point"},
			{Name: "zero", Kind: portable.Timestamp, Type: "datetime"},
		}},
		{Name: "blobs", Columns: []portable.Column{{Name: "data", Kind: portable.Binary}}},
	}}
	var got [][]any
	var tables []string
	err := p.Rows(context.Background(), "app", s, func(tb *portable.Table, row []any) error {
		tables = append(tables, tb.Name)
		got = append(got, row)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := [][]any{
		{int64(1), "tab\there\nnewline \\ back\x00nul", []byte("abc"), 0.30000000000000004, 0.1, "2024-03-01T13:45:00.12+00:00", "2024-03-01T13:45:00",
			"2024-03-01", "13:45:00.5", "18446744073709551615", int64(1), "0101", "0101000020E6100000000000000000F03F0000000000000040", "0000-00-00 00:00:00"},
		{int64(2), "NULL", nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil},
		{int64(3), "N", []byte{}, -1e-300, 3.0, "2024-03-01T13:45:00+00:00", "2024-03-01T00:00:00.000001", "0000-00-00", "-838:59:59", int64(-5), int64(0), "0000",
			"0101000000000000000000F03F0000000000000040", "2024-03-01T13:45:00.5"},
		{big},
	}
	if len(got) != len(want) {
		t.Fatalf("%d rows, want %d", len(got), len(want))
	}
	for i := range want {
		if !reflect.DeepEqual(got[i], want[i]) {
			if i == 3 {
				t.Errorf("the large row differs")
				continue
			}
			t.Errorf("row %d:\n got %#v\nwant %#v", i, got[i], want[i])
		}
	}
	if !reflect.DeepEqual(tables, []string{"all`types", "all`types", "all`types", "blobs"}) {
		t.Errorf("tables %q", tables)
	}
	for _, want := range []string{
		"SET SESSION sql_mode = '', time_zone = '+00:00';",
		"START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY;",
		"IF(`id` IS NULL, 'N', CONCAT('v', `id`))",
		"CONCAT('v', HEX(`b`))",
		"CONCAT('v', `f` + 0e0)",
		"LPAD(BIN(`bits` + 0), 4, '0')",
		"CONCAT(ST_SRID(`geo`), ',', HEX(ST_AsWKB(`geo`)))",
		"FROM `app`.`all``types`;\nSELECT '#end';\n",
		"COMMIT;",
	} {
		if !strings.Contains(script, want) {
			t.Errorf("script lacks %q:\n%s", want, script)
		}
	}
	calls := x.callsOf("/usr/bin/mariadb")
	last := calls[len(calls)-1]
	for _, flag := range []string{"--batch", "--quick", "--skip-column-names", "--default-character-set=utf8mb4", "--binary-mode"} {
		if !hasArg(last.cmd, flag) {
			t.Errorf("rows read without %s: %q", flag, last.cmd)
		}
	}
	if hasArg(last.cmd, "--raw") || last.user != "mysql" || !last.kill {
		t.Errorf("rows read with %q as %q (kill %v)", last.cmd, last.user, last.kill)
	}
	assertSecretOnlyInEnv(t, x, myPassword, "MYSQL_PWD")
}

func TestMySQLPortableRowsErrors(t *testing.T) {
	s := &portable.Schema{Tables: []portable.Table{{Name: "t", Columns: []portable.Column{{Name: "a", Kind: portable.Integer}, {Name: "b", Kind: portable.Text}}}}}
	for _, tc := range []struct {
		out  reply
		want string
	}{
		{reply{stdout: myOut("", "1")}, "a row has 1 fields, not 2"},
		{reply{stdout: "x1\tvb\n"}, "unexpected output"},
		{reply{stdout: myOut("", "1", "b")}, "stopped before the last table"},
		{reply{stdout: myOut("", "1", "b") + "#end\n#end\n"}, "after the last table"},
		{reply{stdout: myOut("", "1", "b"), code: 1, stderr: "ERROR 1146 (42S02) at line 4: Table 'app.t' doesn't exist"}, "Table 'app.t' doesn't exist"},
		{reply{stdout: "v1\tvtruncated"}, "unexpected EOF"},
	} {
		_, p := myConnectFake(t, myFakeServer{version: "11.4.2-MariaDB", script: func([]string, string) reply { return tc.out }})
		err := p.Rows(context.Background(), "app", s, func(*portable.Table, []any) error { return nil })
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.out.stdout, err, tc.want)
		}
	}
	// An error of fn stops the export with it.
	_, p := myConnectFake(t, myFakeServer{version: "11.4.2-MariaDB", script: func([]string, string) reply {
		return reply{stdout: strings.Repeat(myOut("", "1", "b"), 1000) + "#end\n"}
	}})
	stop := errors.New("disk full")
	n := 0
	err := p.Rows(context.Background(), "app", s, func(*portable.Table, []any) error {
		if n++; n == 3 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || n != 3 {
		t.Errorf("err %v after %d rows", err, n)
	}
}

// mariaSchemaOutput is what the schema script prints for a small shop.
func mariaSchemaOutput() string {
	return strings.Join([]string{
		"db\n",
		myOut("table", "users", "BASE TABLE"), myOut("table", "orders", "BASE TABLE"), myOut("table", "history", "SYSTEM VERSIONED"),
		myOut("table", "active", "VIEW"), myOut("table", "ids", "SEQUENCE"),
		myOut("column", "users", "email", "2", "varchar(100)", "varchar", "NO", nil, "", "100", nil, nil, nil),
		myOut("column", "users", "id", "1", "int(10) unsigned", "int", "NO", nil, "auto_increment", nil, "10", "0", nil),
		myOut("column", "users", "profile", "3", "longtext", "longtext", "YES", "NULL", "", "4294967295", nil, nil, nil),
		myOut("column", "users", "mood", "4", "enum('ok','it''s')", "enum", "NO", "'ok'", "", "4", nil, nil, nil),
		myOut("column", "users", "seen", "5", "timestamp", "timestamp", "NO", "current_timestamp()", "on update current_timestamp()", nil, nil, nil, nil),
		myOut("column", "users", "slug", "6", "varchar(40)", "varchar", "YES", "lower(`email`)", "", "40", nil, nil, nil),
		myOut("column", "orders", "id", "1", "bigint(20)", "bigint", "NO", nil, "", nil, "19", "0", nil),
		myOut("column", "orders", "user_id", "2", "int(10) unsigned", "int", "NO", nil, "", nil, "10", "0", nil),
		myOut("column", "orders", "parent", "3", "bigint(20)", "bigint", "YES", "NULL", "", nil, "19", "0", nil),
		myOut("column", "orders", "total", "4", "decimal(12,2)", "decimal", "NO", "0.00", "", nil, "12", "2", nil),
		myOut("column", "orders", "note", "5", "text", "text", "YES", "NULL", "", "65535", nil, nil, nil),
		myOut("column", "orders", "twice", "6", "decimal(13,2)", "decimal", "YES", nil, "VIRTUAL GENERATED", nil, "13", "2", "`total` * 2"),
		myOut("column", "history", "v", "1", "int(11)", "int", "YES", "NULL", "", nil, "10", "0", nil),
		myOut("column", "active", "id", "1", "int(10) unsigned", "int", "NO", "0", "", nil, "10", "0", nil),
		myOut("index", "users", "PRIMARY", "0", "id", nil, "BTREE", nil),
		myOut("index", "users", "email", "0", "email", nil, "BTREE", nil),
		myOut("index", "orders", "PRIMARY", "0", "id", nil, "BTREE", nil),
		myOut("index", "orders", "user_total", "1", "user_id", nil, "BTREE", nil),
		myOut("index", "orders", "user_total", "1", "total", nil, "BTREE", nil),
		myOut("index", "orders", "note_prefix", "1", "note", "10", "BTREE", nil),
		myOut("index", "orders", "note_text", "1", "note", nil, "FULLTEXT", nil),
		myOut("fk", "orders", "orders_ibfk_1", "user_id", "shop", "users", "id", "RESTRICT", "CASCADE"),
		myOut("fk", "orders", "orders_parent", "parent", "shop", "orders", "id", "NO ACTION", "SET NULL"),
		myOut("fk", "orders", "orders_elsewhere", "user_id", "crm", "people", "id", "NO ACTION", "NO ACTION"),
		myOut("check", "users", "profile", "json_valid(`profile`)"),
		myOut("check", "orders", "positive", "`total` >= 0"),
		myOut("view", "active", "select `shop`.`users`.`id` AS `id` from `shop`.`users`"),
		myOut("trigger", "users_bi", "BEFORE INSERT ON users FOR EACH ROW SET NEW.slug = lower(NEW.email)"),
		myOut("routine", "FUNCTION", "double_it", "RETURN x * 2"),
	}, "")
}

func TestMySQLPortableSchema(t *testing.T) {
	var script string
	x, p := myConnectFake(t, myFakeServer{version: "10.11.6-MariaDB-ubu2204", script: func(cmd []string, stdin string) reply {
		script = stdin
		return reply{stdout: mariaSchemaOutput()}
	}})
	s, err := p.Schema(context.Background(), "shop")
	if err != nil {
		t.Fatal(err)
	}
	if s.Meta.Engine != MySQL || s.Meta.Flavor != "MariaDB" || s.Meta.Version != "10.11.6-MariaDB-ubu2204" || s.Meta.Database != "shop" ||
		s.Meta.Format != portable.FormatVersion || s.Meta.Created == "" {
		t.Errorf("meta %+v", s.Meta)
	}
	var names []string
	for _, tb := range s.Tables {
		names = append(names, tb.Name)
	}
	if !reflect.DeepEqual(names, []string{"history", "orders", "users"}) {
		t.Fatalf("tables %q: base and system-versioned tables, in name order", names)
	}
	users, orders := s.Table("users"), s.Table("orders")
	var cols []string
	for _, c := range users.Columns {
		cols = append(cols, c.Name)
	}
	if !reflect.DeepEqual(cols, []string{"id", "email", "profile", "mood", "seen", "slug"}) {
		t.Errorf("users columns %q: in their order", cols)
	}
	id := users.Columns[0]
	if id.Kind != portable.Integer || !id.Unsigned || !id.AutoIncrement || !id.NotNull || id.Type != "int(10) unsigned" {
		t.Errorf("users.id %+v", id)
	}
	if c := users.Columns[2]; c.Kind != portable.JSON || c.Default != nil || c.NotNull {
		t.Errorf("users.profile %+v: JSON through its JSON_VALID check", c)
	}
	if c := users.Columns[3]; c.Kind != portable.Enum || !reflect.DeepEqual(c.Labels, []string{"ok", "it's"}) || deref(c.Default) != "ok" {
		t.Errorf("users.mood %+v", c)
	}
	if c := users.Columns[4]; c.Kind != portable.TimestampTZ || !c.DefaultNow {
		t.Errorf("users.seen %+v", c)
	}
	if c := users.Columns[5]; c.DefaultExpr != "lower(`email`)" || c.Default != nil {
		t.Errorf("users.slug %+v", c)
	}
	if !reflect.DeepEqual(users.PrimaryKey, []string{"id"}) || !reflect.DeepEqual(users.Indexes, []portable.Index{{Name: "email", Unique: true, Columns: []string{"email"}}}) {
		t.Errorf("users keys %q %+v", users.PrimaryKey, users.Indexes)
	}
	if !reflect.DeepEqual(orders.Indexes, []portable.Index{{Name: "user_total", Columns: []string{"user_id", "total"}}}) {
		t.Errorf("orders indexes %+v", orders.Indexes)
	}
	wantFKs := []portable.ForeignKey{
		{Columns: []string{"user_id"}, RefTable: "users", RefColumns: []string{"id"}, OnUpdate: "RESTRICT", OnDelete: "CASCADE"},
		{Columns: []string{"parent"}, RefTable: "orders", RefColumns: []string{"id"}, OnUpdate: "NO ACTION", OnDelete: "SET NULL"},
	}
	if !reflect.DeepEqual(orders.ForeignKeys, wantFKs) {
		t.Errorf("orders foreign keys %+v", orders.ForeignKeys)
	}
	if c := orders.Columns[3]; c.Kind != portable.Decimal || c.Precision != 12 || c.Scale != 2 || deref(c.Default) != "0.00" {
		t.Errorf("orders.total %+v", c)
	}
	unmapped := map[string]string{}
	for _, u := range s.Unmapped {
		unmapped[u.Kind+" "+u.Name] = u.Definition
	}
	for _, want := range []string{"system versioning history", "sequence ids", "on update users.seen", "generated column orders.twice",
		"index note_prefix on orders", "index note_text on orders", "foreign key orders_elsewhere on orders", "check constraint positive on orders",
		"view active", "trigger users_bi", "function double_it"} {
		if _, ok := unmapped[want]; !ok {
			t.Errorf("unmapped lacks %s: %q", want, unmapped)
		}
	}
	if len(unmapped) != 11 {
		t.Errorf("unmapped %q", unmapped)
	}
	if d := unmapped["index note_prefix on orders"]; d != "KEY `note_prefix` (`note`(10))" {
		t.Errorf("prefix index definition %q", d)
	}
	for _, want := range []string{
		"TABLE_SCHEMA = 'shop' AND CAST(TABLE_SCHEMA AS BINARY) = CAST('shop' AS BINARY)",
		"information_schema.CHECK_CONSTRAINTS", "information_schema.REFERENTIAL_CONSTRAINTS", "information_schema.ROUTINES",
		"SET SESSION sql_mode = '', time_zone = '+00:00';",
	} {
		if !strings.Contains(script, want) {
			t.Errorf("schema script lacks %q", want)
		}
	}
	assertSecretOnlyInEnv(t, x, myPassword, "MYSQL_PWD")

	_, p = myConnectFake(t, myFakeServer{version: "8.4.0", script: func(cmd []string, stdin string) reply {
		script = stdin
		return reply{stdout: ""}
	}})
	if _, err := p.Schema(context.Background(), "gone"); err == nil || !strings.Contains(err.Error(), "no database gone") {
		t.Errorf("missing database: %v", err)
	}
	for _, want := range []string{"EXPRESSION", "information_schema.TABLE_CONSTRAINTS t JOIN information_schema.CHECK_CONSTRAINTS"} {
		if !strings.Contains(script, want) {
			t.Errorf("MySQL 8 schema script lacks %q", want)
		}
	}
}

func TestMySQLPortableStateAndCount(t *testing.T) {
	x, p := myConnectFake(t, myFakeServer{version: "10.11.6-MariaDB", script: func(cmd []string, stdin string) reply {
		switch {
		case strings.Contains(stdin, "SCHEMA_NAME = 'empty'"):
			return reply{stdout: "db\n"}
		case strings.Contains(stdin, "SCHEMA_NAME = 'shop'"):
			return reply{stdout: "db\n" + myOut("table", "b`t") + myOut("table", "a")}
		case strings.Contains(stdin, "SCHEMA_NAME = 'gone'"):
			return reply{}
		case strings.Contains(stdin, "COUNT(*) FROM `shop`.`a`;\nSELECT COUNT(*) FROM `shop`.`b``t`;"):
			return reply{stdout: "3\n4\n"}
		case strings.Contains(stdin, "information_schema.SCHEMATA;"):
			return reply{stdout: myOut("", "mysql") + myOut("", "shop") + myOut("", "information_schema") + myOut("", "a\tb") + myOut("", "sys")}
		}
		return reply{code: 1, stderr: "ERROR 1064 (42000): unexpected " + stdin}
	}})
	ctx := context.Background()
	counts, err := p.Tables(ctx, "shop")
	if err != nil || !reflect.DeepEqual(counts, []TableCount{{"a", 3}, {"b`t", 4}}) {
		t.Errorf("counts %+v %v", counts, err)
	}
	for _, tc := range []struct {
		db     string
		exists bool
		rows   int64
	}{{"shop", true, 7}, {"empty", true, 0}, {"gone", false, 0}} {
		exists, rows, err := p.State(ctx, tc.db)
		if err != nil || exists != tc.exists || rows != tc.rows {
			t.Errorf("state of %s: %v %d %v", tc.db, exists, rows, err)
		}
	}
	dbs, err := p.Databases(ctx)
	if err != nil || !reflect.DeepEqual(dbs, []string{"a\tb", "shop"}) {
		t.Errorf("databases %q %v", dbs, err)
	}
	assertSecretOnlyInEnv(t, x, myPassword, "MYSQL_PWD")
}

// loadServer records the loads and answers them with how.
type loadServer struct {
	scripts []string
	how     func(stdin string) reply
	tables  []string // in the database before
}

func (l *loadServer) script(cmd []string, stdin string) reply {
	l.scripts = append(l.scripts, stdin)
	if strings.Contains(stdin, "@@max_allowed_packet") {
		out := "packet\t16777216\n"
		for _, t := range l.tables {
			out += myOut("table", t)
		}
		return reply{stdout: out}
	}
	if l.how != nil {
		return l.how(stdin)
	}
	if strings.Contains(stdin, myDone) {
		return reply{stdout: myDone + "\n" + myDone + "\n"}
	}
	return reply{}
}

func pgLikeSchema() *portable.Schema {
	def := "it's"
	zero := "0"
	return &portable.Schema{
		Meta: portable.Meta{Engine: Postgres, Flavor: "PostgreSQL", Version: "16.4", Database: "shop"},
		Tables: []portable.Table{
			{Name: "users", Columns: []portable.Column{
				{Name: "id", Kind: portable.Integer, Type: "integer", Size: 4, NotNull: true, AutoIncrement: true},
				{Name: "email", Kind: portable.Text, Type: "text", NotNull: true},
				{Name: "bio", Kind: portable.Text, Type: "text", Default: &def},
				{Name: "active", Kind: portable.Boolean, Type: "boolean", Default: &zero},
				{Name: "created", Kind: portable.TimestampTZ, Type: "timestamp with time zone", DefaultNow: true},
				{Name: "token", Kind: portable.UUID, Type: "uuid", DefaultExpr: "gen_random_uuid()"},
			}, PrimaryKey: []string{"id"}, Indexes: []portable.Index{{Name: "users_email_key", Unique: true, Columns: []string{"email"}}}},
			{Name: "orders`x", Columns: []portable.Column{
				{Name: "id", Kind: portable.Integer, Type: "bigint", Size: 8, NotNull: true},
				{Name: "user_id", Kind: portable.Integer, Type: "bigint", Size: 8},
				{Name: "parent", Kind: portable.Integer, Type: "bigint", Size: 8},
				{Name: "amount", Kind: portable.Decimal, Type: "numeric(12,2)", Precision: 12, Scale: 2},
				{Name: "data", Kind: portable.Binary, Type: "bytea"},
			}, PrimaryKey: []string{"id"},
				ForeignKeys: []portable.ForeignKey{
					{Columns: []string{"user_id"}, RefTable: "users", RefColumns: []string{"id"}, OnDelete: "CASCADE", OnUpdate: "NO ACTION"},
					{Columns: []string{"parent"}, RefTable: "orders`x", RefColumns: []string{"id"}, OnDelete: "SET DEFAULT"},
				}},
		},
		Unmapped: []portable.Unmapped{{Kind: "view", Name: "public.active", Definition: "SELECT 1", Reason: "SQLite cannot hold it"}},
	}
}

func pgLikeRows(ctx context.Context, t *portable.Table, fn func([]any) error) error {
	switch t.Name {
	case "users":
		if err := fn([]any{int64(0), "zero@example.com", nil, int64(1), "2024-03-01T13:45:00.5+02:00", nil}); err != nil {
			return err
		}
		return fn([]any{int64(5), "o'brien@example.com", "line\nbreak \\ \x00", int64(0), "2024-03-01T00:00:00+00:00", "7b1e3c1a-0000-4000-8000-000000000001"})
	case "orders`x":
		for i := int64(1); i <= 3; i++ {
			if err := fn([]any{i, int64(5), nil, "12.50", []byte{0, 1, 2}}); err != nil {
				return err
			}
		}
	}
	return nil
}

func TestMySQLPortableLoad(t *testing.T) {
	ls := &loadServer{}
	x, p := myConnectFake(t, myFakeServer{version: "10.11.6-MariaDB", script: ls.script})
	notes, err := p.Load(context.Background(), "shop", pgLikeSchema(), true, pgLikeRows)
	if err != nil {
		t.Fatal(err)
	}
	if len(ls.scripts) != 3 {
		t.Fatalf("%d scripts: %q", len(ls.scripts), ls.scripts)
	}
	if ls.scripts[1] != "CREATE DATABASE `shop` CHARACTER SET utf8mb4;\n" {
		t.Errorf("create %q", ls.scripts[1])
	}
	load := ls.scripts[2]
	for _, want := range []string{
		"SET NAMES utf8mb4;\nSET SESSION sql_mode = 'NO_AUTO_VALUE_ON_ZERO,STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION', time_zone = '+00:00', foreign_key_checks = 0, unique_checks = 0;\nUSE `shop`;\n",
		"CREATE TABLE `users` (\n  `id` int NOT NULL AUTO_INCREMENT,\n  `email` varchar(768) NOT NULL,\n  `bio` longtext NULL DEFAULT 'it''s',\n" +
			"  `active` tinyint(1) NULL DEFAULT 0,\n  `created` datetime(6) NULL DEFAULT CURRENT_TIMESTAMP(6),\n  `token` uuid NULL,\n  PRIMARY KEY (`id`)\n) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;\n",
		// The foreign keys' columns take the type of the key they refer to.
		"CREATE TABLE `orders``x` (\n  `id` bigint NOT NULL,\n  `user_id` int NULL,\n  `parent` bigint NULL,\n  `amount` decimal(12,2) NULL,\n  `data` longblob NULL,\n  PRIMARY KEY (`id`)\n)",
		"INSERT INTO `users` (`id`, `email`, `bio`, `active`, `created`, `token`) VALUES (0, 'zero@example.com', NULL, 1, '2024-03-01 11:45:00.5', NULL)," +
			"(5, 'o''brien@example.com', 'line\\nbreak \\\\ \\0', 0, '2024-03-01 00:00:00', '7b1e3c1a-0000-4000-8000-000000000001');\n",
		"INSERT INTO `orders``x` (`id`, `user_id`, `parent`, `amount`, `data`) VALUES (1, 5, NULL, '12.50', X'000102'),(2, 5, NULL, '12.50', X'000102'),(3, 5, NULL, '12.50', X'000102');\n",
		"SET SESSION unique_checks = 1, foreign_key_checks = 1;\nALTER TABLE `users` ADD UNIQUE KEY `users_email_key` (`email`);\n",
		"ALTER TABLE `orders``x` ADD FOREIGN KEY (`user_id`) REFERENCES `users` (`id`) ON DELETE CASCADE ON UPDATE NO ACTION, ADD FOREIGN KEY (`parent`) REFERENCES `orders``x` (`id`);\n",
		"SELECT COALESCE(MAX(`id`), 0) INTO @docker_backup_max FROM `users`;\n" +
			"SET @docker_backup_sql = IF(@docker_backup_max < 9223372036854775807, CONCAT('ALTER TABLE `users` AUTO_INCREMENT = ', @docker_backup_max + 1), 'DO 0');\n",
		"SELECT '" + myDone + "';\n",
	} {
		if !strings.Contains(load, want) {
			t.Errorf("load lacks\n%s\nin\n%s", want, load)
		}
	}
	if strings.Index(load, "INSERT") > strings.Index(load, "ADD FOREIGN KEY") || strings.Index(load, "CREATE TABLE `orders") > strings.Index(load, "INSERT") {
		t.Errorf("tables, rows, then keys:\n%s", load)
	}
	wantNotes := []string{
		"the view public.active of the source is not imported (SQLite cannot hold it)",
		"column users.token: its default gen_random_uuid() is not applied (the import applies constant defaults only)",
		"a foreign key of table orders`x to orders`x: ON DELETE SET DEFAULT became NO ACTION (InnoDB has no SET DEFAULT)",
	}
	if !reflect.DeepEqual(notes, wantNotes) {
		t.Errorf("notes:\n%q\nwant\n%q", notes, wantNotes)
	}
	for _, c := range x.callsOf("/usr/bin/mariadb") {
		if c.stdin != "" && (!hasArg(c.cmd, "--binary-mode") || !hasArg(c.cmd, "--sandbox") || c.user != "mysql") {
			t.Errorf("%q as %q: not the safe client", c.cmd, c.user)
		}
	}
	assertSecretOnlyInEnv(t, x, myPassword, "MYSQL_PWD")
}

func TestMySQLPortableLoadBatches(t *testing.T) {
	ls := &loadServer{}
	_, p := myConnectFake(t, myFakeServer{version: "10.11.6-MariaDB", script: ls.script})
	s := &portable.Schema{Tables: []portable.Table{{Name: "t", Columns: []portable.Column{{Name: "v", Kind: portable.Text}}}}}
	row := strings.Repeat("x", 100<<10)
	_, err := p.Load(context.Background(), "app", s, false, func(ctx context.Context, t *portable.Table, fn func([]any) error) error {
		for i := 0; i < 25; i++ {
			if err := fn([]any{row}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	load := ls.scripts[len(ls.scripts)-1]
	if n := strings.Count(load, "INSERT INTO"); n != 3 {
		t.Errorf("%d INSERTs for 2.5 MB, want 3 of about 1 MB", n)
	}
	for _, stmt := range strings.SplitAfter(load, ";\n") {
		if len(stmt) > myBatch+1024 {
			t.Errorf("a statement of %d bytes", len(stmt))
		}
	}
	if strings.Contains(load, "CREATE DATABASE") || strings.Contains(ls.scripts[1], "CREATE DATABASE") {
		t.Errorf("database created when it exists")
	}
	// An enum's error value "" goes in alone, without strict mode.
	es := &portable.Schema{Tables: []portable.Table{{Name: "e", Columns: []portable.Column{{Name: "v", Kind: portable.Enum, Labels: []string{"a"}}}}}}
	_, err = p.Load(context.Background(), "app", es, true, func(ctx context.Context, t *portable.Table, fn func([]any) error) error {
		for _, v := range []any{"a", "", nil, "a"} {
			if err := fn([]any{v}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := "INSERT INTO `e` (`v`) VALUES ('a');\n" +
		"SET SESSION sql_mode = 'NO_AUTO_VALUE_ON_ZERO,NO_ENGINE_SUBSTITUTION';\nINSERT INTO `e` (`v`) VALUES ('');\n" +
		"SET SESSION sql_mode = 'NO_AUTO_VALUE_ON_ZERO,STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION';\n" +
		"INSERT INTO `e` (`v`) VALUES (NULL),('a');\n"
	if load := ls.scripts[len(ls.scripts)-1]; !strings.Contains(load, want) {
		t.Errorf("load lacks\n%s\nin\n%s", want, load)
	}

	// A row larger than the server's max_allowed_packet fails clearly.
	_, err = p.Load(context.Background(), "app", s, false, func(ctx context.Context, t *portable.Table, fn func([]any) error) error {
		return fn([]any{strings.Repeat("x", 17<<20)})
	})
	if err == nil || !strings.Contains(err.Error(), "max_allowed_packet (16777216)") {
		t.Errorf("err %v", err)
	}
}

func TestMySQLPortableLoadFails(t *testing.T) {
	ctx := context.Background()
	ls := &loadServer{how: func(stdin string) reply {
		// As MariaDB's client: the failing statement, then the error
		// with its line.
		for i, l := range strings.Split(stdin, "\n") {
			if strings.Contains(l, "ADD FOREIGN KEY") {
				return reply{code: 1, stderr: fmt.Sprintf("--------------\n%s\n--------------\n\nERROR 1452 (23000) at line %d: Cannot add or update a child row: a foreign key constraint fails (`shop`.`#sql-alter-1-5c`, CONSTRAINT ...)\n", l, i+1)}
			}
		}
		return reply{}
	}}
	x, p := myConnectFake(t, myFakeServer{version: "10.11.6-MariaDB", script: ls.script})
	_, err := p.Load(ctx, "shop", pgLikeSchema(), true, pgLikeRows)
	if err == nil || !strings.HasPrefix(err.Error(), "loading database shop into service db: adding the foreign keys of table orders`x: /usr/bin/mariadb failed (exit code 1): ERROR 1452 (23000) at line") ||
		strings.Contains(err.Error(), "REFERENCES") {
		t.Fatalf("err %v", err)
	}
	if last := ls.scripts[len(ls.scripts)-1]; last != "DROP DATABASE IF EXISTS `shop`;\n" {
		t.Errorf("after a failed load: %q, want the new database dropped", last)
	}

	// Into an existing empty database, only the tables it made go.
	ls.scripts = nil
	_, err = p.Load(ctx, "shop", pgLikeSchema(), false, pgLikeRows)
	if err == nil {
		t.Fatal("no error")
	}
	if last := ls.scripts[len(ls.scripts)-1]; last != "SET SESSION foreign_key_checks = 0;\nDROP TABLE IF EXISTS `shop`.`users`, `shop`.`orders``x`;\n" {
		t.Errorf("after a failed load: %q", last)
	}

	// A value MySQL cannot hold stops the load with the table and column.
	ls.how = nil
	ls.scripts = nil
	s := &portable.Schema{Tables: []portable.Table{{Name: "m", Columns: []portable.Column{{Name: "x", Kind: portable.Float}}}}}
	_, err = p.Load(ctx, "shop", s, true, func(ctx context.Context, t *portable.Table, fn func([]any) error) error {
		if err := fn([]any{1.5}); err != nil {
			return err
		}
		return fn([]any{math.Inf(1)})
	})
	if err == nil || !strings.Contains(err.Error(), "table m, column x") || !strings.Contains(err.Error(), "no NaN or infinity") {
		t.Errorf("err %v", err)
	}
	if last := ls.scripts[len(ls.scripts)-1]; last != "DROP DATABASE IF EXISTS `shop`;\n" {
		t.Errorf("after a failed load: %q", last)
	}

	// A load the client did not finish is no load.
	ls.how = func(string) reply { return reply{} }
	if _, err = p.Load(ctx, "shop", s, true, func(context.Context, *portable.Table, func([]any) error) error { return nil }); err == nil ||
		!strings.Contains(err.Error(), "stopped before the end") {
		t.Errorf("err %v", err)
	}

	// A table that is there already is never dropped.
	ls.how, ls.tables, ls.scripts = nil, []string{"Users"}, nil
	_, err = p.Load(ctx, "shop", pgLikeSchema(), false, pgLikeRows)
	if err == nil || !strings.Contains(err.Error(), "already has a table users") || len(ls.scripts) != 1 {
		t.Errorf("err %v after %q", err, ls.scripts)
	}
	assertSecretOnlyInEnv(t, x, myPassword, "MYSQL_PWD")
}

func TestMySQLImportPlanFromMySQL(t *testing.T) {
	s := &portable.Schema{Meta: portable.Meta{Engine: MySQL, Flavor: "MariaDB"}, Tables: []portable.Table{{
		Name: "t",
		Columns: []portable.Column{
			{Name: "a", Kind: portable.Integer, Type: "int(11)", Size: 4, NotNull: true},
			{Name: "id", Kind: portable.Integer, Type: "bigint(20) unsigned", Size: 8, Unsigned: true, NotNull: true, AutoIncrement: true},
			{Name: "t", Kind: portable.Timestamp, Type: "datetime(3)", DefaultNow: true},
			{Name: "bits", Kind: portable.Other, Type: "bit(4)", Default: ptr("0101")},
			{Name: "big1", Kind: portable.Text, Type: "varchar(10000)", Length: 10000},
			{Name: "big2", Kind: portable.Text, Type: "varchar(10000)", Length: 10000},
			{Name: "code", Kind: portable.Text, Type: "varchar(1000)", Length: 1000},
		},
		// The AUTO_INCREMENT column is not first in the primary key: its
		// index is made with the table.
		PrimaryKey: []string{"a", "id"},
		Indexes: []portable.Index{{Name: "PRIMARY", Columns: []string{"id"}}, {Name: "by_code", Unique: true, Columns: []string{"code", "a"}},
			{Name: "by_code", Columns: []string{"a"}}},
	}}}
	p, err := myTarget{flavor: "MariaDB", ver: []int{10, 11, 6}}.importPlan(s)
	if err != nil {
		t.Fatal(err)
	}
	create := p.tables[0].create
	for _, want := range []string{"`id` bigint(20) unsigned NOT NULL AUTO_INCREMENT", "`t` datetime(3) NULL DEFAULT CURRENT_TIMESTAMP(3)",
		"`bits` bit(4) NULL DEFAULT b'0101'", "`big1` longtext NULL", "`big2` varchar(10000) NULL", "PRIMARY KEY (`a`, `id`)", "KEY `idx` (`id`)"} {
		if !strings.Contains(create, want) {
			t.Errorf("create lacks %q:\n%s", want, create)
		}
	}
	if p.tables[0].indexes != "ALTER TABLE `t` ADD KEY `by_code` (`a`);\n" {
		t.Errorf("indexes %q", p.tables[0].indexes)
	}
	joined := strings.Join(p.notes, "\n")
	for _, want := range []string{"column t.big1: varchar(10000) became longtext (MySQL's row size limit)",
		"the unique key by_code of table t (code, a) is not created: it is wider than MySQL's 3072 bytes a key"} {
		if !strings.Contains(joined, want) {
			t.Errorf("notes lack %q:\n%s", want, joined)
		}
	}
	if !p.tables[0].cols[3].bit {
		t.Errorf("bit column not written as bits")
	}
}

func ptr(s string) *string { return &s }

func TestMySQLClientFailed(t *testing.T) {
	cmd := []string{"/usr/bin/mariadb", "--user=root"}
	echo := "--------------\nINSERT INTO `t` VALUES ('" + strings.Repeat("secret data ", 100) + "')\n--------------\n\nERROR 1062 (23000) at line 9: Duplicate entry '1' for key 'PRIMARY'\n"
	err := myClientFailed(cmd, 0, errors.New("feeding /usr/bin/mariadb: write: broken pipe"), echo)
	if err == nil || err.Error() != "/usr/bin/mariadb failed: ERROR 1062 (23000) at line 9: Duplicate entry '1' for key 'PRIMARY'" {
		t.Errorf("err %v", err)
	}
	err = myClientFailed(cmd, 1, nil, echo)
	if err == nil || err.Error() != "/usr/bin/mariadb failed (exit code 1): ERROR 1062 (23000) at line 9: Duplicate entry '1' for key 'PRIMARY'" {
		t.Errorf("err %v", err)
	}
	if err := myClientFailed(cmd, 2, nil, "mariadb: unknown option '--sandbox'"); err == nil || !strings.Contains(err.Error(), "unknown option") {
		t.Errorf("err %v", err)
	}
	gone := errors.New("cannot attach")
	if err := myClientFailed(cmd, 0, gone, ""); err != gone {
		t.Errorf("err %v", err)
	}
	if err := myClientFailed(cmd, 0, nil, "warning"); err != nil {
		t.Errorf("err %v", err)
	}
}
