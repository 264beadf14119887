package dbdump

import (
	"bufio"
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"math"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/docker-backup/docker-backup/internal/portable"
)

// pgBuiltinTypes are the types a PostgreSQL export may name as they are:
// format_type's spelling of the built-in types, nothing an extension or
// the user defines (those become their kind's type).
var pgBuiltinTypes = map[string]bool{
	"smallint": true, "integer": true, "bigint": true, "boolean": true, "numeric": true, "real": true, "double precision": true,
	"text": true, "character varying": true, "character": true, "date": true, "time without time zone": true,
	"time with time zone": true, "timestamp without time zone": true, "timestamp with time zone": true, "uuid": true,
	"json": true, "jsonb": true, "bytea": true, "interval": true, "inet": true, "cidr": true, "macaddr": true, "macaddr8": true,
	"money": true, "bit": true, "bit varying": true, "xml": true, "tsvector": true, "tsquery": true, "point": true,
	"line": true, "lseg": true, "box": true, "path": true, "polygon": true, "circle": true, "oid": true, "name": true,
	"int4range": true, "int8range": true, "numrange": true, "tsrange": true, "tstzrange": true, "daterange": true,
}

// pgTypeSyntax is format_type's output: a name, a modifier, the zone
// words of time types, array brackets. The name must then be built in.
var pgTypeSyntax = regexp.MustCompile(`^([a-z][a-z0-9 ]*?)(\(\d+(?:,\d+)?\))?( with(?:out)? time zone)?((?:\[\])*)$`)

// pgImport is the script that loads an export into PostgreSQL.
type pgImport struct {
	s      *portable.Schema
	types  [][]string // per table, per column
	enums  []string   // CREATE TYPE statements
	schema []string   // CREATE SCHEMA statements
	rels   []string   // per table, its qualified name
	notes  []string
}

// pgMaxIdent is the length in bytes of PostgreSQL's names (NAMEDATALEN-1):
// longer ones are cut, which the load would not notice until the tables
// it counts are not the file's.
const pgMaxIdent = 63

// pgCheckName refuses a name PostgreSQL would not keep as it is; what
// says whose it is (table "x", column "y" of table "x").
func pgCheckName(what, name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: %s has an empty name, which PostgreSQL does not allow: rename it in the source and export again", ErrBadName, what)
	case strings.IndexByte(name, 0) >= 0:
		return fmt.Errorf("%w: the name of %s holds a NUL byte, which PostgreSQL does not allow: rename it in the source and export again", ErrBadName, what)
	case !utf8.ValidString(name):
		return fmt.Errorf("%w: the name of %s is not valid UTF-8: rename it in the source and export again", ErrBadName, what)
	case len(name) > pgMaxIdent:
		return fmt.Errorf("%w: %s is %d bytes, PostgreSQL keeps %d of a name (and cuts the rest): rename it in the source to at most %d bytes and export again",
			ErrNameTooLong, what, len(name), pgMaxIdent, pgMaxIdent)
	}
	return nil
}

// pgCheckText refuses a label or default PostgreSQL text cannot hold.
func pgCheckText(what, v string) error {
	if strings.IndexByte(v, 0) >= 0 {
		return fmt.Errorf("%w: %s holds a NUL byte, which PostgreSQL text cannot: change it in the source and export again", ErrBadValue, what)
	}
	return nil
}

func pgImportPlan(s *portable.Schema) (*pgImport, error) {
	p := &pgImport{s: s}
	same := s.Meta.Engine == Postgres
	schemas := map[string]bool{}
	enumTypes := map[string]bool{}
	for _, t := range s.Tables {
		schema, name := "public", t.Name
		if same && t.Schema != "" && t.Schema != "public" && strings.HasPrefix(t.Name, t.Schema+".") {
			schema, name = t.Schema, strings.TrimPrefix(t.Name, t.Schema+".")
			if err := pgCheckName(fmt.Sprintf("schema %q", schema), schema); err != nil {
				return nil, err
			}
			if !schemas[schema] {
				schemas[schema] = true
				p.schema = append(p.schema, "CREATE SCHEMA IF NOT EXISTS "+pgIdent(schema)+";")
			}
		}
		if err := pgCheckName(fmt.Sprintf("table %q", t.Name), name); err != nil {
			return nil, err
		}
		p.rels = append(p.rels, pgIdent(schema)+"."+pgIdent(name))
		var types []string
		for _, c := range t.Columns {
			if err := pgCheckName(fmt.Sprintf("column %q of table %q", c.Name, t.Name), c.Name); err != nil {
				return nil, err
			}
			typ := pgColumnType(c, same)
			if c.Kind == portable.Enum && len(c.Labels) > 0 {
				// An enum type per column, named after it: labels are
				// quoted here, never copied as SQL.
				en := truncateIdent(strings.TrimPrefix(t.Name, schema+".") + "_" + c.Name)
				if same && pgTypeSyntax.MatchString(c.Type) && !pgBuiltinTypes[c.Type] {
					en = c.Type
				}
				q := pgIdent(schema) + "." + pgIdent(en)
				if !enumTypes[q] {
					enumTypes[q] = true
					labels := make([]string, len(c.Labels))
					for i, l := range c.Labels {
						if err := pgCheckText(fmt.Sprintf("a label of column %q of table %q", c.Name, t.Name), l); err != nil {
							return nil, err
						}
						labels[i] = pgLiteral(l)
					}
					p.enums = append(p.enums, "CREATE TYPE "+q+" AS ENUM ("+strings.Join(labels, ", ")+");")
				}
				typ = q
			}
			types = append(types, typ)
			if c.Default != nil {
				if err := pgCheckText(fmt.Sprintf("the default of column %q of table %q", c.Name, t.Name), *c.Default); err != nil {
					return nil, err
				}
			}
			if c.DefaultExpr != "" {
				p.notes = append(p.notes, fmt.Sprintf("the default of %s.%s (%s) is not applied", t.Name, c.Name, c.DefaultExpr))
			}
		}
		p.types = append(p.types, types)
	}
	for _, u := range s.Unmapped {
		p.notes = append(p.notes, fmt.Sprintf("not imported: %s %s (%s)", u.Kind, u.Name, u.Reason))
	}
	return p, nil
}

// truncateIdent keeps a name within PostgreSQL's 63 bytes.
func truncateIdent(s string) string {
	for len(s) > 63 {
		_, size := lastRune(s)
		s = s[:len(s)-size]
	}
	return s
}

func lastRune(s string) (rune, int) {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i]&0xc0 != 0x80 {
			return rune(s[i]), len(s) - i
		}
	}
	return 0, 1
}

// pgColumnType is the type a column gets: its own when it came from
// PostgreSQL and is built in, else its kind's.
func pgColumnType(c portable.Column, same bool) string {
	if same {
		if m := pgTypeSyntax.FindStringSubmatch(c.Type); m != nil && pgBuiltinTypes[strings.TrimSpace(m[1]+m[3])] {
			return c.Type
		}
	}
	switch c.Kind {
	case portable.Integer:
		switch {
		case c.Size == 8 && c.Unsigned:
			return "numeric(20,0)"
		case c.Size == 8 || (c.Size == 4 && c.Unsigned):
			return "bigint"
		case c.Size == 0 && !same:
			// SQLite's integers are 64 bits.
			return "bigint"
		case c.Size <= 2 && !(c.Size == 2 && c.Unsigned):
			if c.Size == 0 {
				return "bigint"
			}
			return "smallint"
		}
		return "integer"
	case portable.Boolean:
		return "boolean"
	case portable.Decimal:
		if c.Precision > 0 && c.Precision <= 1000 {
			return fmt.Sprintf("numeric(%d,%d)", c.Precision, c.Scale)
		}
		return "numeric"
	case portable.Float:
		if c.Size == 4 {
			return "real"
		}
		return "double precision"
	case portable.Text:
		if c.Length > 0 && c.Length <= 10485760 {
			if strings.HasPrefix(strings.ToLower(c.Type), "char(") || strings.HasPrefix(strings.ToLower(c.Type), "character(") {
				return fmt.Sprintf("character(%d)", c.Length)
			}
			return fmt.Sprintf("character varying(%d)", c.Length)
		}
		return "text"
	case portable.Date:
		return "date"
	case portable.Time:
		return "time without time zone"
	case portable.Timestamp:
		return "timestamp without time zone"
	case portable.TimestampTZ:
		return "timestamp with time zone"
	case portable.UUID:
		return "uuid"
	case portable.JSON:
		return "json"
	case portable.Binary:
		return "bytea"
	}
	return "text"
}

// pgDefault is a column's default as a constant of its type, "" for none.
func pgDefault(c portable.Column, typ string) string {
	if c.DefaultNow {
		switch c.Kind {
		case portable.Timestamp, portable.TimestampTZ, portable.Date, portable.Time:
			return "CURRENT_TIMESTAMP"
		}
		return ""
	}
	if c.Default == nil || c.AutoIncrement {
		return ""
	}
	v := *c.Default
	switch c.Kind {
	case portable.Boolean:
		if v == "1" || strings.EqualFold(v, "true") {
			return "true"
		}
		return "false"
	case portable.Binary:
		return ""
	}
	return pgLiteral(v) + "::" + typ
}

// write sends the whole load to psql: the tables, their rows through
// COPY, then the keys, the indexes and the counters.
func (p *pgImport) write(ctx context.Context, w io.Writer, restrictKey string, src RowSource) error {
	bw := bufio.NewWriterSize(w, 1<<20)
	if restrictKey != "" {
		fmt.Fprintf(bw, "\\restrict %s\n", restrictKey)
	}
	// One transaction, begun and committed by the script itself: psql
	// takes the end of its input for the end of the script, and
	// --single-transaction would then commit what came before, where a
	// transaction left open is rolled back when psql exits.
	bw.WriteString(pgSessionSQL + "SET client_min_messages = warning;\nSET TimeZone = 'UTC';\nBEGIN;\n")
	for _, q := range p.schema {
		bw.WriteString(q + "\n")
	}
	for _, q := range p.enums {
		bw.WriteString(q + "\n")
	}
	for ti, t := range p.s.Tables {
		var cols []string
		for ci, c := range t.Columns {
			col := pgIdent(c.Name) + " " + p.types[ti][ci]
			if c.AutoIncrement && c.Kind == portable.Integer && ci < len(p.types[ti]) && isPgInt(p.types[ti][ci]) {
				col += " GENERATED BY DEFAULT AS IDENTITY"
			} else if d := pgDefault(c, p.types[ti][ci]); d != "" {
				col += " DEFAULT " + d
			}
			if c.NotNull {
				col += " NOT NULL"
			}
			cols = append(cols, col)
		}
		fmt.Fprintf(bw, "CREATE TABLE %s (%s);\n", p.rels[ti], strings.Join(cols, ", "))
	}
	for ti := range p.s.Tables {
		t := &p.s.Tables[ti]
		names := make([]string, len(t.Columns))
		for i, c := range t.Columns {
			names[i] = pgIdent(c.Name)
		}
		fmt.Fprintf(bw, "COPY %s (%s) FROM STDIN;\n", p.rels[ti], strings.Join(names, ", "))
		var line []byte
		err := src(ctx, t, func(row []any) error {
			line = line[:0]
			for i, v := range row {
				if i > 0 {
					line = append(line, '\t')
				}
				var err error
				if line, err = pgCopyValue(line, t.Columns[i], v); err != nil {
					return fmt.Errorf("table %s, column %s: %w", t.Name, t.Columns[i].Name, err)
				}
			}
			line = append(line, '\n')
			_, err := bw.Write(line)
			return err
		})
		if err != nil {
			return err
		}
		bw.WriteString("\\.\n")
	}
	// Keys and indexes after the data: one sort each instead of a row
	// at a time.
	for ti, t := range p.s.Tables {
		if len(t.PrimaryKey) > 0 {
			fmt.Fprintf(bw, "ALTER TABLE %s ADD PRIMARY KEY (%s);\n", p.rels[ti], pgIdents(t.PrimaryKey))
		}
		for _, ix := range t.Indexes {
			if ix.Unique {
				fmt.Fprintf(bw, "ALTER TABLE %s ADD CONSTRAINT %s UNIQUE (%s);\n", p.rels[ti], pgIdent(truncateIdent(ix.Name)), pgIdents(ix.Columns))
			} else {
				fmt.Fprintf(bw, "CREATE INDEX %s ON %s (%s);\n", pgIdent(truncateIdent(ix.Name)), p.rels[ti], pgIdents(ix.Columns))
			}
		}
	}
	rel := map[string]string{}
	for ti, t := range p.s.Tables {
		rel[t.Name] = p.rels[ti]
	}
	for ti, t := range p.s.Tables {
		for _, fk := range t.ForeignKeys {
			parent, ok := rel[fk.RefTable]
			if !ok {
				return fmt.Errorf("table %s has a foreign key to %s, which the file does not hold", t.Name, fk.RefTable)
			}
			q := fmt.Sprintf("ALTER TABLE %s ADD FOREIGN KEY (%s) REFERENCES %s (%s)", p.rels[ti], pgIdents(fk.Columns), parent, pgIdents(fk.RefColumns))
			if a := pgFKAction(fk.OnDelete); a != "" {
				q += " ON DELETE " + a
			}
			if a := pgFKAction(fk.OnUpdate); a != "" {
				q += " ON UPDATE " + a
			}
			bw.WriteString(q + ";\n")
		}
	}
	for ti, t := range p.s.Tables {
		for ci, c := range t.Columns {
			if c.AutoIncrement && c.Kind == portable.Integer && isPgInt(p.types[ti][ci]) {
				fmt.Fprintf(bw, "SELECT setval(pg_get_serial_sequence(%s, %s), coalesce(max(%s), 0) + 1, false) FROM %s;\n",
					pgLiteral(p.rels[ti]), pgLiteral(c.Name), pgIdent(c.Name), p.rels[ti])
			}
		}
	}
	bw.WriteString("COMMIT;\n")
	return bw.Flush()
}

func isPgInt(t string) bool { return t == "smallint" || t == "integer" || t == "bigint" }

func pgIdents(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = pgIdent(n)
	}
	return strings.Join(q, ", ")
}

func pgFKAction(a string) string {
	switch a = strings.ToUpper(strings.TrimSpace(a)); a {
	case "CASCADE", "RESTRICT", "SET NULL", "SET DEFAULT":
		return a
	}
	return ""
}

// pgCopyValue appends v in COPY's text format.
func pgCopyValue(b []byte, c portable.Column, v any) ([]byte, error) {
	if v == nil {
		return append(b, `\N`...), nil
	}
	switch c.Kind {
	case portable.Binary:
		var raw []byte
		switch x := v.(type) {
		case []byte:
			raw = x
		case string:
			raw = []byte(x)
		default:
			return nil, fmt.Errorf("a %T where bytes were expected", v)
		}
		b = append(b, `\\x`...)
		return hex.AppendEncode(b, raw), nil
	case portable.Boolean:
		switch x := v.(type) {
		case int64:
			if x != 0 {
				return append(b, 't'), nil
			}
			return append(b, 'f'), nil
		case float64:
			if x != 0 {
				return append(b, 't'), nil
			}
			return append(b, 'f'), nil
		}
	case portable.Float:
		if x, ok := v.(float64); ok {
			switch {
			case math.IsNaN(x):
				return append(b, "NaN"...), nil
			case math.IsInf(x, 1):
				return append(b, "Infinity"...), nil
			case math.IsInf(x, -1):
				return append(b, "-Infinity"...), nil
			}
			bits := 64
			if c.Size == 4 {
				bits = 32
			}
			return strconv.AppendFloat(b, x, 'g', -1, bits), nil
		}
	}
	var s string
	switch x := v.(type) {
	case int64:
		return strconv.AppendInt(b, x, 10), nil
	case float64:
		return strconv.AppendFloat(b, x, 'g', -1, 64), nil
	case string:
		s = x
	case []byte:
		s = string(x)
	default:
		return nil, fmt.Errorf("unexpected value of type %T", v)
	}
	if strings.IndexByte(s, 0) >= 0 {
		return nil, fmt.Errorf("PostgreSQL text cannot hold a NUL character")
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\':
			b = append(b, '\\', '\\')
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			b = append(b, c)
		}
	}
	return b, nil
}

// pgLockSlack is what the load's transaction locks besides the objects it
// creates: the catalogs it writes, its own transaction.
const pgLockSlack = 64

// locks estimates how many objects the load's one transaction locks, each
// until it commits: every table, its TOAST table and that table's index,
// its identity sequences, its primary key and indexes.
func (p *pgImport) locks() int {
	n := pgLockSlack
	for ti, t := range p.s.Tables {
		n++
		if pgNeedsToast(p.types[ti]) {
			n += 2
		}
		for ci, c := range t.Columns {
			if c.AutoIncrement && c.Kind == portable.Integer && isPgInt(p.types[ti][ci]) {
				n++
			}
		}
		if len(t.PrimaryKey) > 0 {
			n++
		}
		n += len(t.Indexes)
	}
	return n
}

// pgFixedWidths are the bytes of the types a row holds in place: a table
// of only these has no TOAST table. Enums, named by their type, are 4.
var pgFixedWidths = map[string]int{
	"smallint": 2, "integer": 4, "bigint": 8, "boolean": 1, "real": 4, "double precision": 8, "date": 4,
	"time without time zone": 8, "time with time zone": 12, "timestamp without time zone": 8,
	"timestamp with time zone": 8, "uuid": 16, "money": 8, "oid": 4, "macaddr": 6, "macaddr8": 8, "point": 16,
	"lseg": 32, "box": 32, "line": 24, "circle": 24, "interval": 16, "name": 64,
}

var pgBounded = regexp.MustCompile(`^(character varying|character|numeric|bit|bit varying)\((\d+)(?:,\d+)?\)$`)

// pgTimeTypmod drops the precision of a time type, which leaves its width.
var pgTimeTypmod = regexp.MustCompile(`^(time|timestamp)\(\d\)`)

// pgNeedsToast follows PostgreSQL's needs_toast_table: a table gets a
// TOAST table when a row of the widest values of its types could pass
// about 2 kB, or one type has no bound (text, bytea, json, numeric).
func pgNeedsToast(types []string) bool {
	width := 24 + (len(types)+7)/8
	for _, t := range types {
		t = pgTimeTypmod.ReplaceAllString(t, "$1")
		if w, ok := pgFixedWidths[t]; ok {
			width += w
			continue
		}
		if strings.HasPrefix(t, `"`) && !strings.HasSuffix(t, "[]") {
			width += 4 // an enum
			continue
		}
		m := pgBounded.FindStringSubmatch(t)
		if m == nil {
			return true
		}
		n, _ := strconv.Atoi(m[2])
		switch m[1] {
		case "character varying", "character":
			width += 4*n + 4 // UTF-8: up to 4 bytes a character
		case "numeric":
			width += (n+3)/4*2 + 8
		default:
			width += (n+7)/8 + 8
		}
	}
	return width > 2032
}

// pgLockSettings are the settings that size the server's lock table:
// max_locks_per_transaction objects for each server process and prepared
// transaction (PostgreSQL's MaxBackends: the connections, the autovacuum
// workers and their launcher, the background workers, the WAL senders).
const pgLockSettings = "SELECT concat_ws(' ', current_setting('max_locks_per_transaction'), current_setting('max_connections'), " +
	"current_setting('autovacuum_max_workers'), current_setting('max_worker_processes'), " +
	"coalesce(current_setting('max_wal_senders', true), '0'), current_setting('max_prepared_transactions'))"

// pgCheckLocks refuses a load whose transaction locks more objects (need)
// than the server's lock table holds, as pgLockSettings gives its size:
// it would fail with "out of shared memory" at the end, after loading
// every row.
func pgCheckLocks(need int, settings string) error {
	var perTx, conns, autovacuum, workers, senders, prepared int
	if _, err := fmt.Sscan(settings, &perTx, &conns, &autovacuum, &workers, &senders, &prepared); err != nil {
		return fmt.Errorf("unexpected lock settings %q", strings.TrimSpace(settings))
	}
	slots := conns + autovacuum + 1 + workers + senders + prepared
	have := perTx * slots
	if need <= have {
		return nil
	}
	// A tenth more: other sessions hold locks too.
	want := (need + need/10 + slots - 1) / slots
	return fmt.Errorf("%w: its one transaction (a failed import leaves nothing) locks about %d tables, indexes and sequences, and the server's lock table holds %d (max_locks_per_transaction %d for each of %d server processes and prepared transactions): set max_locks_per_transaction to at least %d (postgres -c max_locks_per_transaction=%d, or in postgresql.conf) and restart the server, then import again",
		ErrTooManyLocks, need, have, perTx, slots, want, want)
}
