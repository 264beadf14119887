package dbdump

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/docker-backup/docker-backup/internal/portable"
)

// Field and record separators of psql's unaligned output for catalog
// queries: definitions hold newlines and | but never these.
const (
	fieldSep  = "\x1f"
	recordSep = "\x1e"
)

// maxSchemaOutput bounds the catalog queries' output (definitions of
// views and functions included).
const maxSchemaOutput = 64 << 20

// copyEnd is the line printed between two tables' COPY output: COPY's
// text format doubles every backslash of the data, so no row is "\.".
const copyEnd = `\.`

func pgPortable(ctx context.Context, x execer, t Target) (*Portable, error) {
	user, env, err := pgEnv(ctx, x, t)
	if err != nil {
		return nil, err
	}
	osu, note := osUser(ctx, x, t.ContainerID, "postgres")
	// The catalog queries' literals ('pg\_toast%') read as written.
	sess := session{x: x, id: t.ContainerID, env: append(env, pgSessionEnv...), user: osu}
	psql := func(db string) []string {
		return []string{"psql", "-X", "-A", "-t", "-q", "--no-password", "-v", "ON_ERROR_STOP=1", "-d", pgDBName(db)}
	}
	version, err := sess.capture(ctx, append(psql("template1"), "-c", "SHOW server_version"))
	if err != nil {
		return nil, connectError("PostgreSQL", t.Service, user, "POSTGRES_PASSWORD", err)
	}
	_, rerr := sess.capture(ctx, append(psql("template1"), "-c", `\restrict dockerbackupprobe`))
	restrict := rerr == nil
	p := &Portable{Engine: Postgres, Flavor: "PostgreSQL", Version: strings.TrimSpace(version)}
	if note != "" {
		p.Notes = append(p.Notes, "service "+t.Service+": "+note)
	}
	// records runs a catalog query and splits its output.
	records := func(ctx context.Context, db, q string) ([][]string, error) {
		stdout := &limitedBuffer{max: maxSchemaOutput}
		stderr := &tailBuffer{max: 8 << 10}
		cmd := append(psql(db), "-F", fieldSep, "-R", recordSep, "-c", q)
		o := sess.opts(cmd)
		o.Stdout, o.Stderr = stdout, stderr
		code, err := x.Exec(ctx, t.ContainerID, o)
		if err != nil {
			return nil, err
		}
		if code != 0 {
			return nil, toolError(cmd, code, stderr.String())
		}
		var out [][]string
		for _, r := range strings.Split(strings.TrimSuffix(stdout.String(), "\n"), recordSep) {
			if r = strings.TrimPrefix(r, "\n"); r != "" {
				out = append(out, strings.Split(r, fieldSep))
			}
		}
		return out, nil
	}
	p.dbs = func(ctx context.Context) ([]string, error) {
		out, err := sess.capture(ctx, append(psql("template1"), "-c", "SELECT datname FROM pg_database WHERE datallowconn AND NOT datistemplate ORDER BY 1"))
		if err != nil {
			return nil, fmt.Errorf("listing the databases of service %s: %w", t.Service, err)
		}
		return lines(out), nil
	}
	p.count = func(ctx context.Context, db string) ([]TableCount, error) {
		counts, err := pgCount(ctx, sess, db)
		if err != nil {
			return nil, fmt.Errorf("counting the rows of database %s of service %s: %w", db, t.Service, err)
		}
		return counts, nil
	}
	p.state = func(ctx context.Context, db string) (bool, int64, error) {
		out, err := sess.capture(ctx, append(psql("template1"), "-c", "SELECT count(*) FROM pg_database WHERE datname = "+pgLiteral(db)))
		if err != nil {
			return false, 0, fmt.Errorf("looking for database %s in service %s: %w", db, t.Service, err)
		}
		if strings.TrimSpace(out) == "0" {
			return false, 0, nil
		}
		counts, err := p.count(ctx, db)
		if err != nil {
			return true, 0, err
		}
		return true, totalRows(counts), nil
	}
	p.schema = func(ctx context.Context, db string) (*portable.Schema, error) {
		s, err := pgReadSchema(ctx, func(q string) ([][]string, error) { return records(ctx, db, q) })
		if err != nil {
			return nil, fmt.Errorf("reading the schema of database %s of service %s: %w", db, t.Service, err)
		}
		s.Meta = portable.Meta{Engine: Postgres, Flavor: "PostgreSQL", Version: p.Version, Database: db, Created: portable.Now(), Format: portable.FormatVersion}
		return s, nil
	}
	p.rows = func(ctx context.Context, db string, s *portable.Schema, fn func(*portable.Table, []any) error) error {
		return pgRows(ctx, sess, psql(db), s, fn)
	}
	p.check = func(ctx context.Context, db string, s *portable.Schema) error {
		if err := pgCheckName(fmt.Sprintf("database %q", db), db); err != nil {
			return err
		}
		plan, err := pgImportPlan(s)
		if err != nil {
			return err
		}
		out, err := sess.capture(ctx, append(psql("template1"), "-c", pgLockSettings))
		if err != nil {
			return fmt.Errorf("reading the lock settings of service %s: %w", t.Service, err)
		}
		if err := pgCheckLocks(plan.locks(), out); err != nil {
			return fmt.Errorf("importing into service %s: %w", t.Service, err)
		}
		return nil
	}
	p.load = func(ctx context.Context, db string, s *portable.Schema, create bool, src RowSource) ([]string, error) {
		plan, err := pgImportPlan(s)
		if err != nil {
			return nil, err
		}
		if create {
			if _, err := sess.capture(ctx, append(psql("template1"), "-c", "CREATE DATABASE "+pgIdent(db))); err != nil {
				return nil, fmt.Errorf("creating database %s in service %s: %w", db, t.Service, err)
			}
		}
		key := ""
		if restrict {
			if key, err = restrictKey(); err != nil {
				return nil, err
			}
		}
		pr, pw := io.Pipe()
		go func() { pw.CloseWithError(plan.write(ctx, pw, key, src)) }()
		// One transaction (the script's BEGIN and COMMIT): a failed load
		// leaves the database as it was.
		cmd := []string{"psql", "-X", "-q", "--no-password", "-v", "ON_ERROR_STOP=1", "-d", pgDBName(db), "-f", "-"}
		err = sess.feed(ctx, cmd, pr, nil)
		pr.CloseWithError(errors.New("the load ended"))
		if err != nil {
			err = fmt.Errorf("loading database %s into service %s: %w", db, t.Service, err)
			if create {
				cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
				defer cancel()
				if _, derr := sess.capture(cctx, append(psql("template1"), "-c", "DROP DATABASE IF EXISTS "+pgIdent(db))); derr != nil {
					err = fmt.Errorf("%w; the new database could not be dropped: %v", err, derr)
				}
			}
			return nil, err
		}
		return plan.notes, nil
	}
	return p, nil
}

// The catalog queries. Column lists are JSON arrays of names.
const (
	pgTablesQuery = `SELECT c.oid, n.nspname, c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\_toast%'
ORDER BY n.nspname, c.relname`
	pgColumnsQuery = `SELECT a.attrelid, a.attname, format_type(a.atttypid, a.atttypmod), coalesce(bt.typname, t.typname), t.typtype, t.typcategory,
a.attnotnull, coalesce(pg_get_expr(d.adbin, d.adrelid), ''), a.attidentity, a.attgenerated, a.atttypmod,
coalesce((SELECT json_agg(e.enumlabel ORDER BY e.enumsortorder) FROM pg_enum e WHERE e.enumtypid = t.oid)::text, ''),
CASE WHEN t.typtype = 'd' THEN format_type(t.typbasetype, t.typtypmod) ELSE '' END
FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_type t ON t.oid = a.atttypid LEFT JOIN pg_type bt ON t.typtype = 'd' AND bt.oid = t.typbasetype
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\_toast%'
AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attrelid, a.attnum`
	pgConstraintsQuery = `SELECT con.conrelid, con.conname, con.contype,
coalesce((SELECT json_agg(a.attname ORDER BY k.o) FROM unnest(con.conkey) WITH ORDINALITY k(n, o) JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.n)::text, '[]'),
con.confrelid, coalesce((SELECT json_agg(a.attname ORDER BY k.o) FROM unnest(con.confkey) WITH ORDINALITY k(n, o) JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.n)::text, '[]'),
con.confupdtype, con.confdeltype, pg_get_constraintdef(con.oid)
FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE con.contype IN ('p', 'u', 'f', 'c', 'x') AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND con.conislocal
ORDER BY con.conrelid, con.contype, con.conname`
	pgIndexesQuery = `SELECT i.indrelid, ic.relname, i.indisunique, i.indexprs IS NOT NULL OR i.indpred IS NOT NULL OR am.amname <> 'btree'
OR EXISTS (SELECT 1 FROM unnest(i.indoption::int2[]) o WHERE o <> 0), pg_get_indexdef(i.indexrelid),
coalesce((SELECT json_agg(a.attname ORDER BY k.o) FROM unnest(i.indkey::int2[]) WITH ORDINALITY k(n, o) JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.n WHERE k.o <= i.indnkeyatts)::text, '[]')
FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid JOIN pg_am am ON am.oid = ic.relam
JOIN pg_class c ON c.oid = i.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\_toast%' AND c.relkind IN ('r', 'p')
AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid AND k.contype IN ('p', 'u', 'x'))
ORDER BY i.indrelid, ic.relname`
	// Everything a table cannot hold, with its definition.
	pgUnmappedQuery = `SELECT 'view', format('%I.%I', n.nspname, c.relname), pg_get_viewdef(c.oid) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind IN ('v', 'm') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
UNION ALL SELECT 'trigger', format('%s on %I.%I', t.tgname, n.nspname, c.relname), pg_get_triggerdef(t.oid) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE NOT t.tgisinternal AND n.nspname NOT IN ('pg_catalog', 'information_schema')
UNION ALL SELECT CASE p.prokind WHEN 'p' THEN 'procedure' ELSE 'function' END, format('%I.%s', n.nspname, p.oid::regprocedure), pg_get_functiondef(p.oid) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
 WHERE p.prokind IN ('f', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e')
UNION ALL SELECT 'sequence', format('%I.%I', s.schemaname, s.sequencename), format('last value %s, increment %s', coalesce(s.last_value::text, 'none (never used)'), s.increment_by) FROM pg_sequences s
 WHERE s.schemaname NOT IN ('pg_catalog', 'information_schema')
UNION ALL SELECT 'extension', e.extname, 'version ' || e.extversion FROM pg_extension e WHERE e.extname <> 'plpgsql'`
)

// pgTableName is a table's name in the file: schema.table outside public.
func pgTableName(schema, table string) string {
	if schema == "public" {
		return table
	}
	return schema + "." + table
}

// pgReadSchema reads a database's tables, keys and what the file cannot
// hold, with query answering catalog queries.
func pgReadSchema(ctx context.Context, query func(q string) ([][]string, error)) (*portable.Schema, error) {
	s := &portable.Schema{}
	rows, err := query(pgTablesQuery)
	if err != nil {
		return nil, err
	}
	byOID := map[string]int{}
	for _, r := range rows {
		if len(r) != 4 {
			return nil, fmt.Errorf("unexpected table row %q", r)
		}
		byOID[r[0]] = len(s.Tables)
		s.Tables = append(s.Tables, portable.Table{Name: pgTableName(r[1], r[2]), Schema: r[1]})
	}
	if len(s.Tables) == 0 {
		return s, nil
	}
	if rows, err = query(pgColumnsQuery); err != nil {
		return nil, err
	}
	for _, r := range rows {
		if len(r) != 13 {
			return nil, fmt.Errorf("unexpected column row %q", r)
		}
		i, ok := byOID[r[0]]
		if !ok {
			continue
		}
		t := &s.Tables[i]
		c, um := pgColumn(t.Name, r)
		t.Columns = append(t.Columns, c)
		s.Unmapped = append(s.Unmapped, um...)
	}
	if rows, err = query(pgConstraintsQuery); err != nil {
		return nil, err
	}
	for _, r := range rows {
		if len(r) != 9 {
			return nil, fmt.Errorf("unexpected constraint row %q", r)
		}
		i, ok := byOID[r[0]]
		if !ok {
			continue
		}
		t := &s.Tables[i]
		var cols, refCols []string
		if err := json.Unmarshal([]byte(r[3]), &cols); err != nil {
			return nil, fmt.Errorf("constraint %s: %w", r[1], err)
		}
		if err := json.Unmarshal([]byte(r[5]), &refCols); err != nil {
			return nil, fmt.Errorf("constraint %s: %w", r[1], err)
		}
		switch r[2] {
		case "p":
			t.PrimaryKey = cols
		case "u":
			t.Indexes = append(t.Indexes, portable.Index{Name: r[1], Unique: true, Columns: cols})
		case "f":
			j, ok := byOID[r[4]]
			if !ok {
				s.Unmapped = append(s.Unmapped, portable.Unmapped{Kind: "foreign key", Name: r[1] + " on " + t.Name, Definition: r[8], Reason: "it refers to a table outside the export"})
				continue
			}
			t.ForeignKeys = append(t.ForeignKeys, portable.ForeignKey{Columns: cols, RefTable: s.Tables[j].Name, RefColumns: refCols,
				OnUpdate: pgAction(r[6]), OnDelete: pgAction(r[7])})
		case "c":
			s.Unmapped = append(s.Unmapped, portable.Unmapped{Kind: "check constraint", Name: r[1] + " on " + t.Name, Definition: r[8], Reason: "SQLite and the import do not evaluate the source's expressions"})
		case "x":
			s.Unmapped = append(s.Unmapped, portable.Unmapped{Kind: "exclusion constraint", Name: r[1] + " on " + t.Name, Definition: r[8], Reason: "SQLite has no exclusion constraints"})
		}
	}
	if rows, err = query(pgIndexesQuery); err != nil {
		return nil, err
	}
	for _, r := range rows {
		if len(r) != 6 {
			return nil, fmt.Errorf("unexpected index row %q", r)
		}
		i, ok := byOID[r[0]]
		if !ok {
			continue
		}
		t := &s.Tables[i]
		var cols []string
		if err := json.Unmarshal([]byte(r[5]), &cols); err != nil {
			return nil, fmt.Errorf("index %s: %w", r[1], err)
		}
		if r[3] == "t" || len(cols) == 0 {
			s.Unmapped = append(s.Unmapped, portable.Unmapped{Kind: "index", Name: r[1] + " on " + t.Name, Definition: r[4], Reason: "an expression, partial, descending or non-btree index"})
			continue
		}
		t.Indexes = append(t.Indexes, portable.Index{Name: r[1], Unique: r[2] == "t", Columns: cols})
	}
	if rows, err = query(pgUnmappedQuery); err != nil {
		return nil, err
	}
	for _, r := range rows {
		if len(r) != 3 {
			return nil, fmt.Errorf("unexpected row %q", r)
		}
		reason := "SQLite cannot hold it"
		switch r[0] {
		case "sequence":
			reason = "the import sets counters past the highest key"
		case "extension":
			reason = "the types and functions it adds are not exported"
		}
		s.Unmapped = append(s.Unmapped, portable.Unmapped{Kind: r[0], Name: r[1], Definition: r[2], Reason: reason})
	}
	return s, nil
}

func pgAction(c string) string {
	switch c {
	case "r":
		return "RESTRICT"
	case "c":
		return "CASCADE"
	case "n":
		return "SET NULL"
	case "d":
		return "SET DEFAULT"
	}
	return "NO ACTION"
}

var (
	pgStringDefault = regexp.MustCompile(`^'((?:[^']|'')*)'(?:::[a-z][a-z0-9_ ]*(?:\(\d+(?:,\d+)?\))?)?$`)
	pgNumberDefault = regexp.MustCompile(`^\(?(-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)\)?(?:::[a-z][a-z ]*)?$`)
	pgNowDefault    = regexp.MustCompile(`^(?i:now\(\)|current_timestamp(?:\(\d\))?|localtimestamp|statement_timestamp\(\)|transaction_timestamp\(\)|clock_timestamp\(\)|current_date)(?:::[a-z][a-z ]*)?$`)
)

// pgColumn maps one row of pgColumnsQuery.
func pgColumn(table string, r []string) (portable.Column, []portable.Unmapped) {
	c := portable.Column{Name: r[1], Type: r[2], NotNull: r[6] == "t"}
	typname, typtype, category := r[3], r[4], r[5]
	typmod, _ := strconv.Atoi(r[10])
	var um []portable.Unmapped
	if r[12] != "" {
		um = append(um, portable.Unmapped{Kind: "domain", Name: table + "." + c.Name, Definition: r[2] + " over " + r[12], Reason: "exported as its base type"})
		c.Type = r[12]
	}
	switch {
	case typtype == "e":
		c.Kind = portable.Enum
		_ = json.Unmarshal([]byte(r[11]), &c.Labels)
	case category == "A":
		c.Kind = portable.Array
	default:
		switch typname {
		case "int2":
			c.Kind, c.Size = portable.Integer, 2
		case "int4":
			c.Kind, c.Size = portable.Integer, 4
		case "int8":
			c.Kind, c.Size = portable.Integer, 8
		case "bool":
			c.Kind = portable.Boolean
		case "numeric":
			c.Kind = portable.Decimal
			if typmod >= 4 {
				c.Precision, c.Scale = ((typmod-4)>>16)&0xffff, (typmod-4)&0xffff
			}
		case "float4":
			c.Kind, c.Size = portable.Float, 4
		case "float8":
			c.Kind, c.Size = portable.Float, 8
		case "varchar", "bpchar":
			c.Kind = portable.Text
			if typmod >= 4 {
				c.Length = typmod - 4
			}
		case "text", "name", "citext":
			c.Kind = portable.Text
		case "date":
			c.Kind = portable.Date
		case "time", "timetz":
			c.Kind = portable.Time
		case "timestamp":
			c.Kind = portable.Timestamp
		case "timestamptz":
			c.Kind = portable.TimestampTZ
		case "uuid":
			c.Kind = portable.UUID
		case "json", "jsonb":
			c.Kind = portable.JSON
		case "bytea":
			c.Kind = portable.Binary
		default:
			c.Kind = portable.Other
		}
	}
	if r[8] == "a" || r[8] == "d" {
		c.AutoIncrement = true
	}
	def := r[7]
	switch {
	case r[9] == "s":
		um = append(um, portable.Unmapped{Kind: "generated column", Name: table + "." + c.Name, Definition: def, Reason: "exported with its values, as a plain column"})
	case def == "":
	case strings.HasPrefix(def, "nextval("):
		c.AutoIncrement = true
	case pgNowDefault.MatchString(def):
		c.DefaultNow = true
	case c.Kind == portable.Boolean && (def == "true" || def == "false"):
		v := "0"
		if def == "true" {
			v = "1"
		}
		c.Default = &v
	case pgNumberDefault.MatchString(def) && c.Kind != portable.Text:
		v := pgNumberDefault.FindStringSubmatch(def)[1]
		c.Default = &v
	case pgStringDefault.MatchString(def):
		v := strings.ReplaceAll(pgStringDefault.FindStringSubmatch(def)[1], "''", "'")
		if c.Kind == portable.Boolean {
			switch strings.ToLower(v) {
			case "t", "true", "y", "yes", "on", "1":
				v = "1"
			default:
				v = "0"
			}
		}
		c.Default = &v
	default:
		c.DefaultExpr = def
	}
	return c, um
}

// pgRows streams every table of s out of one repeatable-read, read-only
// transaction: one snapshot for the whole database.
func pgRows(ctx context.Context, sess session, psql []string, s *portable.Schema, fn func(*portable.Table, []any) error) error {
	if len(s.Tables) == 0 {
		return nil
	}
	var script strings.Builder
	script.WriteString(pgSessionSQL + "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY;\n" +
		"SET LOCAL TimeZone = 'UTC'; SET LOCAL DateStyle = 'ISO, YMD'; SET LOCAL IntervalStyle = 'iso_8601';\n" +
		"SET LOCAL extra_float_digits = 3; SET LOCAL bytea_output = 'hex';\n")
	for _, t := range s.Tables {
		names := make([]string, len(t.Columns))
		for i, c := range t.Columns {
			names[i] = pgIdent(c.Name)
		}
		rel := pgIdent(t.Schema) + "." + pgIdent(strings.TrimPrefix(t.Name, t.Schema+"."))
		if t.Schema == "public" || t.Schema == "" {
			rel = pgIdent(firstNonEmpty(t.Schema, "public")) + "." + pgIdent(t.Name)
		}
		// A partitioned table has no rows of its own to COPY: its
		// partitions' come through the query.
		fmt.Fprintf(&script, "COPY (SELECT %s FROM %s) TO STDOUT;\nSELECT %s;\n", strings.Join(names, ", "), rel, pgLiteral(copyEnd))
	}
	script.WriteString("COMMIT;\n")
	pr, pw := io.Pipe()
	stderr := &tailBuffer{max: 8 << 10}
	cmd := append(append([]string{}, psql...), "-f", "-")
	done := make(chan error, 1)
	go func() {
		o := sess.opts(cmd)
		o.Stdin, o.Stdout, o.Stderr = strings.NewReader(script.String()), pw, stderr
		code, err := sess.x.Exec(ctx, sess.id, o)
		if err == nil && code != 0 {
			err = toolError(cmd, code, stderr.String())
		}
		pw.CloseWithError(err)
		done <- err
	}()
	err := pgParseRows(pr, s, fn)
	pr.CloseWithError(errors.New("the export stopped reading"))
	if xerr := <-done; xerr != nil && (err == nil || errors.Is(err, io.ErrUnexpectedEOF)) {
		err = xerr
	}
	return err
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// readLine reads one line without its newline, of any length, reusing buf.
func readLine(br *bufio.Reader, buf []byte) ([]byte, error) {
	buf = buf[:0]
	for {
		chunk, err := br.ReadSlice('\n')
		buf = append(buf, chunk...)
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			if err == io.EOF && len(buf) > 0 {
				return buf, io.ErrUnexpectedEOF
			}
			return buf, err
		}
		return buf[:len(buf)-1], nil
	}
}

// pgParseRows reads COPY's text format, the tables one after the other.
func pgParseRows(r io.Reader, s *portable.Schema, fn func(*portable.Table, []any) error) error {
	br := bufio.NewReaderSize(r, 1<<20)
	var line []byte
	var err error
	for ti := range s.Tables {
		t := &s.Tables[ti]
		row := make([]any, len(t.Columns))
		for {
			if line, err = readLine(br, line); err != nil {
				if err == io.EOF {
					err = io.ErrUnexpectedEOF
				}
				return fmt.Errorf("reading the rows of table %s: %w", t.Name, err)
			}
			if string(line) == copyEnd {
				break
			}
			fields := bytes.Split(line, []byte{'\t'})
			if len(fields) != len(t.Columns) {
				return fmt.Errorf("reading the rows of table %s: a row has %d fields, not %d", t.Name, len(fields), len(t.Columns))
			}
			for i, f := range fields {
				if row[i], err = pgValue(t.Columns[i], f); err != nil {
					return fmt.Errorf("reading column %s of table %s: %w", t.Columns[i].Name, t.Name, err)
				}
			}
			if err := fn(t, row); err != nil {
				return err
			}
		}
	}
	return nil
}

// copyUnescape undoes COPY's text escapes.
func copyUnescape(f []byte) string {
	if bytes.IndexByte(f, '\\') < 0 {
		return string(f)
	}
	out := make([]byte, 0, len(f))
	for i := 0; i < len(f); i++ {
		if f[i] != '\\' || i+1 == len(f) {
			out = append(out, f[i])
			continue
		}
		i++
		switch c := f[i]; c {
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'v':
			out = append(out, '\v')
		case 'x':
			n, j := 0, i+1
			for ; j < len(f) && j < i+3 && isHex(f[j]); j++ {
				n = n*16 + unhex(f[j])
			}
			if j == i+1 {
				out = append(out, 'x')
				continue
			}
			out = append(out, byte(n))
			i = j - 1
		default:
			if c >= '0' && c <= '7' {
				n, j := 0, i
				for ; j < len(f) && j < i+3 && f[j] >= '0' && f[j] <= '7'; j++ {
					n = n*8 + int(f[j]-'0')
				}
				out = append(out, byte(n))
				i = j - 1
				continue
			}
			out = append(out, c)
		}
	}
	return string(out)
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func unhex(c byte) int {
	switch {
	case c >= 'a':
		return int(c-'a') + 10
	case c >= 'A':
		return int(c-'A') + 10
	}
	return int(c - '0')
}

// pgValue turns one COPY field into the file's representation.
func pgValue(c portable.Column, f []byte) (any, error) {
	if string(f) == `\N` {
		return nil, nil
	}
	v := copyUnescape(f)
	switch c.Kind {
	case portable.Integer:
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return nil, err
		}
		return n, nil
	case portable.Boolean:
		if v == "t" {
			return int64(1), nil
		}
		return int64(0), nil
	case portable.Float:
		switch v {
		case "NaN", "Infinity", "-Infinity":
			return v, nil
		}
		x, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return nil, err
		}
		if c.Size == 4 {
			// The shortest form of the float4, not of its float64
			// widening (0.1 stays 0.1).
			x, _ = strconv.ParseFloat(strconv.FormatFloat(x, 'g', -1, 32), 64)
		}
		if math.IsInf(x, 0) || math.IsNaN(x) {
			return v, nil
		}
		return x, nil
	case portable.Binary:
		if !strings.HasPrefix(v, `\x`) {
			return nil, fmt.Errorf("bytea not in hex form")
		}
		return hex.DecodeString(v[2:])
	case portable.Timestamp, portable.TimestampTZ, portable.Time:
		return isoTime(v), nil
	}
	return v, nil
}

// isoTime turns PostgreSQL's ISO output ("2024-03-01 13:45:00.5+00") into
// ISO 8601 ("2024-03-01T13:45:00.5+00:00"); infinity and BC dates stay.
func isoTime(v string) string {
	if len(v) > 10 && v[10] == ' ' && v[4] == '-' {
		v = v[:10] + "T" + v[11:]
	}
	// A zone offset of hours only, or hours and minutes without colon.
	if i := strings.LastIndexAny(v, "+-"); i > 7 && !strings.HasSuffix(v, " BC") {
		off := v[i+1:]
		switch {
		case len(off) == 2 && allDigits(off):
			v += ":00"
		case len(off) == 4 && allDigits(off):
			v = v[:i+3] + ":" + off[2:]
		case len(off) == 8 && off[2] == ':' && off[5] == ':':
			// seconds in an offset (historical zones): kept as is.
		}
	}
	return v
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}
