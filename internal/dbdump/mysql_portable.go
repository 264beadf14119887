package dbdump

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/docker-backup/docker-backup/internal/portable"
)

// The client prints rows in its batch format: one line a row, its fields
// separated by tabs, with tab, newline, backslash and NUL escaped in the
// values (without --raw). Every value is selected as "N" for NULL or "v"
// and its text, so that NULL, the string "NULL" and the string "N" differ;
// a line starting with neither is one of these markers.
const (
	myEnd  = "#end"
	myDone = "#docker-backup-load-done"
)

// myBatch is the size of one multi-row INSERT of a load.
const myBatch = 1 << 20

// myKeyBytes is InnoDB's limit on an index's width (DYNAMIC rows), and
// myRowBytes the server's on a row's declared width (TEXT and BLOB count
// for a few bytes: their values live off the row).
const (
	myKeyBytes = 3072
	myRowBytes = 65535
)

// errMyLoadEnded tells the writer of a load that the client is gone.
var errMyLoadEnded = errors.New("the load ended")

// myConn is a connection to a MySQL or MariaDB server through its own
// client in its container.
type myConn struct {
	sess    session
	service string
	flavor  string
	version string
	ver     []int
	// script runs SQL read on stdin and prints rows; loader loads SQL.
	// Both run with the safe flags of a load (--binary-mode): what they
	// read is never taken for client commands.
	script []string
	loader []string
}

// mysqlPortable connects to the MySQL or MariaDB server of t for an export
// or an import, as mysqlConnect does: the server's own client in its
// container, the password in the exec's environment only.
func mysqlPortable(ctx context.Context, x execer, t Target) (*Portable, error) {
	c, err := mysqlClient(ctx, x, t)
	if err != nil {
		return nil, err
	}
	sess, client, version, note := c.sess, c.client, c.version, c.note
	safe, err := safeLoadFlags(ctx, sess, client[0], t.Service)
	if err != nil {
		return nil, err
	}
	m := &myConn{sess: sess, service: t.Service, flavor: "MySQL", version: version, ver: leadingNumbers(version)}
	if strings.Contains(strings.ToLower(version), "mariadb") {
		m.flavor = "MariaDB"
	}
	m.script = myCmd(myCmd(client, "--batch", "--quick", "--skip-column-names"), safe...)
	m.loader = myCmd(client, safe...)
	p := &Portable{Engine: MySQL, Flavor: m.flavor, Version: version}
	if note != "" {
		p.Notes = append(p.Notes, "service "+t.Service+": "+note)
	}
	p.dbs = m.databases
	p.schema = m.schema
	p.rows = m.rows
	p.state = m.state
	p.load = m.load
	p.check = func(ctx context.Context, db string, s *portable.Schema) error {
		if err := myCheckName(fmt.Sprintf("database %q", db), db); err != nil {
			return err
		}
		_, err := myTarget{flavor: m.flavor, ver: m.ver}.importPlan(s)
		return err
	}
	p.count = m.count
	return p, nil
}

// myCmd is cmd with args appended, never sharing cmd's array.
func myCmd(cmd []string, args ...string) []string {
	return append(append(make([]string, 0, len(cmd)+len(args)), cmd...), args...)
}

// atLeast tells whether the server's version is at least v.
func (m *myConn) atLeast(v ...int) bool { return myTarget{ver: m.ver}.atLeast(v...) }

func (m *myConn) mariaDB() bool { return m.flavor == "MariaDB" }

// run feeds script to the client and calls fn with the fields of each
// line of its output, as it comes: the output is never held whole. The
// fields share a buffer that the next line reuses.
func (m *myConn) run(ctx context.Context, script string, fn func(fields [][]byte) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	pr, pw := io.Pipe()
	stderr := &tailBuffer{max: 8 << 10}
	done := make(chan error, 1)
	go func() {
		o := m.sess.opts(m.script)
		o.Stdin, o.Stdout, o.Stderr = strings.NewReader(script), pw, stderr
		code, err := m.sess.x.Exec(ctx, m.sess.id, o)
		err = myClientFailed(m.script, code, err, stderr.String())
		pw.CloseWithError(err)
		done <- err
	}()
	err := myParseLines(pr, fn)
	if err != nil {
		// Stops the client, which may be in the middle of a table.
		cancel()
	}
	pr.CloseWithError(errors.New("the output is no longer read"))
	if xerr := <-done; xerr != nil && (err == nil || errors.Is(err, io.ErrUnexpectedEOF)) {
		err = xerr
	}
	return err
}

// myClientFailed is the error of a client that exited with code or failed
// with err: the server's ERROR line when it printed one (MariaDB's client
// also prints the failing statement, which holds the rows of a load).
func myClientFailed(cmd []string, code int, err error, stderr string) error {
	if err == nil && code == 0 {
		return nil
	}
	msg := stderr
	if i := strings.LastIndex("\n"+stderr, "\nERROR "); i >= 0 {
		msg = strings.TrimSpace(stderr[i:])
	} else if err != nil {
		return err
	}
	if err != nil {
		// The client stopped reading: the exec fails on its input
		// before it reports the exit code.
		return fmt.Errorf("%s failed: %s", cmd[0], msg)
	}
	return toolError(cmd, code, msg)
}

// myParseLines splits the client's batch output into lines and fields.
func myParseLines(r io.Reader, fn func(fields [][]byte) error) error {
	br := bufio.NewReaderSize(r, 1<<20)
	var line []byte
	var fields [][]byte
	for {
		var err error
		line, err = readLine(br, line)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if fields, err = mySplit(line, fields[:0]); err != nil {
			return err
		}
		if err := fn(fields); err != nil {
			return err
		}
	}
}

// mySplit splits a line at its tabs and undoes the client's escapes, in
// place.
func mySplit(line []byte, fields [][]byte) ([][]byte, error) {
	w, start := 0, 0
	for r := 0; r < len(line); r++ {
		c := line[r]
		switch c {
		case '\t':
			fields = append(fields, line[start:w:w])
			start = w
			continue
		case '\\':
			r++
			if r == len(line) {
				return nil, errors.New("the client's output ends a line with a lone backslash")
			}
			switch line[r] {
			case 'n':
				c = '\n'
			case 't':
				c = '\t'
			case '\\':
				c = '\\'
			case '0':
				c = 0
			default:
				return nil, fmt.Errorf("the client's output has the unknown escape \\%c", line[r])
			}
		}
		line[w] = c
		w++
	}
	return append(fields, line[start:w:w]), nil
}

// myValue reads a field selected with nv: null, or the value.
func myValue(f []byte) (v []byte, null bool, err error) {
	switch {
	case len(f) == 1 && f[0] == 'N':
		return nil, true, nil
	case len(f) > 0 && f[0] == 'v':
		return f[1:], false, nil
	}
	return nil, false, fmt.Errorf("unexpected output %.40q from the client", f)
}

// nv selects expr as "N" when NULL, else "v" and its text.
func nv(expr string) string {
	return "IF(" + expr + " IS NULL, 'N', CONCAT('v', " + expr + "))"
}

func myIdents(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = myIdent(n)
	}
	return strings.Join(q, ", ")
}

// mySchemaIs is a condition on an information_schema column naming db:
// the plain comparison lets the server open only db's tables, the binary
// one tells App from app (the catalog's collation does not).
func mySchemaIs(col, db string) string {
	lit := myLiteral(db)
	return col + " = " + lit + " AND CAST(" + col + " AS BINARY) = CAST(" + lit + " AS BINARY)"
}

// myReadSession makes a session read values as this file expects them:
// the client's character set, no sql_mode that changes literals or pads
// CHAR, timestamps in UTC.
const myReadSession = "SET NAMES utf8mb4;\nSET SESSION sql_mode = '', time_zone = '+00:00';\n"

func (m *myConn) databases(ctx context.Context) ([]string, error) {
	var out []string
	err := m.run(ctx, myReadSession+"SELECT "+nv("SCHEMA_NAME")+" FROM information_schema.SCHEMATA;\n", func(f [][]byte) error {
		v, null, err := myValue(f[0])
		if err == nil && !null && !systemSchemas[string(v)] {
			out = append(out, string(v))
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("listing the databases of service %s: %w", m.service, err)
	}
	sort.Strings(out)
	return out, nil
}

// myTableTypes are the tables an export reads: a system-versioned table
// (MariaDB) gives its current rows.
const myTableTypes = "('BASE TABLE', 'SYSTEM VERSIONED')"

// tables lists db's tables, and whether db exists.
func (m *myConn) tables(ctx context.Context, db string) (names []string, exists bool, err error) {
	script := myReadSession +
		"SELECT 'db' FROM information_schema.SCHEMATA WHERE " + mySchemaIs("SCHEMA_NAME", db) + ";\n" +
		"SELECT 'table', " + nv("TABLE_NAME") + " FROM information_schema.TABLES WHERE " + mySchemaIs("TABLE_SCHEMA", db) +
		" AND TABLE_TYPE IN " + myTableTypes + ";\n"
	err = m.run(ctx, script, func(f [][]byte) error {
		switch {
		case len(f) == 1 && string(f[0]) == "db":
			exists = true
		case len(f) == 2 && string(f[0]) == "table":
			v, _, err := myValue(f[1])
			if err != nil {
				return err
			}
			names = append(names, string(v))
		default:
			return fmt.Errorf("unexpected output %.40q from the client", bytes.Join(f, []byte{'\t'}))
		}
		return nil
	})
	sort.Strings(names)
	return names, exists, err
}

func (m *myConn) count(ctx context.Context, db string) ([]TableCount, error) {
	names, _, err := m.tables(ctx, db)
	if err != nil {
		return nil, fmt.Errorf("listing the tables of database %s of service %s: %w", db, m.service, err)
	}
	if len(names) == 0 {
		return nil, nil
	}
	var script strings.Builder
	script.WriteString(myReadSession)
	for _, n := range names {
		fmt.Fprintf(&script, "SELECT COUNT(*) FROM %s.%s;\n", myIdent(db), myIdent(n))
	}
	var out []TableCount
	err = m.run(ctx, script.String(), func(f [][]byte) error {
		n, err := strconv.ParseInt(string(f[0]), 10, 64)
		if err != nil || len(f) != 1 || len(out) == len(names) {
			return fmt.Errorf("unexpected output %.40q from the client", f[0])
		}
		out = append(out, TableCount{Table: names[len(out)], Rows: n})
		return nil
	})
	if err == nil && len(out) != len(names) {
		err = errors.New("the client stopped before counting every table")
	}
	if err != nil {
		return nil, fmt.Errorf("counting the rows of database %s of service %s: %w", db, m.service, err)
	}
	return out, nil
}

func (m *myConn) state(ctx context.Context, db string) (bool, int64, error) {
	_, exists, err := m.tables(ctx, db)
	if err != nil {
		return false, 0, fmt.Errorf("looking for database %s in service %s: %w", db, m.service, err)
	}
	if !exists {
		return false, 0, nil
	}
	counts, err := m.count(ctx, db)
	if err != nil {
		return true, 0, err
	}
	return true, totalRows(counts), nil
}

// --- export: the schema ---

// myColumnRow is a row of information_schema.COLUMNS.
type myColumnRow struct {
	table, name, colType, dataType, extra, generated string
	position                                         int
	nullable                                         bool
	def                                              *string
	charLen, precision, scale                        int64
}

func (m *myConn) schemaScript(db string) string {
	var b strings.Builder
	b.WriteString(myReadSession)
	where := func(col string) string { return mySchemaIs(col, db) }
	fmt.Fprintf(&b, "SELECT 'db' FROM information_schema.SCHEMATA WHERE %s;\n", where("SCHEMA_NAME"))
	fmt.Fprintf(&b, "SELECT 'table', %s, %s FROM information_schema.TABLES WHERE %s;\n", nv("TABLE_NAME"), nv("TABLE_TYPE"), where("TABLE_SCHEMA"))
	gen := "NULL"
	if m.atLeast(10, 2) || (!m.mariaDB() && m.atLeast(5, 7)) {
		gen = "GENERATION_EXPRESSION"
	}
	fmt.Fprintf(&b, "SELECT 'column', %s FROM information_schema.COLUMNS WHERE %s;\n", strings.Join([]string{
		nv("TABLE_NAME"), nv("COLUMN_NAME"), nv("ORDINAL_POSITION"), nv("COLUMN_TYPE"), nv("DATA_TYPE"), nv("IS_NULLABLE"),
		nv("COLUMN_DEFAULT"), nv("EXTRA"), nv("CHARACTER_MAXIMUM_LENGTH"), nv("NUMERIC_PRECISION"), nv("NUMERIC_SCALE"), nv(gen),
	}, ", "), where("TABLE_SCHEMA"))
	// MySQL 8.0.13 has functional indexes: their parts have no column.
	expr := "NULL"
	if !m.mariaDB() && m.atLeast(8, 0, 13) {
		expr = "EXPRESSION"
	}
	fmt.Fprintf(&b, "SELECT 'index', %s FROM information_schema.STATISTICS WHERE %s ORDER BY SEQ_IN_INDEX;\n", strings.Join([]string{
		nv("TABLE_NAME"), nv("INDEX_NAME"), nv("NON_UNIQUE"), nv("COLUMN_NAME"), nv("SUB_PART"), nv("INDEX_TYPE"), nv(expr),
	}, ", "), where("TABLE_SCHEMA"))
	fmt.Fprintf(&b, "SELECT 'fk', %s FROM information_schema.KEY_COLUMN_USAGE k JOIN information_schema.REFERENTIAL_CONSTRAINTS r"+
		" ON r.CONSTRAINT_SCHEMA = k.CONSTRAINT_SCHEMA AND r.CONSTRAINT_NAME = k.CONSTRAINT_NAME AND r.TABLE_NAME = k.TABLE_NAME"+
		" WHERE %s AND k.REFERENCED_TABLE_NAME IS NOT NULL ORDER BY k.ORDINAL_POSITION;\n", strings.Join([]string{
		nv("k.TABLE_NAME"), nv("k.CONSTRAINT_NAME"), nv("k.COLUMN_NAME"), nv("k.REFERENCED_TABLE_SCHEMA"), nv("k.REFERENCED_TABLE_NAME"),
		nv("k.REFERENCED_COLUMN_NAME"), nv("r.UPDATE_RULE"), nv("r.DELETE_RULE"),
	}, ", "), where("k.TABLE_SCHEMA"))
	switch {
	case m.mariaDB() && m.atLeast(10, 2, 22):
		// MariaDB names a column's check after the column: only the
		// table tells two apart.
		fmt.Fprintf(&b, "SELECT 'check', %s, %s, %s FROM information_schema.CHECK_CONSTRAINTS WHERE %s;\n",
			nv("TABLE_NAME"), nv("CONSTRAINT_NAME"), nv("CHECK_CLAUSE"), where("CONSTRAINT_SCHEMA"))
	case !m.mariaDB() && m.atLeast(8, 0, 16):
		fmt.Fprintf(&b, "SELECT 'check', %s, %s, %s FROM information_schema.TABLE_CONSTRAINTS t JOIN information_schema.CHECK_CONSTRAINTS c"+
			" ON c.CONSTRAINT_SCHEMA = t.CONSTRAINT_SCHEMA AND c.CONSTRAINT_NAME = t.CONSTRAINT_NAME WHERE %s AND t.CONSTRAINT_TYPE = 'CHECK';\n",
			nv("t.TABLE_NAME"), nv("c.CONSTRAINT_NAME"), nv("c.CHECK_CLAUSE"), where("t.TABLE_SCHEMA"))
	}
	fmt.Fprintf(&b, "SELECT 'view', %s, %s FROM information_schema.VIEWS WHERE %s;\n", nv("TABLE_NAME"), nv("VIEW_DEFINITION"), where("TABLE_SCHEMA"))
	fmt.Fprintf(&b, "SELECT 'trigger', %s, %s FROM information_schema.TRIGGERS WHERE %s;\n", nv("TRIGGER_NAME"),
		nv("CONCAT(ACTION_TIMING, ' ', EVENT_MANIPULATION, ' ON ', EVENT_OBJECT_TABLE, ' FOR EACH ROW ', ACTION_STATEMENT)"), where("TRIGGER_SCHEMA"))
	fmt.Fprintf(&b, "SELECT 'routine', %s, %s, %s FROM information_schema.ROUTINES WHERE %s;\n", nv("ROUTINE_TYPE"), nv("ROUTINE_NAME"),
		nv("ROUTINE_DEFINITION"), where("ROUTINE_SCHEMA"))
	fmt.Fprintf(&b, "SELECT 'event', %s, %s FROM information_schema.EVENTS WHERE %s;\n", nv("EVENT_NAME"), nv("EVENT_DEFINITION"), where("EVENT_SCHEMA"))
	return b.String()
}

func (m *myConn) schema(ctx context.Context, db string) (*portable.Schema, error) {
	var rows [][]string
	var nulls [][]bool
	err := m.run(ctx, m.schemaScript(db), func(f [][]byte) error {
		r := []string{string(f[0])}
		n := []bool{false}
		for _, field := range f[1:] {
			v, null, err := myValue(field)
			if err != nil {
				return err
			}
			r, n = append(r, string(v)), append(n, null)
		}
		rows, nulls = append(rows, r), append(nulls, n)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading the schema of database %s of service %s: %w", db, m.service, err)
	}
	s, err := myReadSchema(m.flavor, db, rows, nulls)
	if err != nil {
		return nil, fmt.Errorf("reading the schema of database %s of service %s: %w", db, m.service, err)
	}
	s.Meta = portable.Meta{Engine: MySQL, Flavor: m.flavor, Version: m.version, Database: db, Created: portable.Now(), Format: portable.FormatVersion}
	return s, nil
}

var myJSONCheck = regexp.MustCompile("(?i)^json_valid\\(`((?:[^`]|``)+)`\\)$")

// myReadSchema builds the schema from the tagged rows of schemaScript;
// nulls tells which fields were NULL.
func myReadSchema(flavor, db string, rows [][]string, nulls [][]bool) (*portable.Schema, error) {
	s := &portable.Schema{}
	byName := map[string]*portable.Table{}
	var cols []myColumnRow
	jsonCols := map[[2]string]bool{}
	found := false
	want := map[string]int{"db": 1, "table": 3, "column": 13, "index": 8, "fk": 9, "check": 4, "view": 3, "trigger": 3, "routine": 4, "event": 3}
	for i, r := range rows {
		if n, ok := want[r[0]]; !ok || len(r) != n {
			return nil, fmt.Errorf("unexpected output %.60q from the client", strings.Join(r, "\t"))
		}
		switch r[0] {
		case "db":
			found = true
		case "table":
			switch r[2] {
			case "BASE TABLE", "SYSTEM VERSIONED":
				s.Tables = append(s.Tables, portable.Table{Name: r[1]})
				if r[2] == "SYSTEM VERSIONED" {
					s.Unmapped = append(s.Unmapped, portable.Unmapped{Kind: "system versioning", Name: r[1], Reason: "only the current rows are exported, not the history"})
				}
			case "SEQUENCE":
				s.Unmapped = append(s.Unmapped, portable.Unmapped{Kind: "sequence", Name: r[1], Reason: "the import sets counters past the highest key"})
			}
		case "column":
			c := myColumnRow{table: r[1], name: r[2], colType: r[4], dataType: strings.ToLower(r[5]), nullable: r[6] == "YES",
				extra: r[8], generated: r[12]}
			c.position, _ = strconv.Atoi(r[3])
			if !nulls[i][7] {
				d := r[7]
				c.def = &d
			}
			c.charLen, _ = strconv.ParseInt(r[9], 10, 64)
			c.precision, _ = strconv.ParseInt(r[10], 10, 64)
			c.scale, _ = strconv.ParseInt(r[11], 10, 64)
			cols = append(cols, c)
		case "check":
			if mm := myJSONCheck.FindStringSubmatch(r[3]); mm != nil && flavor == "MariaDB" {
				// MariaDB's JSON is a LONGTEXT with this check.
				jsonCols[[2]string{r[1], strings.ReplaceAll(mm[1], "``", "`")}] = true
			}
		}
	}
	if !found {
		return nil, fmt.Errorf("there is no database %s: list them with SHOW DATABASES", db)
	}
	sort.Slice(s.Tables, func(i, j int) bool { return s.Tables[i].Name < s.Tables[j].Name })
	for i := range s.Tables {
		byName[s.Tables[i].Name] = &s.Tables[i]
	}
	sort.SliceStable(cols, func(i, j int) bool {
		if cols[i].table != cols[j].table {
			return cols[i].table < cols[j].table
		}
		return cols[i].position < cols[j].position
	})
	for _, cr := range cols {
		t := byName[cr.table]
		if t == nil {
			continue
		}
		c, um := myColumn(flavor, cr, jsonCols[[2]string{cr.table, cr.name}])
		t.Columns = append(t.Columns, c)
		s.Unmapped = append(s.Unmapped, um...)
	}
	type index struct {
		table, name  string
		unique       bool
		cols, parts  []string
		reason, kind string
	}
	var indexes []*index
	idxBy := map[[2]string]*index{}
	type fk struct {
		table, name, refSchema, refTable string
		cols, refCols                    []string
		onUpdate, onDelete               string
	}
	var fks []*fk
	fkBy := map[[2]string]*fk{}
	for i, r := range rows {
		switch r[0] {
		case "index":
			if byName[r[1]] == nil {
				continue
			}
			key := [2]string{r[1], r[2]}
			ix := idxBy[key]
			if ix == nil {
				ix = &index{table: r[1], name: r[2], unique: r[3] == "0", kind: r[6]}
				idxBy[key] = ix
				indexes = append(indexes, ix)
			}
			part := myIdent(r[4])
			switch {
			case nulls[i][4]:
				part = "(" + r[7] + ")"
				ix.reason = "an index over an expression"
			case !nulls[i][5]:
				part += "(" + r[5] + ")"
				ix.reason = "an index over a prefix of a column"
			}
			switch r[6] {
			case "FULLTEXT", "SPATIAL":
				ix.reason = "a " + r[6] + " index"
			}
			ix.cols, ix.parts = append(ix.cols, r[4]), append(ix.parts, part)
		case "fk":
			if byName[r[1]] == nil {
				continue
			}
			key := [2]string{r[1], r[2]}
			f := fkBy[key]
			if f == nil {
				f = &fk{table: r[1], name: r[2], refSchema: r[4], refTable: r[5], onUpdate: r[7], onDelete: r[8]}
				fkBy[key] = f
				fks = append(fks, f)
			}
			f.cols, f.refCols = append(f.cols, r[3]), append(f.refCols, r[6])
		case "check":
			// The JSON_VALID check of a JSON column is its kind.
			if !(flavor == "MariaDB" && myJSONCheck.MatchString(r[3])) {
				s.Unmapped = append(s.Unmapped, portable.Unmapped{Kind: "check constraint", Name: r[2] + " on " + r[1], Definition: r[3],
					Reason: "the import does not evaluate the source's expressions"})
			}
		case "view":
			s.Unmapped = append(s.Unmapped, portable.Unmapped{Kind: "view", Name: r[1], Definition: r[2], Reason: "views are not exported: create it again after an import"})
		case "trigger":
			s.Unmapped = append(s.Unmapped, portable.Unmapped{Kind: "trigger", Name: r[1], Definition: r[2], Reason: "triggers are not exported"})
		case "routine":
			s.Unmapped = append(s.Unmapped, portable.Unmapped{Kind: strings.ToLower(r[1]), Name: r[2], Definition: r[3], Reason: "routines are not exported"})
		case "event":
			s.Unmapped = append(s.Unmapped, portable.Unmapped{Kind: "event", Name: r[1], Definition: r[2], Reason: "events are not exported"})
		}
	}
	sort.SliceStable(indexes, func(i, j int) bool {
		if indexes[i].table != indexes[j].table {
			return indexes[i].table < indexes[j].table
		}
		return indexes[i].name < indexes[j].name
	})
	for _, ix := range indexes {
		t := byName[ix.table]
		def := "KEY " + myIdent(ix.name) + " (" + strings.Join(ix.parts, ", ") + ")"
		if ix.unique {
			def = "UNIQUE " + def
		}
		if ix.kind == "FULLTEXT" || ix.kind == "SPATIAL" {
			def = ix.kind + " " + def
		}
		switch {
		case ix.name == "PRIMARY":
			t.PrimaryKey = ix.cols
			if ix.reason != "" {
				s.Unmapped = append(s.Unmapped, portable.Unmapped{Kind: "primary key", Name: ix.table, Definition: "PRIMARY KEY (" + strings.Join(ix.parts, ", ") + ")",
					Reason: "exported over its whole columns: " + ix.reason + " has no equivalent"})
			}
		case ix.reason != "":
			s.Unmapped = append(s.Unmapped, portable.Unmapped{Kind: "index", Name: ix.name + " on " + ix.table, Definition: def, Reason: ix.reason})
		default:
			t.Indexes = append(t.Indexes, portable.Index{Name: ix.name, Unique: ix.unique, Columns: ix.cols})
		}
	}
	sort.SliceStable(fks, func(i, j int) bool {
		if fks[i].table != fks[j].table {
			return fks[i].table < fks[j].table
		}
		return fks[i].name < fks[j].name
	})
	for _, f := range fks {
		t := byName[f.table]
		if f.refSchema != db || byName[f.refTable] == nil {
			s.Unmapped = append(s.Unmapped, portable.Unmapped{Kind: "foreign key", Name: f.name + " on " + f.table,
				Definition: "FOREIGN KEY (" + myIdents(f.cols) + ") REFERENCES " + myIdent(f.refSchema) + "." + myIdent(f.refTable) + " (" + myIdents(f.refCols) + ")",
				Reason:     "it refers to a table outside the export"})
			continue
		}
		t.ForeignKeys = append(t.ForeignKeys, portable.ForeignKey{Columns: f.cols, RefTable: f.refTable, RefColumns: f.refCols, OnUpdate: f.onUpdate, OnDelete: f.onDelete})
	}
	return s, nil
}

// myGeometry are the spatial types, exported as PostGIS's hex EWKB.
var myGeometry = map[string]bool{"geometry": true, "point": true, "linestring": true, "polygon": true, "multipoint": true,
	"multilinestring": true, "multipolygon": true, "geometrycollection": true, "geomcollection": true}

// myColumn maps a column; json tells that MariaDB checks it with
// JSON_VALID (its JSON type).
func myColumn(flavor string, r myColumnRow, json bool) (portable.Column, []portable.Unmapped) {
	c := portable.Column{Name: r.name, Type: r.colType, NotNull: !r.nullable}
	typ := strings.ToLower(r.colType)
	c.Unsigned = strings.Contains(typ, " unsigned")
	switch r.dataType {
	case "tinyint":
		c.Kind, c.Size = portable.Integer, 1
		if typ == "tinyint(1)" {
			c.Kind, c.Size = portable.Boolean, 0
		}
	case "bool", "boolean":
		c.Kind = portable.Boolean
	case "smallint", "year":
		c.Kind, c.Size = portable.Integer, 2
	case "mediumint", "int", "integer":
		c.Kind, c.Size = portable.Integer, 4
	case "bigint":
		c.Kind, c.Size = portable.Integer, 8
	case "decimal", "numeric":
		c.Kind, c.Precision, c.Scale = portable.Decimal, int(r.precision), int(r.scale)
	case "float":
		c.Kind, c.Size = portable.Float, 4
	case "double", "real", "double precision":
		c.Kind, c.Size = portable.Float, 8
	case "char", "varchar":
		c.Kind, c.Length = portable.Text, int(r.charLen)
		if json {
			c.Kind = portable.JSON
		}
	case "tinytext", "text", "mediumtext", "longtext":
		c.Kind = portable.Text
		if json {
			c.Kind = portable.JSON
		}
	case "binary", "varbinary":
		c.Kind, c.Length = portable.Binary, int(r.charLen)
	case "tinyblob", "blob", "mediumblob", "longblob":
		c.Kind = portable.Binary
	case "date":
		c.Kind = portable.Date
	case "time":
		c.Kind = portable.Time
	case "datetime":
		c.Kind = portable.Timestamp
	case "timestamp":
		c.Kind = portable.TimestampTZ
	case "json":
		c.Kind = portable.JSON
	case "uuid":
		c.Kind = portable.UUID
	case "enum":
		c.Kind = portable.Enum
		c.Labels, _ = myLabels(r.colType)
	default:
		// set, bit, the spatial types, inet6...: their text form (see
		// myExportExpr).
		c.Kind = portable.Other
	}
	if c.Kind != portable.Integer {
		c.Unsigned = false
	}
	if strings.Contains(strings.ToLower(r.extra), "auto_increment") {
		c.AutoIncrement = true
	}
	var um []portable.Unmapped
	name := r.table + "." + r.name
	if r.generated != "" {
		um = append(um, portable.Unmapped{Kind: "generated column", Name: name, Definition: r.generated, Reason: "exported with its values, as a plain column"})
		return c, um
	}
	if i := strings.Index(strings.ToLower(r.extra), "on update "); i >= 0 {
		um = append(um, portable.Unmapped{Kind: "on update", Name: name, Definition: strings.TrimSpace(r.extra[i:]), Reason: "the import sets no value on update"})
	}
	if !c.AutoIncrement {
		myDefault(flavor, &c, r)
	}
	return c, um
}

var (
	myNumber     = regexp.MustCompile(`^[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?$`)
	myNowDefault = regexp.MustCompile(`(?i)^(?:current_timestamp|now|localtimestamp|localtime)(?:\(\d?\))?$`)
	myBitDefault = regexp.MustCompile(`^b'([01]*)'$`)
)

// myDefault reads COLUMN_DEFAULT: MariaDB (10.2.7 on) quotes string
// literals and says NULL for a NULL default, MySQL gives the bare value
// and marks expressions DEFAULT_GENERATED in EXTRA.
func myDefault(flavor string, c *portable.Column, r myColumnRow) {
	if r.def == nil {
		return
	}
	d := *r.def
	temporal := r.dataType == "datetime" || r.dataType == "timestamp"
	if temporal && myNowDefault.MatchString(d) {
		c.DefaultNow = true
		return
	}
	var v string
	switch {
	case flavor == "MariaDB":
		switch {
		case d == "NULL":
			return
		case len(d) >= 2 && d[0] == '\'' && d[len(d)-1] == '\'':
			u, ok := myUnquote(d)
			if !ok {
				c.DefaultExpr = d
				return
			}
			v = u
		case myNumber.MatchString(d):
			v = d
		case c.Kind == portable.Other && myBitDefault.MatchString(d):
			v = d
		default:
			c.DefaultExpr = d
			return
		}
	case strings.Contains(strings.ToUpper(r.extra), "DEFAULT_GENERATED"):
		c.DefaultExpr = d
		return
	default:
		v = d
	}
	switch c.Kind {
	case portable.Binary:
		// The file has no representation of a binary default.
		c.DefaultExpr = d
		return
	case portable.Integer, portable.Boolean, portable.Float, portable.Decimal:
		if !myNumber.MatchString(v) {
			c.DefaultExpr = d
			return
		}
	case portable.Timestamp, portable.TimestampTZ:
		v = myISOTime(v, c.Kind == portable.TimestampTZ)
	case portable.Time:
		v = myTrimFraction(v)
	case portable.Other:
		if n, ok := myBitWidth(c.Type); ok {
			mm := myBitDefault.FindStringSubmatch(v)
			if mm == nil {
				c.DefaultExpr = d
				return
			}
			v = myPadBits(mm[1], n)
		} else if myGeometry[r.dataType] {
			c.DefaultExpr = d
			return
		}
	}
	c.Default = &v
}

// myUnquote reads a quoted SQL string literal, with its doubled quotes and
// backslash escapes; false when s is not one literal.
func myUnquote(s string) (string, bool) {
	if len(s) < 2 || s[0] != '\'' || s[len(s)-1] != '\'' {
		return "", false
	}
	var b strings.Builder
	for i := 1; i < len(s)-1; i++ {
		c := s[i]
		switch c {
		case '\'':
			if i+1 >= len(s)-1 || s[i+1] != '\'' {
				return "", false
			}
			i++
		case '\\':
			if i+1 >= len(s)-1 {
				return "", false
			}
			i++
			switch c = s[i]; c {
			case '0':
				c = 0
			case 'n':
				c = '\n'
			case 'r':
				c = '\r'
			case 't':
				c = '\t'
			case 'b':
				c = '\b'
			case 'Z':
				c = 0x1a
			}
		}
		b.WriteByte(c)
	}
	return b.String(), true
}

// myLabels reads the labels of an enum(...) or set(...) type.
func myLabels(typ string) ([]string, bool) {
	open := strings.IndexByte(typ, '(')
	if open < 0 || !strings.HasSuffix(typ, ")") {
		return nil, false
	}
	s := typ[open+1 : len(typ)-1]
	var out []string
	for len(s) > 0 {
		if s[0] != '\'' {
			return nil, false
		}
		// The literal ends at a quote that is not doubled.
		end := -1
		for i := 1; i < len(s); i++ {
			if s[i] == '\\' {
				i++
				continue
			}
			if s[i] == '\'' {
				if i+1 < len(s) && s[i+1] == '\'' {
					i++
					continue
				}
				end = i
				break
			}
		}
		if end < 0 {
			return nil, false
		}
		label, ok := myUnquote(s[:end+1])
		if !ok {
			return nil, false
		}
		out = append(out, label)
		s = s[end+1:]
		if len(s) > 0 {
			if s[0] != ',' {
				return nil, false
			}
			s = s[1:]
			if len(s) == 0 {
				return nil, false
			}
		}
	}
	return out, len(out) > 0
}

var myBitType = regexp.MustCompile(`^bit(?:\((\d{1,2})\))?$`)

// myBitWidth is n of a bit(n) type.
func myBitWidth(typ string) (int, bool) {
	m := myBitType.FindStringSubmatch(strings.ToLower(typ))
	if m == nil {
		return 0, false
	}
	n := 1
	if m[1] != "" {
		n, _ = strconv.Atoi(m[1])
	}
	return n, n >= 1 && n <= 64
}

func myPadBits(bits string, n int) string {
	if len(bits) < n {
		bits = strings.Repeat("0", n-len(bits)) + bits
	}
	return bits
}

// myBaseType is the type's name without its arguments.
func myBaseType(typ string) string {
	typ = strings.ToLower(strings.TrimSpace(typ))
	if i := strings.IndexAny(typ, "( "); i >= 0 {
		typ = typ[:i]
	}
	return typ
}

// --- export: the rows ---

// myExportExpr is how a column is selected: its text, lossless.
func (m *myConn) myExportExpr(c *portable.Column) string {
	q := myIdent(c.Name)
	e := q
	switch {
	case c.Kind == portable.Binary:
		e = "HEX(" + q + ")"
	case c.Kind == portable.Float && c.Size == 4:
		// A FLOAT prints with 6 digits: as a DOUBLE it prints every digit
		// the float has (shortened again when read).
		e = q + " + 0e0"
	case c.Kind == portable.Other:
		if n, ok := myBitWidth(c.Type); ok {
			// As PostgreSQL prints a bit(n): n binary digits.
			e = "LPAD(BIN(" + q + " + 0), " + strconv.Itoa(n) + ", '0')"
		} else if myGeometry[myBaseType(c.Type)] {
			// The SRID and the WKB (longitude first, whatever the
			// SRS's axis order), made into EWKB when read.
			wkb := "ST_AsWKB(" + q + ")"
			if !m.mariaDB() && m.atLeast(8) {
				wkb = "ST_AsWKB(" + q + ", 'axis-order=long-lat')"
			}
			e = "CONCAT(ST_SRID(" + q + "), ',', HEX(" + wkb + "))"
		}
	}
	if e == q {
		return nv(q)
	}
	return "IF(" + q + " IS NULL, 'N', CONCAT('v', " + e + "))"
}

func (m *myConn) rows(ctx context.Context, db string, s *portable.Schema, fn func(*portable.Table, []any) error) error {
	var b strings.Builder
	// One snapshot for every table; timestamps in UTC.
	b.WriteString(myReadSession + "SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ;\nSTART TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY;\n")
	for i := range s.Tables {
		t := &s.Tables[i]
		if len(t.Columns) == 0 {
			return fmt.Errorf("table %s has no columns", t.Name)
		}
		exprs := make([]string, len(t.Columns))
		for j := range t.Columns {
			exprs[j] = m.myExportExpr(&t.Columns[j])
		}
		fmt.Fprintf(&b, "SELECT %s FROM %s.%s;\nSELECT '%s';\n", strings.Join(exprs, ", "), myIdent(db), myIdent(t.Name), myEnd)
	}
	b.WriteString("COMMIT;\n")
	ti := 0
	err := m.run(ctx, b.String(), func(f [][]byte) error {
		if ti >= len(s.Tables) {
			return fmt.Errorf("unexpected output %.40q from the client after the last table", f[0])
		}
		t := &s.Tables[ti]
		if len(f) == 1 && string(f[0]) == myEnd {
			ti++
			return nil
		}
		if len(f) != len(t.Columns) {
			return fmt.Errorf("reading the rows of table %s: a row has %d fields, not %d", t.Name, len(f), len(t.Columns))
		}
		row := make([]any, len(f))
		for i := range f {
			v, err := myRowValue(&t.Columns[i], f[i])
			if err != nil {
				return fmt.Errorf("reading column %s of table %s: %w", t.Columns[i].Name, t.Name, err)
			}
			row[i] = v
		}
		return fn(t, row)
	})
	if err == nil && ti != len(s.Tables) {
		err = errors.New("the client stopped before the last table")
	}
	if err != nil {
		return fmt.Errorf("reading the rows of database %s of service %s: %w", db, m.service, err)
	}
	return nil
}

// myRowValue turns a field into the file's representation of the
// column's kind.
func myRowValue(c *portable.Column, f []byte) (any, error) {
	v, null, err := myValue(f)
	if err != nil || null {
		return nil, err
	}
	switch c.Kind {
	case portable.Integer, portable.Boolean:
		n, err := strconv.ParseInt(string(v), 10, 64)
		if err != nil {
			// An unsigned BIGINT beyond int64: its digits.
			if _, uerr := strconv.ParseUint(string(v), 10, 64); uerr == nil {
				return string(v), nil
			}
			return nil, err
		}
		return n, nil
	case portable.Float:
		x, err := strconv.ParseFloat(string(v), 64)
		if err != nil {
			return nil, err
		}
		if c.Size == 4 {
			// The shortest form of the float, not of its widening.
			x, _ = strconv.ParseFloat(strconv.FormatFloat(x, 'g', -1, 32), 64)
		}
		return x, nil
	case portable.Binary:
		out := make([]byte, hex.DecodedLen(len(v)))
		if _, err := hex.Decode(out, v); err != nil {
			return nil, err
		}
		return out, nil
	case portable.Timestamp, portable.TimestampTZ:
		return myISOTime(string(v), c.Kind == portable.TimestampTZ), nil
	case portable.Time:
		return myTrimFraction(string(v)), nil
	case portable.Other:
		if myGeometry[myBaseType(c.Type)] {
			return myEWKB(string(v))
		}
	}
	return string(v), nil
}

// myISOTime turns the server's "2024-03-01 13:45:00.120000" into ISO 8601,
// "2024-03-01T13:45:00.12", with "+00:00" for a TIMESTAMP (read in UTC).
// A zero date (0000-00-00, or a zero month or day), which MySQL allows
// and no other engine has, stays as the server spells it, without offset:
// it is no instant.
func myISOTime(v string, utc bool) string {
	if len(v) < 19 || v[10] != ' ' || strings.HasPrefix(v, "0000") || v[5:7] == "00" || v[8:10] == "00" {
		return v
	}
	v = v[:10] + "T" + myTrimFraction(v[11:])
	if utc {
		v += "+00:00"
	}
	return v
}

// myTrimFraction drops the trailing zeros of a time's fraction, and its
// point when nothing is left.
func myTrimFraction(v string) string {
	if i := strings.IndexByte(v, '.'); i >= 0 {
		v = strings.TrimRight(v, "0")
		v = strings.TrimSuffix(v, ".")
	}
	return v
}

// myByteOrder is a WKB's byte order (its first byte: 0 big, 1 little
// endian).
type myByteOrder interface {
	binary.ByteOrder
	binary.AppendByteOrder
}

// myEWKB turns "SRID,WKB in hex" into PostGIS's text form of a geometry,
// hex EWKB: the SRID in the header, flagged.
func myEWKB(v string) (string, error) {
	sridText, wkbHex, ok := strings.Cut(v, ",")
	srid, err := strconv.ParseUint(sridText, 10, 32)
	wkb, herr := hex.DecodeString(wkbHex)
	if !ok || err != nil || herr != nil || len(wkb) < 5 || wkb[0] > 1 {
		return "", fmt.Errorf("unexpected geometry %.40q", v)
	}
	if srid == 0 {
		return strings.ToUpper(wkbHex), nil
	}
	var order myByteOrder = binary.LittleEndian
	if wkb[0] == 0 {
		order = binary.BigEndian
	}
	out := make([]byte, 0, len(wkb)+4)
	out = append(out, wkb[0])
	out = order.AppendUint32(out, order.Uint32(wkb[1:5])|0x20000000)
	out = order.AppendUint32(out, uint32(srid))
	out = append(out, wkb[5:]...)
	return strings.ToUpper(hex.EncodeToString(out)), nil
}

// myParseEWKB reads hex EWKB (or WKB) into WKB and its SRID.
func myParseEWKB(v []byte) (wkb []byte, srid uint32, err error) {
	b := make([]byte, hex.DecodedLen(len(v)))
	if _, err := hex.Decode(b, v); err != nil || len(b) < 5 || b[0] > 1 {
		return nil, 0, errors.New("not a geometry in hex EWKB")
	}
	var order myByteOrder = binary.LittleEndian
	if b[0] == 0 {
		order = binary.BigEndian
	}
	typ := order.Uint32(b[1:5])
	if typ&0x20000000 == 0 {
		return b, 0, nil
	}
	if len(b) < 9 {
		return nil, 0, errors.New("not a geometry in hex EWKB")
	}
	srid = order.Uint32(b[5:9])
	out := append([]byte{b[0]}, order.AppendUint32(nil, typ&^0x20000000)...)
	return append(out, b[9:]...), srid, nil
}

// --- import ---

// myCol is how a column is created and its values written.
type myCol struct {
	name string
	kind portable.Kind
	typ  string
	bit  bool // bit(n): values are binary digits
	geom bool // a spatial type: values are hex EWKB
	// blankless: an enum without the label "", whose "" is MySQL's
	// error value (index 0), which only a non-strict session stores.
	blankless bool
	// f32: a FLOAT, written as the float32 it stores. The shortest form
	// of the largest float32, 3.4028235e38, is beyond it as a double,
	// which strict mode refuses.
	f32 bool
}

// myTablePlan is the SQL of one table.
type myTablePlan struct {
	t       *portable.Table
	cols    []myCol
	create  string
	indexes string // ALTER TABLE adding the secondary indexes
	fks     string // ALTER TABLE adding the foreign keys
	counter string // sets the AUTO_INCREMENT counter past the highest key
}

// myLoadPlan is the SQL of a load, and what it leaves out.
type myLoadPlan struct {
	tables []myTablePlan
	notes  []string
	// axis: MySQL 8 reads WKB in the SRS's axis order unless told.
	axis bool
}

// myTarget is the server a load goes into.
type myTarget struct {
	flavor string
	ver    []int
}

func (g myTarget) atLeast(v ...int) bool { return len(g.ver) > 0 && compareVersions(g.ver, v) >= 0 }

// myTypeKinds are the types a file's original type may name, with the
// kinds whose values they hold; MariaDB's own types need a version.
var myTypeKinds = map[string][]portable.Kind{
	"tinyint": {portable.Integer, portable.Boolean}, "smallint": {portable.Integer}, "mediumint": {portable.Integer},
	"int": {portable.Integer}, "integer": {portable.Integer}, "bigint": {portable.Integer}, "year": {portable.Integer},
	"decimal": {portable.Decimal}, "numeric": {portable.Decimal}, "float": {portable.Float}, "double": {portable.Float}, "real": {portable.Float},
	"char": {portable.Text}, "varchar": {portable.Text}, "tinytext": {portable.Text}, "text": {portable.Text},
	"mediumtext": {portable.Text}, "longtext": {portable.Text},
	"binary": {portable.Binary}, "varbinary": {portable.Binary}, "tinyblob": {portable.Binary}, "blob": {portable.Binary},
	"mediumblob": {portable.Binary}, "longblob": {portable.Binary},
	"date": {portable.Date}, "time": {portable.Time}, "datetime": {portable.Timestamp}, "timestamp": {portable.TimestampTZ, portable.Timestamp},
	"bit": {portable.Other}, "uuid": {portable.UUID}, "inet6": {portable.Other}, "inet4": {portable.Other},
	"geometry": {portable.Other}, "point": {portable.Other}, "linestring": {portable.Other}, "polygon": {portable.Other},
	"multipoint": {portable.Other}, "multilinestring": {portable.Other}, "multipolygon": {portable.Other},
	"geometrycollection": {portable.Other}, "geomcollection": {portable.Other},
}

var myMariaDBTypes = map[string][]int{"uuid": {10, 7}, "inet6": {10, 5}, "inet4": {11, 3}}

// myPlainType is a type the import copies from a MySQL file: a name,
// numeric arguments, unsigned, zerofill. Nothing else of the file's text
// reaches the SQL.
var myPlainType = regexp.MustCompile(`^([a-z][a-z0-9]*)(?: ?\((\d{1,5})(?:,(\d{1,2}))?\))?( unsigned)?( zerofill)?$`)

// originalType is c's type as the MySQL/MariaDB source spelled it, when it
// passes the checks and the server has it.
func (g myTarget) originalType(c *portable.Column) (string, bool) {
	switch {
	case c.Kind == portable.Enum && strings.HasPrefix(c.Type, "enum("):
		if len(c.Labels) == 0 {
			return "", false
		}
		return "enum(" + myQuoteLabels(c.Labels) + ")", true
	case c.Kind == portable.Other && strings.HasPrefix(c.Type, "set("):
		labels, ok := myLabels(c.Type)
		if !ok || len(labels) > 64 {
			return "", false
		}
		return "set(" + myQuoteLabels(labels) + ")", true
	}
	m := myPlainType.FindStringSubmatch(c.Type)
	if m == nil {
		return "", false
	}
	kinds, ok := myTypeKinds[m[1]]
	if !ok {
		return "", false
	}
	if v, only := myMariaDBTypes[m[1]]; only && (g.flavor != "MariaDB" || !g.atLeast(v...)) {
		return "", false
	}
	for _, k := range kinds {
		if k == c.Kind {
			return c.Type, true
		}
	}
	return "", false
}

func myQuoteLabels(labels []string) string {
	var b []byte
	for i, l := range labels {
		if i > 0 {
			b = append(b, ',')
		}
		b = myAppendLiteral(b, l)
	}
	return string(b)
}

// myUnkeyable are the types an index cannot hold whole.
var myUnkeyable = map[string]bool{"tinytext": true, "text": true, "mediumtext": true, "longtext": true, "tinyblob": true,
	"blob": true, "mediumblob": true, "longblob": true, "json": true}

// columnType is the type a column is created with. share is 0 for a
// column in no key, else how many unbounded columns share its widest key
// (they split the key's bytes).
func (g myTarget) columnType(c *portable.Column, fromMySQL bool, share int) (typ, note string) {
	if c.Kind == portable.JSON && share == 0 {
		// MariaDB's JSON is LONGTEXT with a JSON_VALID check, which a
		// later export reads as JSON again.
		return "json", ""
	}
	if fromMySQL {
		if t, ok := g.originalType(c); ok && (share == 0 || !myUnkeyable[myBaseType(t)]) {
			return t, ""
		}
	}
	switch c.Kind {
	case portable.Integer:
		t := "bigint"
		switch c.Size {
		case 1:
			t = "tinyint"
		case 2:
			t = "smallint"
		case 3:
			t = "mediumint"
		case 4:
			t = "int"
		}
		if c.Unsigned {
			t += " unsigned"
		}
		return t, ""
	case portable.Boolean:
		return "tinyint(1)", ""
	case portable.Decimal:
		switch {
		case c.Precision == 0:
			return "decimal(65,30)", "values with more than 30 decimal places are rounded (MySQL's decimal has no unbounded precision)"
		case c.Precision <= 65 && c.Scale <= 30 && c.Scale <= c.Precision:
			return fmt.Sprintf("decimal(%d,%d)", c.Precision, c.Scale), ""
		}
		if share > 0 && c.Length == 0 {
			return fmt.Sprintf("varchar(%d)", 768/share), "its precision is beyond MySQL's decimal(65,30): kept as text"
		}
		return "longtext", "its precision is beyond MySQL's decimal(65,30): kept as text"
	case portable.Float:
		if c.Size == 4 {
			return "float", ""
		}
		return "double", ""
	case portable.Date:
		return "date", ""
	case portable.Time:
		return "time(6)", ""
	case portable.Timestamp, portable.TimestampTZ:
		return "datetime(6)", ""
	case portable.UUID:
		if g.flavor == "MariaDB" && g.atLeast(10, 7) {
			return "uuid", ""
		}
		return "char(36)", ""
	case portable.Enum:
		if len(c.Labels) > 0 {
			return "enum(" + myQuoteLabels(c.Labels) + ")", ""
		}
	case portable.Binary:
		switch {
		case c.Length >= 1 && c.Length <= 65535 && (share == 0 || c.Length <= myKeyBytes):
			return fmt.Sprintf("varbinary(%d)", c.Length), ""
		case share > 0:
			return fmt.Sprintf("varbinary(%d)", myKeyBytes/share), ""
		}
		return "longblob", ""
	}
	// Text, and what only has a text form.
	switch {
	case c.Kind == portable.Text && c.Length >= 1 && c.Length <= 255 && isCharType(c.Type):
		// Fixed width, as in the source: PostgreSQL's character(n) pads
		// like MySQL's char(n), and neither counts the padding.
		return fmt.Sprintf("char(%d)", c.Length), ""
	case c.Kind == portable.Text && c.Length >= 1 && c.Length <= 16383 && (share == 0 || c.Length <= myKeyBytes/4):
		return fmt.Sprintf("varchar(%d)", c.Length), ""
	case share > 0:
		return fmt.Sprintf("varchar(%d)", myKeyBytes/4/share), ""
	}
	return "longtext", ""
}

var mySized = regexp.MustCompile(`^([a-z][a-z0-9]*)(?:\((\d+)(?:,(\d+))?\))?`)

// myWidth estimates a type's bytes in a row and in a key (utf8mb4: 4
// bytes a character); shrink tells a varchar or varbinary.
func myWidth(typ string) (row, key int, shrink bool) {
	m := mySized.FindStringSubmatch(typ)
	if m == nil {
		return 8, 8, false
	}
	n, _ := strconv.Atoi(m[2])
	switch m[1] {
	case "varchar":
		return 4*n + 2, 4 * n, true
	case "varbinary":
		return n + 2, n, true
	case "char":
		return 4 * n, 4 * n, false
	case "binary":
		return n, n, false
	case "decimal", "numeric":
		return n/2 + 1, n/2 + 1, false
	}
	if myUnkeyable[m[1]] || myGeometry[m[1]] {
		return 12, myKeyBytes + 1, false
	}
	return 8, 8, false
}

// myFSP is the fractional digits of a datetime(n) or timestamp(n).
func myFSP(typ string) int {
	m := mySized.FindStringSubmatch(typ)
	if m == nil || m[2] == "" {
		return 0
	}
	n, _ := strconv.Atoi(m[2])
	return n
}

// myIndexName is an index name MySQL takes: at most 64 characters, not
// PRIMARY, unique in its table.
func myIndexName(name string, used map[string]bool) string {
	if name == "" || strings.EqualFold(name, "PRIMARY") {
		name = "idx"
	}
	base := myTruncate(name, 64)
	name = base
	for i := 2; used[strings.ToLower(name)]; i++ {
		suffix := "_" + strconv.Itoa(i)
		name = myTruncate(base, 64-len([]rune(suffix))) + suffix
	}
	used[strings.ToLower(name)] = true
	return name
}

func myTruncate(s string, n int) string {
	r := []rune(s)
	if len(r) > n {
		return string(r[:n])
	}
	return s
}

// myMaxIdent is the length in characters of MySQL's and MariaDB's names
// of databases, tables and columns.
const myMaxIdent = 64

// myCheckName refuses a name MySQL would not take as it is; what says
// whose it is.
func myCheckName(what, name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: %s has an empty name, which MySQL does not allow: rename it in the source and export again", ErrBadName, what)
	case strings.IndexByte(name, 0) >= 0:
		return fmt.Errorf("%w: the name of %s holds a NUL byte, which MySQL does not allow: rename it in the source and export again", ErrBadName, what)
	case !utf8.ValidString(name):
		return fmt.Errorf("%w: the name of %s is not valid UTF-8: rename it in the source and export again", ErrBadName, what)
	case strings.HasSuffix(name, " "):
		return fmt.Errorf("%w: the name of %s ends with a space, which MySQL does not allow: rename it in the source and export again", ErrBadName, what)
	case utf8.RuneCountInString(name) > myMaxIdent:
		return fmt.Errorf("%w: %s is %d characters, MySQL allows %d: rename it in the source to at most %d characters and export again",
			ErrNameTooLong, what, utf8.RuneCountInString(name), myMaxIdent, myMaxIdent)
	}
	for _, r := range name {
		if r > 0xffff {
			return fmt.Errorf("%w: the name of %s holds %U, and MySQL's names hold characters up to U+FFFF only: rename it in the source and export again", ErrBadName, what, r)
		}
	}
	return nil
}

// importPlan turns a schema into the SQL of a load.
func (g myTarget) importPlan(s *portable.Schema) (*myLoadPlan, error) {
	p := &myLoadPlan{axis: g.flavor != "MariaDB" && g.atLeast(8)}
	fromMySQL := s.Meta.Engine == MySQL
	for _, u := range s.Unmapped {
		line := fmt.Sprintf("the %s %s of the source is not imported", u.Kind, u.Name)
		if u.Reason != "" {
			line += " (" + u.Reason + ")"
		}
		p.notes = append(p.notes, line)
	}
	byName := map[string]*portable.Table{}
	for i := range s.Tables {
		byName[s.Tables[i].Name] = &s.Tables[i]
	}
	types := map[string]map[string]string{}
	for i := range s.Tables {
		t := &s.Tables[i]
		if err := myCheckName(fmt.Sprintf("table %q", t.Name), t.Name); err != nil {
			return nil, err
		}
		for _, c := range t.Columns {
			if err := myCheckName(fmt.Sprintf("column %q of table %q", c.Name, t.Name), c.Name); err != nil {
				return nil, err
			}
		}
		if len(t.Columns) == 0 {
			return nil, fmt.Errorf("table %s has no columns", t.Name)
		}
		types[t.Name] = p.tableTypes(g, t, fromMySQL)
	}
	// A foreign key's columns take the types of the columns they refer
	// to: MySQL wants integers of one size and sign, PostgreSQL does not.
	for i := range s.Tables {
		t := &s.Tables[i]
		for _, fk := range t.ForeignKeys {
			ref := byName[fk.RefTable]
			if ref == nil || len(fk.Columns) != len(fk.RefColumns) {
				continue
			}
			for j, cn := range fk.Columns {
				c, rc := myFind(t, cn), myFind(ref, fk.RefColumns[j])
				if c == nil || rc == nil || c.Kind != rc.Kind || c.Kind == portable.Text || c.Kind == portable.Binary {
					continue
				}
				types[t.Name][cn] = types[ref.Name][rc.Name]
			}
		}
	}
	for i := range s.Tables {
		tp, err := p.table(g, &s.Tables[i], types[s.Tables[i].Name], byName)
		if err != nil {
			return nil, fmt.Errorf("table %s: %w", s.Tables[i].Name, err)
		}
		p.tables = append(p.tables, tp)
	}
	return p, nil
}

func myFind(t *portable.Table, name string) *portable.Column {
	for i := range t.Columns {
		if t.Columns[i].Name == name {
			return &t.Columns[i]
		}
	}
	return nil
}

// tableTypes chooses the types of t's columns.
func (p *myLoadPlan) tableTypes(g myTarget, t *portable.Table, fromMySQL bool) map[string]string {
	// How many columns without a bound share each column's widest key.
	share := map[string]int{}
	keys := [][]string{t.PrimaryKey}
	for _, ix := range t.Indexes {
		keys = append(keys, ix.Columns)
	}
	for _, fk := range t.ForeignKeys {
		keys = append(keys, fk.Columns)
	}
	for _, k := range keys {
		n := 0
		for _, cn := range k {
			if c := myFind(t, cn); c != nil && myUnbounded(c) {
				n++
			}
		}
		for _, cn := range k {
			share[cn] = max(share[cn], n, 1)
		}
	}
	types := map[string]string{}
	for i := range t.Columns {
		c := &t.Columns[i]
		typ, note := g.columnType(c, fromMySQL, share[c.Name])
		if note != "" {
			p.notes = append(p.notes, fmt.Sprintf("column %s.%s: %s", t.Name, c.Name, note))
		}
		types[c.Name] = typ
	}
	// The declared widths of a row's columns must stay within 64 KiB:
	// the widest varchars not in a key become longtext.
	for {
		total, widest, widestBytes := 0, "", 0
		for _, c := range t.Columns {
			row, _, shrink := myWidth(types[c.Name])
			total += row
			if shrink && share[c.Name] == 0 && row > widestBytes {
				widest, widestBytes = c.Name, row
			}
		}
		if total <= myRowBytes-1024 || widest == "" {
			break
		}
		to := "longtext"
		if strings.HasPrefix(types[widest], "varbinary") {
			to = "longblob"
		}
		p.notes = append(p.notes, fmt.Sprintf("column %s.%s: %s became %s (MySQL's row size limit)", t.Name, widest, types[widest], to))
		types[widest] = to
	}
	return types
}

// myUnbounded tells a column whose type in a key is a varchar or
// varbinary of a length chosen here.
func myUnbounded(c *portable.Column) bool {
	switch c.Kind {
	case portable.Text, portable.Binary, portable.Other, portable.Array, portable.JSON:
		return c.Length == 0 || c.Length > myKeyBytes/4
	case portable.Enum:
		return len(c.Labels) == 0
	}
	return false
}

// myKeyWidth is the estimated bytes of an index over cols.
func myKeyWidth(cols []string, types map[string]string) int {
	n := 0
	for _, c := range cols {
		_, k, _ := myWidth(types[c])
		n += k
	}
	return n
}

// table writes the SQL of one table.
func (p *myLoadPlan) table(g myTarget, t *portable.Table, types map[string]string, byName map[string]*portable.Table) (myTablePlan, error) {
	tp := myTablePlan{t: t}
	has := map[string]bool{}
	for _, c := range t.Columns {
		has[c.Name] = true
	}
	for _, cn := range t.PrimaryKey {
		if !has[cn] {
			return tp, fmt.Errorf("its primary key names the unknown column %s", cn)
		}
	}
	if len(t.PrimaryKey) > 0 && myKeyWidth(t.PrimaryKey, types) > myKeyBytes {
		return tp, fmt.Errorf("its primary key (%s) is wider than MySQL's %d bytes a key", strings.Join(t.PrimaryKey, ", "), myKeyBytes)
	}
	used := map[string]bool{"primary": true}
	// The AUTO_INCREMENT column must lead a key when the table is made:
	// the primary key, else an index made with the table.
	auto, inline := "", ""
	for _, c := range t.Columns {
		if !c.AutoIncrement {
			continue
		}
		switch {
		case c.Kind != portable.Integer:
			p.notes = append(p.notes, fmt.Sprintf("column %s.%s: not AUTO_INCREMENT (MySQL numbers integer columns only)", t.Name, c.Name))
			continue
		case auto != "":
			p.notes = append(p.notes, fmt.Sprintf("column %s.%s: not AUTO_INCREMENT (MySQL has one such column a table: %s)", t.Name, c.Name, auto))
			continue
		}
		if len(t.PrimaryKey) > 0 && t.PrimaryKey[0] == c.Name {
			auto = c.Name
			continue
		}
		for _, ix := range t.Indexes {
			if len(ix.Columns) > 0 && ix.Columns[0] == c.Name {
				auto, inline = c.Name, ix.Name
				break
			}
		}
		if auto != c.Name {
			p.notes = append(p.notes, fmt.Sprintf("column %s.%s: not AUTO_INCREMENT (MySQL wants it first in a key)", t.Name, c.Name))
		}
	}
	var parts []string
	for i := range t.Columns {
		c := &t.Columns[i]
		typ := types[c.Name]
		col := myCol{name: c.Name, kind: c.Kind, typ: typ}
		if _, ok := myBitWidth(typ); ok && c.Kind == portable.Other {
			col.bit = true
		}
		col.geom = c.Kind == portable.Other && myGeometry[myBaseType(typ)]
		col.f32 = c.Kind == portable.Float && myBaseType(typ) == "float"
		col.blankless = c.Kind == portable.Enum && !contains(c.Labels, "")
		tp.cols = append(tp.cols, col)
		def := myIdent(c.Name) + " " + typ
		if c.NotNull {
			def += " NOT NULL"
		} else {
			// Explicitly: an old server's first TIMESTAMP would else be
			// NOT NULL DEFAULT CURRENT_TIMESTAMP.
			def += " NULL"
		}
		if c.Name == auto {
			def += " AUTO_INCREMENT"
		} else {
			d, note := p.defaultClause(g, t, c, &col)
			def += d
			if note != "" {
				p.notes = append(p.notes, note)
			}
		}
		parts = append(parts, def)
	}
	if len(t.PrimaryKey) > 0 {
		parts = append(parts, "PRIMARY KEY ("+myIdents(t.PrimaryKey)+")")
	}
	var adds []string
	for _, ix := range t.Indexes {
		ok := len(ix.Columns) > 0
		for _, cn := range ix.Columns {
			ok = ok && has[cn]
		}
		kind := "index"
		if ix.Unique {
			kind = "unique key"
		}
		if !ok {
			p.notes = append(p.notes, fmt.Sprintf("the %s %s of table %s is not created: it names an unknown column", kind, ix.Name, t.Name))
			continue
		}
		if w := myKeyWidth(ix.Columns, types); w > myKeyBytes {
			p.notes = append(p.notes, fmt.Sprintf("the %s %s of table %s (%s) is not created: it is wider than MySQL's %d bytes a key",
				kind, ix.Name, t.Name, strings.Join(ix.Columns, ", "), myKeyBytes))
			continue
		}
		spec := "KEY " + myIdent(myIndexName(ix.Name, used)) + " (" + myIdents(ix.Columns) + ")"
		if ix.Unique {
			spec = "UNIQUE " + spec
		}
		if inline != "" && ix.Name == inline {
			parts = append(parts, spec)
			inline = ""
			continue
		}
		adds = append(adds, "ADD "+spec)
	}
	tp.create = "CREATE TABLE " + myIdent(t.Name) + " (\n  " + strings.Join(parts, ",\n  ") + "\n) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;\n"
	if len(adds) > 0 {
		tp.indexes = "ALTER TABLE " + myIdent(t.Name) + " " + strings.Join(adds, ", ") + ";\n"
	}
	var fks []string
	for _, fk := range t.ForeignKeys {
		ref := byName[fk.RefTable]
		ok := ref != nil && len(fk.Columns) > 0 && len(fk.Columns) == len(fk.RefColumns)
		for j := 0; ok && j < len(fk.Columns); j++ {
			ok = has[fk.Columns[j]] && myFind(ref, fk.RefColumns[j]) != nil
		}
		if !ok {
			p.notes = append(p.notes, fmt.Sprintf("a foreign key of table %s to %s is not created: it names a table or column the file does not have", t.Name, fk.RefTable))
			continue
		}
		spec := "ADD FOREIGN KEY (" + myIdents(fk.Columns) + ") REFERENCES " + myIdent(fk.RefTable) + " (" + myIdents(fk.RefColumns) + ")"
		for _, a := range []struct{ on, action string }{{"DELETE", fk.OnDelete}, {"UPDATE", fk.OnUpdate}} {
			switch act := strings.ToUpper(strings.TrimSpace(a.action)); act {
			case "CASCADE", "SET NULL", "RESTRICT", "NO ACTION":
				spec += " ON " + a.on + " " + act
			case "SET DEFAULT":
				p.notes = append(p.notes, fmt.Sprintf("a foreign key of table %s to %s: ON %s SET DEFAULT became NO ACTION (InnoDB has no SET DEFAULT)", t.Name, fk.RefTable, a.on))
			}
		}
		fks = append(fks, spec)
	}
	if len(fks) > 0 {
		tp.fks = "ALTER TABLE " + myIdent(t.Name) + " " + strings.Join(fks, ", ") + ";\n"
	}
	if auto != "" {
		// InnoDB moves the counter past explicit values itself; this
		// says so, whatever the server's version. The largest signed
		// BIGINT has no next value.
		alter := myLiteral("ALTER TABLE " + myIdent(t.Name) + " AUTO_INCREMENT = ")
		tp.counter = "SELECT COALESCE(MAX(" + myIdent(auto) + "), 0) INTO @docker_backup_max FROM " + myIdent(t.Name) + ";\n" +
			"SET @docker_backup_sql = IF(@docker_backup_max < 9223372036854775807, CONCAT(" + alter + ", @docker_backup_max + 1), 'DO 0');\n" +
			"PREPARE docker_backup_stmt FROM @docker_backup_sql;\nEXECUTE docker_backup_stmt;\nDEALLOCATE PREPARE docker_backup_stmt;\n"
	}
	return tp, nil
}

// defaultClause is " DEFAULT ..." for a constant default or the current
// time, or a note saying why the default is not applied.
func (p *myLoadPlan) defaultClause(g myTarget, t *portable.Table, c *portable.Column, col *myCol) (string, string) {
	name := t.Name + "." + c.Name
	base := myBaseType(col.typ)
	switch {
	case c.DefaultNow:
		if base == "datetime" || base == "timestamp" {
			if n := myFSP(col.typ); n > 0 {
				return fmt.Sprintf(" DEFAULT CURRENT_TIMESTAMP(%d)", n), ""
			}
			return " DEFAULT CURRENT_TIMESTAMP", ""
		}
		return "", fmt.Sprintf("column %s: its default, the current time, is not applied (MySQL has it for datetime and timestamp columns only)", name)
	case c.Default != nil:
		if c.Kind == portable.Binary || col.geom {
			return "", fmt.Sprintf("column %s: its default is not applied (binary and spatial defaults are not imported)", name)
		}
		if c.Kind == portable.Enum && !contains(c.Labels, *c.Default) {
			return "", fmt.Sprintf("column %s: its default %q is not one of its labels: not applied", name, *c.Default)
		}
		v, err := myEncode(nil, col, *c.Default, p.axis)
		if err != nil {
			return "", fmt.Sprintf("column %s: its default is not applied: %v", name, err)
		}
		if myUnkeyable[base] || myGeometry[base] {
			// MySQL takes no literal default on TEXT, BLOB and JSON, only
			// an expression (8.0.13 on).
			if g.flavor != "MariaDB" {
				if !g.atLeast(8, 0, 13) {
					return "", fmt.Sprintf("column %s: its default is not applied (this MySQL has no defaults on %s columns)", name, base)
				}
				return " DEFAULT (" + string(v) + ")", ""
			}
		}
		return " DEFAULT " + string(v), ""
	case c.DefaultExpr != "":
		return "", fmt.Sprintf("column %s: its default %s is not applied (the import applies constant defaults only)", name, c.DefaultExpr)
	}
	return "", ""
}

var (
	myDigits  = regexp.MustCompile(`^-?\d+$`)
	myDate    = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`)
	myStamp   = regexp.MustCompile(`^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?(Z|[-+]\d{2}(?::?\d{2}(?::?\d{2})?)?)?$`)
	myClock   = regexp.MustCompile(`^(-?\d{2,3}):(\d{2}):(\d{2})(\.\d{1,9})?(Z|[-+]\d{2}(?::?\d{2}(?::?\d{2})?)?)?$`)
	myBitText = regexp.MustCompile(`^[01]{1,64}$`)
)

// myOffset reads a zone offset ("Z", "+02", "+05:30", "-0330") in seconds.
func myOffset(s string) int {
	if s == "" || s == "Z" {
		return 0
	}
	digits := strings.ReplaceAll(s[1:], ":", "")
	secs := 0
	for i, mult := range []int{3600, 60, 1} {
		if len(digits) >= 2*(i+1) {
			n, _ := strconv.Atoi(digits[2*i : 2*i+2])
			secs += n * mult
		}
	}
	if s[0] == '-' {
		secs = -secs
	}
	return secs
}

// myStampSQL turns an ISO 8601 timestamp into the server's form, in UTC
// when it has an offset.
func myStampSQL(v string) (string, error) {
	m := myStamp.FindStringSubmatch(v)
	if m == nil {
		return "", fmt.Errorf("%.40q is not an ISO 8601 timestamp MySQL can hold", v)
	}
	off := myOffset(m[8])
	if off == 0 {
		return v[:10] + " " + m[4] + ":" + m[5] + ":" + m[6] + m[7], nil
	}
	n := func(s string) int { i, _ := strconv.Atoi(s); return i }
	if n(m[2]) == 0 || n(m[3]) == 0 {
		return "", fmt.Errorf("%.40q: a zero date has no offset", v)
	}
	t := time.Date(n(m[1]), time.Month(n(m[2])), n(m[3]), n(m[4]), n(m[5]), n(m[6]), 0, time.UTC).Add(-time.Duration(off) * time.Second)
	if t.Year() < 1 || t.Year() > 9999 {
		return "", fmt.Errorf("%.40q is beyond the years MySQL holds", v)
	}
	return t.Format("2006-01-02 15:04:05") + m[7], nil
}

// myClockSQL turns an ISO 8601 time into the server's, in UTC when it has
// an offset (MySQL's TIME has none).
func myClockSQL(v string) (string, error) {
	m := myClock.FindStringSubmatch(v)
	if m == nil {
		return "", fmt.Errorf("%.40q is not a time MySQL can hold", v)
	}
	off := myOffset(m[5])
	if off == 0 {
		return m[1] + ":" + m[2] + ":" + m[3] + m[4], nil
	}
	h, _ := strconv.Atoi(m[1])
	mi, _ := strconv.Atoi(m[2])
	se, _ := strconv.Atoi(m[3])
	secs := ((h*3600+mi*60+se-off)%86400 + 86400) % 86400
	return fmt.Sprintf("%02d:%02d:%02d%s", secs/3600, secs/60%60, secs%60, m[4]), nil
}

// myEncode appends v, a value in the file's representation of col's kind,
// as an SQL literal. Nothing of v reaches the SQL but through quoting or
// after a check of its form.
func myEncode(b []byte, col *myCol, v any, axis bool) ([]byte, error) {
	if v == nil {
		return append(b, "NULL"...), nil
	}
	switch col.kind {
	case portable.Binary:
		var raw []byte
		switch x := v.(type) {
		case []byte:
			raw = x
		case string:
			raw = []byte(x)
		default:
			return nil, fmt.Errorf("a binary value of type %T", v)
		}
		b = append(b, "X'"...)
		b = hex.AppendEncode(b, raw)
		return append(b, '\''), nil
	case portable.Boolean:
		switch x := v.(type) {
		case int64:
			return strconv.AppendInt(b, x, 10), nil
		case float64:
			if x == math.Trunc(x) && math.Abs(x) < 1<<53 {
				return strconv.AppendInt(b, int64(x), 10), nil
			}
		case bool:
			if x {
				return append(b, '1'), nil
			}
			return append(b, '0'), nil
		case string:
			switch strings.ToLower(x) {
			case "1", "t", "true", "y", "yes", "on":
				return append(b, '1'), nil
			case "0", "f", "false", "n", "no", "off":
				return append(b, '0'), nil
			}
			if myDigits.MatchString(x) {
				return append(b, x...), nil
			}
		}
		return nil, fmt.Errorf("%.40v is not a boolean", v)
	case portable.Integer:
		switch x := v.(type) {
		case int64:
			return strconv.AppendInt(b, x, 10), nil
		case float64:
			if x == math.Trunc(x) && !math.IsInf(x, 0) {
				return strconv.AppendFloat(b, x, 'f', 0, 64), nil
			}
		case string:
			if myDigits.MatchString(x) {
				return append(b, x...), nil
			}
		}
		return nil, fmt.Errorf("%.40v is not an integer", v)
	case portable.Float:
		var f float64
		switch x := v.(type) {
		case float64:
			f = x
		case int64:
			return strconv.AppendInt(b, x, 10), nil
		case string:
			var err error
			if f, err = strconv.ParseFloat(x, 64); err != nil && !errors.Is(err, strconv.ErrRange) {
				return nil, fmt.Errorf("%.40q is not a number", x)
			}
		default:
			return nil, fmt.Errorf("a float of type %T", v)
		}
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, fmt.Errorf("%v: MySQL's floats hold no NaN or infinity", f)
		}
		if f32 := float32(f); col.f32 && !math.IsInf(float64(f32), 0) {
			f = float64(f32)
		}
		return strconv.AppendFloat(b, f, 'g', -1, 64), nil
	case portable.Decimal:
		switch x := v.(type) {
		case int64:
			return strconv.AppendInt(b, x, 10), nil
		case float64:
			if math.IsNaN(x) || math.IsInf(x, 0) {
				return nil, fmt.Errorf("%v: MySQL's decimals hold no NaN or infinity", x)
			}
			return myAppendLiteral(b, strconv.FormatFloat(x, 'g', -1, 64)), nil
		case string:
			// Quoted: a string becomes a DECIMAL exactly, every digit
			// kept, where 1e3 as a literal would be a DOUBLE.
			if !myNumber.MatchString(x) {
				return nil, fmt.Errorf("%.40q: MySQL's decimals hold numbers only", x)
			}
			return myAppendLiteral(b, x), nil
		}
		return nil, fmt.Errorf("a decimal of type %T", v)
	case portable.Timestamp, portable.TimestampTZ, portable.Date, portable.Time:
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("a %s of type %T", col.kind, v)
		}
		var err error
		switch col.kind {
		case portable.Date:
			if !myDate.MatchString(s) {
				err = fmt.Errorf("%.40q is not a date MySQL can hold (YYYY-MM-DD)", s)
			}
		case portable.Time:
			s, err = myClockSQL(s)
		default:
			s, err = myStampSQL(s)
		}
		if err != nil {
			return nil, err
		}
		return myAppendLiteral(b, s), nil
	}
	var s string
	switch x := v.(type) {
	case string:
		s = x
	case []byte:
		s = string(x)
	case int64:
		s = strconv.FormatInt(x, 10)
	case float64:
		s = strconv.FormatFloat(x, 'g', -1, 64)
	default:
		return nil, fmt.Errorf("a value of type %T", v)
	}
	switch {
	case col.bit:
		if !myBitText.MatchString(s) {
			return nil, fmt.Errorf("%.40q is not a bit string", s)
		}
		return append(append(append(b, "b'"...), s...), '\''), nil
	case col.geom:
		wkb, srid, err := myParseEWKB([]byte(s))
		if err != nil {
			return nil, err
		}
		b = append(b, "ST_GeomFromWKB(X'"...)
		b = hex.AppendEncode(b, wkb)
		b = append(b, "', "...)
		b = strconv.AppendUint(b, uint64(srid), 10)
		if axis {
			b = append(b, ", 'axis-order=long-lat'"...)
		}
		return append(b, ')'), nil
	}
	return myAppendLiteral(b, s), nil
}

// loadInfo reads the largest statement the server takes and the tables
// db has.
func (m *myConn) loadInfo(ctx context.Context, db string) (maxPacket int, tables []string, err error) {
	script := myReadSession + "SELECT 'packet', @@max_allowed_packet;\n" +
		"SELECT 'table', " + nv("TABLE_NAME") + " FROM information_schema.TABLES WHERE " + mySchemaIs("TABLE_SCHEMA", db) + ";\n"
	err = m.run(ctx, script, func(f [][]byte) error {
		switch {
		case len(f) == 2 && string(f[0]) == "packet":
			n, err := strconv.Atoi(string(f[1]))
			maxPacket = n
			return err
		case len(f) == 2 && string(f[0]) == "table":
			v, _, err := myValue(f[1])
			tables = append(tables, string(v))
			return err
		}
		return fmt.Errorf("unexpected output %.40q from the client", f[0])
	})
	if err == nil && maxPacket < 1024 {
		err = errors.New("the server did not say its max_allowed_packet")
	}
	return maxPacket, tables, err
}

func (m *myConn) load(ctx context.Context, db string, s *portable.Schema, create bool, src RowSource) ([]string, error) {
	plan, err := myTarget{flavor: m.flavor, ver: m.ver}.importPlan(s)
	if err != nil {
		return nil, fmt.Errorf("importing into database %s of service %s: %w", db, m.service, err)
	}
	maxPacket, existing, err := m.loadInfo(ctx, db)
	if err != nil {
		return nil, fmt.Errorf("preparing the import into database %s of service %s: %w", db, m.service, err)
	}
	if !create {
		// A failed load drops the tables it made: none may be there
		// before.
		have := map[string]bool{}
		for _, n := range existing {
			have[strings.ToLower(n)] = true
		}
		for _, t := range s.Tables {
			if have[strings.ToLower(t.Name)] {
				return nil, fmt.Errorf("database %s of service %s already has a table %s: drop its tables first, or import into a new database", db, m.service, t.Name)
			}
		}
	} else {
		stmt := "CREATE DATABASE " + myIdent(db) + " CHARACTER SET utf8mb4;\n"
		if _, err := m.sess.query(ctx, m.loader, strings.NewReader(stmt)); err != nil {
			return nil, fmt.Errorf("creating database %s in service %s: %w", db, m.service, err)
		}
	}
	if err := m.feed(ctx, db, plan, maxPacket, src); err != nil {
		err = fmt.Errorf("loading database %s into service %s: %w", db, m.service, err)
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		undo := "DROP DATABASE IF EXISTS " + myIdent(db) + ";\n"
		what := "the new database"
		if !create {
			names := make([]string, len(s.Tables))
			for i, t := range s.Tables {
				names[i] = myIdent(db) + "." + myIdent(t.Name)
			}
			undo = "SET SESSION foreign_key_checks = 0;\nDROP TABLE IF EXISTS " + strings.Join(names, ", ") + ";\n"
			what = "the tables it made"
		}
		if _, derr := m.sess.query(cctx, m.loader, strings.NewReader(undo)); derr != nil {
			return nil, fmt.Errorf("%w; %s could not be dropped: %v", err, what, derr)
		}
		return nil, err
	}
	return plan.notes, nil
}

// feed runs the load's SQL, written as src gives the rows, through one
// client.
func (m *myConn) feed(ctx context.Context, db string, plan *myLoadPlan, maxPacket int, src RowSource) error {
	pr, pw := io.Pipe()
	werr := make(chan error, 1)
	lw := &myLineWriter{w: pw}
	go func() {
		err := plan.write(ctx, lw, db, maxPacket, src)
		pw.CloseWithError(err)
		werr <- err
	}()
	stdout := &tailBuffer{max: 4 << 10}
	stderr := &tailBuffer{max: 8 << 10}
	// The client stops at its first error: Exec then returns its exit
	// code without waiting on the input still being written.
	o := m.sess.opts(m.loader)
	o.Stdin, o.Stdout, o.Stderr = pr, stdout, stderr
	code, err := m.sess.x.Exec(ctx, m.sess.id, o)
	// The client is gone: the writer stops at its next write.
	pr.CloseWithError(errMyLoadEnded)
	wErr := <-werr
	switch {
	case wErr != nil && !errors.Is(wErr, errMyLoadEnded) && !errors.Is(wErr, io.ErrClosedPipe):
		return wErr
	case err != nil || code != 0:
		err = myClientFailed(m.loader, code, err, stderr.String())
		// The step that failed, from the line the client names.
		if mm := myErrorLine.FindStringSubmatch(stderr.String()); mm != nil {
			n, _ := strconv.Atoi(mm[1])
			if step := lw.step(n); step != "" {
				err = fmt.Errorf("%s: %w", step, err)
			}
		}
		return err
	case !strings.Contains(stdout.String(), myDone):
		return errors.New("the client stopped before the end of the load")
	}
	return nil
}

var myErrorLine = regexp.MustCompile(`(?m)^ERROR \d+ \([0-9A-Z]+\) at line (\d+)`)

// myLineWriter counts the lines of a load and the steps they start, to
// name the step of a line the client reports.
type myLineWriter struct {
	w     io.Writer
	lines int
	steps []myStep
}

type myStep struct {
	line int
	what string
}

func (l *myLineWriter) Write(p []byte) (int, error) {
	l.lines += bytes.Count(p, []byte{'\n'})
	return l.w.Write(p)
}

// mark says that the next line starts step what.
func (l *myLineWriter) mark(what string) {
	l.steps = append(l.steps, myStep{line: l.lines + 1, what: what})
}

// step is what line n belongs to.
func (l *myLineWriter) step(n int) string {
	what := ""
	for _, s := range l.steps {
		if s.line > n {
			break
		}
		what = s.what
	}
	return what
}

// The sql_mode of a load: NO_AUTO_VALUE_ON_ZERO keeps an id 0; strict
// mode fails on a value that does not fit instead of changing it; no
// NO_BACKSLASH_ESCAPES (see myLiteral), no NO_ZERO_DATE (MySQL's zero
// dates load as they are). myLenient is the same without strict mode.
const (
	myStrict  = "'NO_AUTO_VALUE_ON_ZERO,STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION'"
	myLenient = "'NO_AUTO_VALUE_ON_ZERO,NO_ENGINE_SUBSTITUTION'"
)

// write writes the load: the tables, their rows, then the keys (checked
// as they are made) and the counters.
func (p *myLoadPlan) write(ctx context.Context, lw *myLineWriter, db string, maxPacket int, src RowSource) error {
	// Lines are counted as written into the buffer: the client's line
	// numbers count the same text.
	bw := bufio.NewWriterSize(lw.w, 1<<20)
	lw.w = bw
	// Keys are checked once, when made after the rows.
	fmt.Fprintf(lw, "SET NAMES utf8mb4;\nSET SESSION sql_mode = %s, time_zone = '+00:00', foreign_key_checks = 0, unique_checks = 0;\nUSE %s;\n", myStrict, myIdent(db))
	for _, t := range p.tables {
		lw.mark("creating table " + t.t.Name)
		io.WriteString(lw, t.create)
	}
	batch := min(myBatch, maxPacket-1024)
	for i := range p.tables {
		lw.mark("loading the rows of table " + p.tables[i].t.Name)
		if err := p.tables[i].insert(ctx, lw, batch, maxPacket, src, p.axis); err != nil {
			return err
		}
	}
	// With the checks on, MySQL and MariaDB copy the table to add a
	// foreign key, checking every row: a key that does not hold fails.
	lw.mark("")
	io.WriteString(lw, "SET SESSION unique_checks = 1, foreign_key_checks = 1;\n")
	for _, t := range p.tables {
		lw.mark("adding the indexes and unique keys of table " + t.t.Name)
		io.WriteString(lw, t.indexes)
	}
	for _, t := range p.tables {
		lw.mark("adding the foreign keys of table " + t.t.Name)
		io.WriteString(lw, t.fks)
	}
	for _, t := range p.tables {
		lw.mark("setting the AUTO_INCREMENT counter of table " + t.t.Name)
		io.WriteString(lw, t.counter)
	}
	lw.mark("")
	fmt.Fprintf(lw, "SELECT '%s';\n", myDone)
	return bw.Flush()
}

// insert writes t's rows as multi-row INSERTs of about batch bytes.
func (tp *myTablePlan) insert(ctx context.Context, w io.Writer, batch, maxPacket int, src RowSource, axis bool) error {
	names := make([]string, len(tp.cols))
	for i, c := range tp.cols {
		names[i] = c.name
	}
	head := "INSERT INTO " + myIdent(tp.t.Name) + " (" + myIdents(names) + ") VALUES "
	var stmt, row []byte
	n := 0
	flush := func() error {
		if n == 0 {
			return nil
		}
		stmt = append(stmt, ";\n"...)
		_, err := w.Write(stmt)
		stmt, n = stmt[:0], 0
		return err
	}
	err := src(ctx, tp.t, func(vals []any) error {
		if len(vals) != len(tp.cols) {
			return fmt.Errorf("table %s: a row has %d values, not %d", tp.t.Name, len(vals), len(tp.cols))
		}
		row = append(row[:0], '(')
		lenient := false
		for i, v := range vals {
			if i > 0 {
				row = append(row, ", "...)
			}
			if tp.cols[i].blankless && v == "" {
				lenient = true
			}
			var err error
			if row, err = myEncode(row, &tp.cols[i], v, axis); err != nil {
				return fmt.Errorf("table %s, column %s: %w", tp.t.Name, tp.cols[i].name, err)
			}
		}
		row = append(row, ')')
		if len(head)+len(row)+2 > maxPacket {
			return fmt.Errorf("table %s: a row is %d bytes as SQL, more than the server's max_allowed_packet (%d): raise it (SET GLOBAL max_allowed_packet) and import again",
				tp.t.Name, len(head)+len(row)+2, maxPacket)
		}
		if lenient {
			// An enum's error value "", alone in a statement of its own.
			if err := flush(); err != nil {
				return err
			}
			stmt = fmt.Appendf(stmt, "SET SESSION sql_mode = %s;\n%s%s;\nSET SESSION sql_mode = %s;\n", myLenient, head, row, myStrict)
			_, err := w.Write(stmt)
			stmt = stmt[:0]
			return err
		}
		if n > 0 && len(stmt)+len(row)+3 > batch {
			if err := flush(); err != nil {
				return err
			}
		}
		if n == 0 {
			stmt = append(stmt, head...)
		} else {
			stmt = append(stmt, ',')
		}
		stmt = append(stmt, row...)
		n++
		return nil
	})
	if err == nil {
		err = flush()
	}
	return err
}

// isCharType tells a fixed-width character type: char(n), character(n).
func isCharType(t string) bool {
	t = strings.ToLower(t)
	return strings.HasPrefix(t, "char(") || strings.HasPrefix(t, "character(") || strings.HasPrefix(t, "nchar(")
}
