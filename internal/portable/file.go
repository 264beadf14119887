package portable

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	// The pure-Go SQLite: the binary stays static (CGO_ENABLED=0).
	_ "modernc.org/sqlite"
)

// The metadata tables every export holds beside the data.
const (
	metaTable     = "_docker_backup_export"
	tablesTable   = "_docker_backup_export_tables"
	columnsTable  = "_docker_backup_export_columns"
	unmappedTable = "_docker_backup_export_unmapped"
	metaPrefix    = "_docker_backup_export"
)

// ErrNotSQLite: the file is not an SQLite database.
var ErrNotSQLite = errors.New("not an SQLite database")

// ErrNewerFormat: the file was written by a newer docker-backup.
var ErrNewerFormat = errors.New("the export was made by a newer docker-backup")

// Writer writes an export under a temporary name beside its path; Commit
// checks it and gives it its name, so that an interrupted export never
// leaves a file that looks complete.
type Writer struct {
	db     *sql.DB
	conn   *sql.Conn
	path   string
	tmp    string
	schema *Schema

	cur  *Table
	tx   *sql.Tx
	stmt *sql.Stmt // inserts perStmt rows
	// batch holds the values of up to perStmt rows: one statement for
	// many rows costs SQLite and database/sql a fraction of one each.
	batch   []any
	perStmt int
	rows    map[string]int64
}

// maxVariables is SQLite's limit on a statement's parameters (32766 since
// 3.32); rowsPerStmt bounds a batch's rows.
const (
	maxVariables = 32766
	rowsPerStmt  = 200
)

func insertSQL(t *Table, rows int) string {
	one := "(" + strings.TrimSuffix(strings.Repeat("?, ", len(t.Columns)), ", ") + ")"
	return "INSERT INTO " + Ident(t.Name) + " VALUES " + strings.TrimSuffix(strings.Repeat(one+", ", rows), ", ")
}

// Create starts an export of s at path: it creates the tables (keys and
// indexes come at Commit, after the rows) and the metadata.
func Create(ctx context.Context, path string, s *Schema) (w *Writer, err error) {
	if err := checkNames(s); err != nil {
		return nil, err
	}
	suffix := make([]byte, 6)
	if _, err := rand.Read(suffix); err != nil {
		return nil, err
	}
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp-"+hex.EncodeToString(suffix))
	// No journal and no syncs while writing: the file is new and only
	// gets its name once complete, after one fsync.
	dsn := "file:" + (&url.URL{Path: tmp}).EscapedPath() + "?_pragma=journal_mode(OFF)&_pragma=synchronous(OFF)&_pragma=foreign_keys(0)&_pragma=cache_size(-16384)"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, err
	}
	w = &Writer{db: db, path: path, tmp: tmp, schema: s, rows: map[string]int64{}}
	defer func() {
		if err != nil {
			w.Abort()
		}
	}()
	db.SetMaxOpenConns(1)
	if w.conn, err = db.Conn(ctx); err != nil {
		return nil, fmt.Errorf("creating %s: %w", tmp, err)
	}
	if err := w.createSchema(ctx); err != nil {
		return nil, fmt.Errorf("creating the tables of %s: %w", path, err)
	}
	return w, nil
}

// checkNames refuses names the file cannot hold apart.
func checkNames(s *Schema) error {
	seen := map[string]bool{}
	for _, t := range s.Tables {
		l := strings.ToLower(t.Name)
		if strings.HasPrefix(l, "sqlite_") || strings.HasPrefix(l, metaPrefix) {
			return fmt.Errorf("table %s: SQLite reserves that name", t.Name)
		}
		if seen[l] {
			return fmt.Errorf("tables named %s differ only in case, which SQLite does not tell apart", t.Name)
		}
		seen[l] = true
		cols := map[string]bool{}
		for _, c := range t.Columns {
			if cols[strings.ToLower(c.Name)] {
				return fmt.Errorf("table %s: columns named %s differ only in case, which SQLite does not tell apart", t.Name, c.Name)
			}
			cols[strings.ToLower(c.Name)] = true
		}
	}
	return nil
}

// Ident quotes an SQLite identifier.
func Ident(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// literal quotes a string for SQLite, which reads '...' the same under
// every setting (it has no backslash escapes). Text holding a NUL, where
// SQLite stops reading a statement, is written as its bytes cast to text.
func literal(s string) string {
	if strings.IndexByte(s, 0) >= 0 {
		return "(CAST(X'" + hex.EncodeToString([]byte(s)) + "' AS TEXT))"
	}
	return `'` + strings.ReplaceAll(s, `'`, `''`) + `'`
}

func (w *Writer) exec(ctx context.Context, q string, args ...any) error {
	_, err := w.conn.ExecContext(ctx, q, args...)
	return err
}

func (w *Writer) createSchema(ctx context.Context) error {
	s := w.schema
	stmts := []string{
		"CREATE TABLE " + metaTable + " (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
		"CREATE TABLE " + tablesTable + " (table_name TEXT PRIMARY KEY, position INTEGER NOT NULL, source_schema TEXT)",
		"CREATE TABLE " + columnsTable + ` (table_name TEXT NOT NULL, column_name TEXT NOT NULL, position INTEGER NOT NULL,
			kind TEXT NOT NULL, original_type TEXT NOT NULL, auto_increment INTEGER NOT NULL, size INTEGER, unsigned INTEGER,
			length INTEGER, precision INTEGER, scale INTEGER, labels TEXT, default_value TEXT, default_now INTEGER, default_expr TEXT,
			PRIMARY KEY (table_name, column_name))`,
		"CREATE TABLE " + unmappedTable + " (kind TEXT NOT NULL, name TEXT NOT NULL, definition TEXT, reason TEXT)",
	}
	for _, q := range stmts {
		if err := w.exec(ctx, q); err != nil {
			return err
		}
	}
	meta := [][2]string{
		{"format", strconv.Itoa(FormatVersion)}, {"engine", s.Meta.Engine}, {"flavor", s.Meta.Flavor},
		{"version", s.Meta.Version}, {"database", s.Meta.Database}, {"created", s.Meta.Created},
	}
	for _, kv := range meta {
		if err := w.exec(ctx, "INSERT INTO "+metaTable+" VALUES (?, ?)", kv[0], kv[1]); err != nil {
			return err
		}
	}
	for i, t := range s.Tables {
		if err := w.exec(ctx, "CREATE TABLE "+Ident(t.Name)+" ("+tableBody(&t)+")"); err != nil {
			return fmt.Errorf("table %s: %w", t.Name, err)
		}
		if err := w.exec(ctx, "INSERT INTO "+tablesTable+" VALUES (?, ?, ?)", t.Name, i, t.Schema); err != nil {
			return err
		}
		for j, c := range t.Columns {
			var labels any
			if c.Kind == Enum {
				b, _ := json.Marshal(c.Labels)
				labels = string(b)
			}
			var def any
			if c.Default != nil {
				def = *c.Default
			}
			if err := w.exec(ctx, "INSERT INTO "+columnsTable+" VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
				t.Name, c.Name, j, string(c.Kind), c.Type, b2i(c.AutoIncrement), c.Size, b2i(c.Unsigned),
				c.Length, c.Precision, c.Scale, labels, def, b2i(c.DefaultNow), c.DefaultExpr); err != nil {
				return err
			}
		}
	}
	for _, u := range s.Unmapped {
		if err := w.exec(ctx, "INSERT INTO "+unmappedTable+" VALUES (?, ?, ?, ?)", u.Kind, u.Name, u.Definition, u.Reason); err != nil {
			return err
		}
	}
	return nil
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// tableBody is a CREATE TABLE's columns, primary key and foreign keys.
func tableBody(t *Table) string {
	var parts []string
	for _, c := range t.Columns {
		p := Ident(c.Name)
		if typ := declaredType(c); typ != "" {
			p += " " + typ
		}
		if c.NotNull {
			p += " NOT NULL"
		}
		if d := sqliteDefault(c); d != "" {
			p += " DEFAULT " + d
		}
		parts = append(parts, p)
	}
	if len(t.PrimaryKey) > 0 {
		parts = append(parts, "PRIMARY KEY ("+idents(t.PrimaryKey)+")")
	}
	for _, fk := range t.ForeignKeys {
		p := "FOREIGN KEY (" + idents(fk.Columns) + ") REFERENCES " + Ident(fk.RefTable) + " (" + idents(fk.RefColumns) + ")"
		if a := action(fk.OnDelete); a != "" {
			p += " ON DELETE " + a
		}
		if a := action(fk.OnUpdate); a != "" {
			p += " ON UPDATE " + a
		}
		parts = append(parts, p)
	}
	return strings.Join(parts, ", ")
}

// declaredType is a column's type in the file. An unsigned 64-bit
// integer gets none: beyond int64 its values are text, which INTEGER
// affinity would turn into a rounded REAL.
func declaredType(c Column) string {
	if c.Kind == Integer && c.Unsigned && c.Size == 8 {
		return ""
	}
	return c.Kind.sqliteType()
}

// action is a foreign key action SQLite knows, "" for the default.
func action(a string) string {
	switch a = strings.ToUpper(strings.TrimSpace(a)); a {
	case "CASCADE", "RESTRICT", "SET NULL", "SET DEFAULT":
		return a
	}
	return ""
}

func idents(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = Ident(n)
	}
	return strings.Join(q, ", ")
}

// sqliteDefault is a column's default as SQLite spells it, "" for none.
func sqliteDefault(c Column) string {
	if c.DefaultNow {
		return "CURRENT_TIMESTAMP"
	}
	if c.Default == nil || c.Kind == Binary {
		return ""
	}
	v := *c.Default
	switch c.Kind {
	case Integer, Boolean:
		if _, err := strconv.ParseInt(v, 10, 64); err == nil {
			return v
		}
	case Float:
		if f, err := strconv.ParseFloat(v, 64); err == nil && !math.IsNaN(f) && !math.IsInf(f, 0) {
			return strconv.FormatFloat(f, 'g', -1, 64)
		}
	}
	return literal(v)
}

// Insert adds a row to t: int64, float64, string, []byte or nil per
// column. The row's slice may be reused by the caller, its values not:
// rows are written a batch at a time. Each table's rows are one
// transaction.
func (w *Writer) Insert(ctx context.Context, t *Table, row []any) error {
	if w.cur != t {
		if err := w.endTable(ctx); err != nil {
			return err
		}
		tx, err := w.conn.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		w.perStmt = max(1, min(rowsPerStmt, maxVariables/len(t.Columns)))
		stmt, err := tx.PrepareContext(ctx, insertSQL(t, w.perStmt))
		if err != nil {
			_ = tx.Rollback()
			return err
		}
		w.cur, w.tx, w.stmt, w.batch = t, tx, stmt, w.batch[:0]
	}
	for _, v := range row {
		if f, ok := v.(float64); ok {
			switch {
			case math.IsNaN(f):
				v = "NaN"
			case math.IsInf(f, 1):
				v = "Infinity"
			case math.IsInf(f, -1):
				v = "-Infinity"
			}
		}
		w.batch = append(w.batch, v)
	}
	w.rows[t.Name]++
	if len(w.batch) == w.perStmt*len(t.Columns) {
		return w.flush(ctx)
	}
	return nil
}

// flush writes the rows of the batch.
func (w *Writer) flush(ctx context.Context) error {
	if len(w.batch) == 0 {
		return nil
	}
	t := w.cur
	var err error
	if n := len(w.batch) / len(t.Columns); n == w.perStmt {
		_, err = w.stmt.ExecContext(ctx, w.batch...)
	} else {
		_, err = w.tx.ExecContext(ctx, insertSQL(t, n), w.batch...)
	}
	clear(w.batch)
	w.batch = w.batch[:0]
	if err != nil {
		return fmt.Errorf("writing the rows of table %s: %w", t.Name, err)
	}
	return nil
}

func (w *Writer) endTable(ctx context.Context) error {
	if w.tx == nil {
		return nil
	}
	err := w.flush(ctx)
	_ = w.stmt.Close()
	if err == nil {
		err = w.tx.Commit()
	} else {
		_ = w.tx.Rollback()
	}
	w.cur, w.tx, w.stmt = nil, nil, nil
	if err != nil {
		return fmt.Errorf("writing the rows of a table: %w", err)
	}
	return nil
}

// Rows is how many rows were written to each table.
func (w *Writer) Rows() map[string]int64 { return w.rows }

// Commit creates the indexes, checks the file (integrity and foreign
// keys), syncs it and gives it its name.
func (w *Writer) Commit(ctx context.Context) error {
	if err := w.endTable(ctx); err != nil {
		w.Abort()
		return err
	}
	err := w.finish(ctx)
	if cerr := w.close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = syncFile(w.tmp)
	}
	if err == nil {
		err = os.Rename(w.tmp, w.path)
	}
	if err != nil {
		_ = os.Remove(w.tmp)
		return err
	}
	return nil
}

func (w *Writer) finish(ctx context.Context) error {
	used := map[string]bool{}
	for _, t := range w.schema.Tables {
		used[strings.ToLower(t.Name)] = true
	}
	for _, t := range w.schema.Tables {
		for _, ix := range t.Indexes {
			name := ix.Name
			// SQLite's index names are one namespace with the tables'.
			if name == "" || used[strings.ToLower(name)] || strings.HasPrefix(strings.ToLower(name), "sqlite_") {
				name = t.Name + "_" + ix.Name
			}
			for n := 2; used[strings.ToLower(name)]; n++ {
				name = t.Name + "_" + ix.Name + "_" + strconv.Itoa(n)
			}
			used[strings.ToLower(name)] = true
			q := "CREATE INDEX "
			if ix.Unique {
				q = "CREATE UNIQUE INDEX "
			}
			if err := w.exec(ctx, q+Ident(name)+" ON "+Ident(t.Name)+" ("+idents(ix.Columns)+")"); err != nil {
				return fmt.Errorf("creating index %s of table %s: %w", ix.Name, t.Name, err)
			}
		}
	}
	// quick_check: the file was just written by SQLite itself, what the
	// full check adds (every index against its table) costs a sort per
	// index and finds nothing here; an import runs the full one.
	if err := integrityCheck(ctx, w.conn, "quick_check"); err != nil {
		return err
	}
	return foreignKeyCheck(ctx, w.conn)
}

type queryer interface {
	QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error)
}

func integrityCheck(ctx context.Context, c queryer, pragma string) error {
	rows, err := c.QueryContext(ctx, "PRAGMA "+pragma)
	if err != nil {
		return err
	}
	defer rows.Close()
	var msgs []string
	for rows.Next() {
		var m string
		if err := rows.Scan(&m); err != nil {
			return err
		}
		if m != "ok" && len(msgs) < 5 {
			msgs = append(msgs, m)
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if len(msgs) > 0 {
		return fmt.Errorf("the SQLite file fails its integrity check: %s", strings.Join(msgs, "; "))
	}
	return nil
}

// ErrForeignKey: a row refers to a row that is not there.
var ErrForeignKey = errors.New("a foreign key does not hold")

func foreignKeyCheck(ctx context.Context, c queryer) error {
	rows, err := c.QueryContext(ctx, "PRAGMA foreign_key_check")
	if err != nil {
		return err
	}
	defer rows.Close()
	var msgs []string
	n := 0
	for rows.Next() {
		var table, parent string
		var rowid sql.NullInt64
		var fkid int
		if err := rows.Scan(&table, &rowid, &parent, &fkid); err != nil {
			return err
		}
		n++
		if len(msgs) < 3 {
			msgs = append(msgs, fmt.Sprintf("a row of %s (rowid %d) refers to a missing row of %s", table, rowid.Int64, parent))
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if n > 0 {
		return fmt.Errorf("%w: %d rows: %s", ErrForeignKey, n, strings.Join(msgs, "; "))
	}
	return nil
}

func (w *Writer) close() error {
	var err error
	if w.conn != nil {
		err = w.conn.Close()
		w.conn = nil
	}
	if w.db != nil {
		if cerr := w.db.Close(); err == nil {
			err = cerr
		}
		w.db = nil
	}
	return err
}

// Abort removes the unfinished file.
func (w *Writer) Abort() {
	if w.tx != nil {
		_ = w.tx.Rollback()
		w.tx = nil
	}
	_ = w.close()
	_ = os.Remove(w.tmp)
}

func syncFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// Reader reads an export, or any SQLite database.
type Reader struct {
	db     *sql.DB
	Schema *Schema
	// Foreign is true for a file docker-backup did not make: its kinds
	// come from SQLite's declared types.
	Foreign bool
	// Notes say what of the file is left out (partial and expression
	// indexes, views, triggers).
	Notes []string
}

// sqliteMagic starts every SQLite database file.
const sqliteMagic = "SQLite format 3\x00"

// Open opens an SQLite file read-only and reads its schema.
func Open(ctx context.Context, path string) (*Reader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	head := make([]byte, len(sqliteMagic))
	_, err = io.ReadFull(f, head)
	f.Close()
	if err != nil || string(head) != sqliteMagic {
		return nil, fmt.Errorf("%s: %w", path, ErrNotSQLite)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	db, err := sql.Open("sqlite", "file:"+(&url.URL{Path: abs}).EscapedPath()+"?mode=ro&_pragma=query_only(1)")
	if err != nil {
		return nil, err
	}
	r := &Reader{db: db}
	if err := r.readSchema(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	return r, nil
}

// Close closes the file.
func (r *Reader) Close() error { return r.db.Close() }

// Check runs SQLite's integrity and foreign key checks on the file.
func (r *Reader) Check(ctx context.Context) error {
	if err := integrityCheck(ctx, r.db, "integrity_check"); err != nil {
		return err
	}
	return foreignKeyCheck(ctx, r.db)
}

// Count is the number of rows of t.
func (r *Reader) Count(ctx context.Context, t *Table) (int64, error) {
	var n int64
	err := r.db.QueryRowContext(ctx, "SELECT count(*) FROM "+Ident(t.Name)).Scan(&n)
	return n, err
}

// Rows calls fn with each row of t, in the order of its rowid. The row's
// slice is reused.
func (r *Reader) Rows(ctx context.Context, t *Table, fn func(row []any) error) error {
	names := make([]string, len(t.Columns))
	for i, c := range t.Columns {
		names[i] = c.Name
	}
	rows, err := r.db.QueryContext(ctx, "SELECT "+idents(names)+" FROM "+Ident(t.Name))
	if err != nil {
		return fmt.Errorf("reading table %s: %w", t.Name, err)
	}
	defer rows.Close()
	vals := make([]any, len(names))
	ptrs := make([]any, len(names))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return fmt.Errorf("reading table %s: %w", t.Name, err)
		}
		for i, v := range vals {
			switch x := v.(type) {
			case []byte:
				// The driver reads an empty blob as a nil slice: it is
				// not NULL.
				if x == nil {
					vals[i] = []byte{}
				}
			case time.Time:
				// The driver parses the text of columns declared DATE,
				// DATETIME or TIMESTAMP (files made elsewhere): back to
				// ISO 8601, as the file's own representation.
				vals[i] = isoOf(t.Columns[i].Kind, x)
			}
		}
		if err := fn(vals); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("reading table %s: %w", t.Name, err)
	}
	return nil
}

func (r *Reader) hasTable(ctx context.Context, name string) (bool, error) {
	var n int
	err := r.db.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?", name).Scan(&n)
	return n > 0, err
}

func (r *Reader) readSchema(ctx context.Context) error {
	s := &Schema{}
	r.Schema = s
	ours, err := r.hasTable(ctx, metaTable)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrNotSQLite, err)
	}
	r.Foreign = !ours
	cols := map[string]map[string]Column{}
	order := map[string]int{}
	schemas := map[string]string{}
	if ours {
		if err := r.readMeta(ctx); err != nil {
			return err
		}
		if cols, err = r.readColumns(ctx); err != nil {
			return err
		}
		if order, schemas, err = r.readTables(ctx); err != nil {
			return err
		}
		if s.Unmapped, err = r.readUnmapped(ctx); err != nil {
			return err
		}
	}
	rows, err := r.db.QueryContext(ctx, "SELECT type, name FROM sqlite_master WHERE type IN ('table', 'view', 'trigger') AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY rowid")
	if err != nil {
		return err
	}
	var names []string
	for rows.Next() {
		var typ, name string
		if err := rows.Scan(&typ, &name); err != nil {
			rows.Close()
			return err
		}
		switch {
		case strings.HasPrefix(name, metaPrefix):
		case typ == "table":
			names = append(names, name)
		default:
			r.Notes = append(r.Notes, fmt.Sprintf("the %s %s is not imported", typ, name))
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, name := range names {
		t, err := r.readTable(ctx, name, cols[name])
		if err != nil {
			return fmt.Errorf("table %s: %w", name, err)
		}
		t.Schema = schemas[name]
		s.Tables = append(s.Tables, *t)
	}
	if ours {
		// The source's order, which the dependency order of the load
		// then refines.
		sortTables(s.Tables, order)
	}
	return nil
}

func sortTables(ts []Table, order map[string]int) {
	for i := 1; i < len(ts); i++ {
		for j := i; j > 0 && order[ts[j].Name] < order[ts[j-1].Name]; j-- {
			ts[j], ts[j-1] = ts[j-1], ts[j]
		}
	}
}

func (r *Reader) readMeta(ctx context.Context) error {
	rows, err := r.db.QueryContext(ctx, "SELECT key, value FROM "+metaTable)
	if err != nil {
		return err
	}
	defer rows.Close()
	m := &r.Schema.Meta
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			return err
		}
		switch k {
		case "format":
			n, err := strconv.Atoi(v)
			if err != nil {
				return fmt.Errorf("its format %q is not a number", v)
			}
			m.Format = n
		case "engine":
			m.Engine = v
		case "flavor":
			m.Flavor = v
		case "version":
			m.Version = v
		case "database":
			m.Database = v
		case "created":
			m.Created = v
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if m.Format > FormatVersion {
		return fmt.Errorf("%w (format %d; this one reads up to %d): upgrade docker-backup", ErrNewerFormat, m.Format, FormatVersion)
	}
	if m.Format < 1 {
		return fmt.Errorf("its %s table has no format", metaTable)
	}
	return nil
}

func (r *Reader) readTables(ctx context.Context) (map[string]int, map[string]string, error) {
	rows, err := r.db.QueryContext(ctx, "SELECT table_name, position, coalesce(source_schema, '') FROM "+tablesTable)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	order, schemas := map[string]int{}, map[string]string{}
	for rows.Next() {
		var name, schema string
		var pos int
		if err := rows.Scan(&name, &pos, &schema); err != nil {
			return nil, nil, err
		}
		order[name], schemas[name] = pos, schema
	}
	return order, schemas, rows.Err()
}

func (r *Reader) readColumns(ctx context.Context) (map[string]map[string]Column, error) {
	rows, err := r.db.QueryContext(ctx, `SELECT table_name, column_name, kind, original_type, auto_increment,
		coalesce(size, 0), coalesce(unsigned, 0), coalesce(length, 0), coalesce(precision, 0), coalesce(scale, 0),
		labels, default_value, coalesce(default_now, 0), coalesce(default_expr, '') FROM `+columnsTable)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]map[string]Column{}
	for rows.Next() {
		var t string
		var c Column
		var kind string
		var auto, unsigned, now int
		var labels, def sql.NullString
		if err := rows.Scan(&t, &c.Name, &kind, &c.Type, &auto, &c.Size, &unsigned, &c.Length, &c.Precision, &c.Scale,
			&labels, &def, &now, &c.DefaultExpr); err != nil {
			return nil, err
		}
		c.Kind = Kind(kind)
		if !c.Kind.Valid() {
			return nil, fmt.Errorf("column %s.%s has the unknown kind %q", t, c.Name, kind)
		}
		c.AutoIncrement, c.Unsigned, c.DefaultNow = auto != 0, unsigned != 0, now != 0
		if labels.Valid {
			if err := json.Unmarshal([]byte(labels.String), &c.Labels); err != nil {
				return nil, fmt.Errorf("column %s.%s: its labels: %w", t, c.Name, err)
			}
		}
		if def.Valid {
			d := def.String
			c.Default = &d
		}
		if out[t] == nil {
			out[t] = map[string]Column{}
		}
		out[t][c.Name] = c
	}
	return out, rows.Err()
}

func (r *Reader) readUnmapped(ctx context.Context) ([]Unmapped, error) {
	rows, err := r.db.QueryContext(ctx, "SELECT kind, name, coalesce(definition, ''), coalesce(reason, '') FROM "+unmappedTable)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Unmapped
	for rows.Next() {
		var u Unmapped
		if err := rows.Scan(&u.Kind, &u.Name, &u.Definition, &u.Reason); err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, rows.Err()
}

// readTable reads a table's columns, keys and indexes from SQLite's own
// pragmas, and the kinds and original types from the metadata when the
// file has them.
func (r *Reader) readTable(ctx context.Context, name string, meta map[string]Column) (*Table, error) {
	t := &Table{Name: name}
	rows, err := r.db.QueryContext(ctx, "SELECT name, type, \"notnull\", dflt_value, pk FROM pragma_table_info(?) ORDER BY cid", name)
	if err != nil {
		return nil, err
	}
	var pk []struct {
		n    int
		name string
	}
	for rows.Next() {
		var c Column
		var notnull, pkn int
		var dflt sql.NullString
		if err := rows.Scan(&c.Name, &c.Type, &notnull, &dflt, &pkn); err != nil {
			rows.Close()
			return nil, err
		}
		c.NotNull = notnull != 0
		if m, ok := meta[c.Name]; ok {
			m.NotNull = c.NotNull
			c = m
		} else {
			c.Kind = kindOfDeclared(c.Type)
			if dflt.Valid {
				parseSQLiteDefault(&c, dflt.String)
			}
		}
		if pkn > 0 {
			pk = append(pk, struct {
				n    int
				name string
			}{pkn, c.Name})
		}
		t.Columns = append(t.Columns, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(t.Columns) == 0 {
		return nil, errors.New("it has no columns")
	}
	t.PrimaryKey = make([]string, len(pk))
	for _, p := range pk {
		t.PrimaryKey[p.n-1] = p.name
	}
	if err := r.readForeignKeys(ctx, t); err != nil {
		return nil, err
	}
	if err := r.readIndexes(ctx, t); err != nil {
		return nil, err
	}
	return t, nil
}

func (r *Reader) readForeignKeys(ctx context.Context, t *Table) error {
	rows, err := r.db.QueryContext(ctx, `SELECT id, "table", "from", "to", on_update, on_delete FROM pragma_foreign_key_list(?) ORDER BY id, seq`, t.Name)
	if err != nil {
		return err
	}
	defer rows.Close()
	last := -1
	for rows.Next() {
		var id int
		var parent, from, onUpdate, onDelete string
		var to sql.NullString
		if err := rows.Scan(&id, &parent, &from, &to, &onUpdate, &onDelete); err != nil {
			return err
		}
		if id != last {
			t.ForeignKeys = append(t.ForeignKeys, ForeignKey{RefTable: parent, OnDelete: onDelete, OnUpdate: onUpdate})
			last = id
		}
		fk := &t.ForeignKeys[len(t.ForeignKeys)-1]
		fk.Columns = append(fk.Columns, from)
		fk.RefColumns = append(fk.RefColumns, to.String)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	// SQLite lists the last declared first.
	slices.Reverse(t.ForeignKeys)
	// A foreign key without parent columns refers to the parent's
	// primary key.
	for i := range t.ForeignKeys {
		fk := &t.ForeignKeys[i]
		if fk.RefColumns[0] != "" {
			continue
		}
		var cols []string
		prow, err := r.db.QueryContext(ctx, "SELECT name FROM pragma_table_info(?) WHERE pk > 0 ORDER BY pk", fk.RefTable)
		if err != nil {
			return err
		}
		for prow.Next() {
			var c string
			if err := prow.Scan(&c); err != nil {
				prow.Close()
				return err
			}
			cols = append(cols, c)
		}
		prow.Close()
		if len(cols) != len(fk.Columns) {
			return fmt.Errorf("a foreign key refers to the primary key of %s, which has %d columns, not %d", fk.RefTable, len(cols), len(fk.Columns))
		}
		fk.RefColumns = cols
	}
	return nil
}

func (r *Reader) readIndexes(ctx context.Context, t *Table) error {
	rows, err := r.db.QueryContext(ctx, `SELECT name, "unique", origin, partial FROM pragma_index_list(?) ORDER BY seq`, t.Name)
	if err != nil {
		return err
	}
	type idx struct {
		name    string
		unique  bool
		origin  string
		partial bool
	}
	var list []idx
	for rows.Next() {
		var i idx
		var u, p int
		if err := rows.Scan(&i.name, &u, &i.origin, &p); err != nil {
			rows.Close()
			return err
		}
		i.unique, i.partial = u != 0, p != 0
		list = append(list, i)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	// pragma_index_list lists the newest first.
	for k := len(list) - 1; k >= 0; k-- {
		i := list[k]
		if i.origin == "pk" {
			continue
		}
		if i.partial {
			r.Notes = append(r.Notes, fmt.Sprintf("the partial index %s of table %s is not imported", i.name, t.Name))
			continue
		}
		crow, err := r.db.QueryContext(ctx, "SELECT cid, coalesce(name, '') FROM pragma_index_info(?) ORDER BY seqno", i.name)
		if err != nil {
			return err
		}
		var cols []string
		expr := false
		for crow.Next() {
			var cid int
			var c string
			if err := crow.Scan(&cid, &c); err != nil {
				crow.Close()
				return err
			}
			if cid < 0 {
				expr = true
			}
			cols = append(cols, c)
		}
		crow.Close()
		if expr {
			r.Notes = append(r.Notes, fmt.Sprintf("the expression index %s of table %s is not imported", i.name, t.Name))
			continue
		}
		// Index names stay unique: PostgreSQL, too, has one namespace
		// for a schema's indexes.
		name := i.name
		if i.origin == "u" || strings.HasPrefix(name, "sqlite_") {
			name = t.Name + "_" + strings.Join(cols, "_") + "_key"
		}
		t.Indexes = append(t.Indexes, Index{Name: name, Unique: i.unique, Columns: cols})
	}
	return nil
}

// kindOfDeclared maps SQLite's declared type to a kind, after SQLite's own
// affinity rules, refined by common names.
func kindOfDeclared(typ string) Kind {
	u := strings.ToUpper(typ)
	switch {
	case strings.Contains(u, "BOOL"):
		return Boolean
	case strings.Contains(u, "INT"):
		return Integer
	case strings.Contains(u, "UUID"):
		return UUID
	case strings.Contains(u, "JSON"):
		return JSON
	case strings.Contains(u, "CHAR"), strings.Contains(u, "CLOB"), strings.Contains(u, "TEXT"):
		return Text
	case strings.Contains(u, "BLOB"):
		return Binary
	case strings.Contains(u, "REAL"), strings.Contains(u, "FLOA"), strings.Contains(u, "DOUB"):
		return Float
	case strings.Contains(u, "TIMESTAMP"), strings.Contains(u, "DATETIME"):
		return Timestamp
	case strings.Contains(u, "DATE"):
		return Date
	case strings.Contains(u, "TIME"):
		return Time
	case u == "":
		return Text
	}
	return Decimal
}

// parseSQLiteDefault keeps a default of a foreign file when it is a
// constant: anything else is recorded, never applied.
func parseSQLiteDefault(c *Column, d string) {
	d = strings.TrimSpace(d)
	switch u := strings.ToUpper(d); {
	case u == "NULL":
		return
	case u == "CURRENT_TIMESTAMP" || u == "CURRENT_DATE" || u == "CURRENT_TIME":
		c.DefaultNow = true
		return
	case u == "TRUE" || u == "FALSE":
		v := "0"
		if u == "TRUE" {
			v = "1"
		}
		c.Default = &v
		return
	}
	if len(d) >= 2 && d[0] == '\'' && d[len(d)-1] == '\'' && !strings.Contains(strings.ReplaceAll(d[1:len(d)-1], "''", ""), "'") {
		v := strings.ReplaceAll(d[1:len(d)-1], "''", "'")
		c.Default = &v
		return
	}
	if _, err := strconv.ParseFloat(d, 64); err == nil {
		c.Default = &d
		return
	}
	c.DefaultExpr = d
}

// isoOf writes a time the driver parsed in the file's representation of
// kind.
func isoOf(k Kind, t time.Time) string {
	switch k {
	case Date:
		return t.Format("2006-01-02")
	case Time:
		return t.Format("15:04:05.999999999")
	case TimestampTZ:
		return t.Format("2006-01-02T15:04:05.999999999Z07:00")
	}
	return t.Format("2006-01-02T15:04:05.999999999")
}

// Now is the time an export records, in its format.
func Now() string { return time.Now().UTC().Format(time.RFC3339) }
