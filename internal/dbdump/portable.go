package dbdump

import (
	"context"
	"errors"
	"fmt"

	"github.com/docker-backup/docker-backup/internal/portable"
)

// The refusals of an import, before anything changes: each error says
// what of the file the server cannot take, and what to do.
var (
	// ErrNameTooLong: a table's or column's name is longer than the
	// server keeps.
	ErrNameTooLong = errors.New("a name is longer than the server keeps")
	// ErrBadName: a name holds what the server does not allow in one.
	ErrBadName = errors.New("a name the server does not allow")
	// ErrBadValue: a label or default the server cannot hold.
	ErrBadValue = errors.New("a value the server cannot hold")
	// ErrTooManyLocks: the import's one transaction would lock more
	// objects than the server's lock table holds.
	ErrTooManyLocks = errors.New("the import needs more locks than the server has")
)

// RowSource calls fn with each row of table t, in the file's
// representation of its columns' kinds (see portable.Kind).
type RowSource func(ctx context.Context, t *portable.Table, fn func(row []any) error) error

// Portable reads a database of a server into engine-neutral terms, and
// loads one back: the server side of export and import.
type Portable struct {
	Engine, Flavor, Version string
	// Notes say what the connection cannot do as it should.
	Notes []string

	schema func(ctx context.Context, db string) (*portable.Schema, error)
	rows   func(ctx context.Context, db string, s *portable.Schema, fn func(t *portable.Table, row []any) error) error
	state  func(ctx context.Context, db string) (exists bool, rows int64, err error)
	check  func(ctx context.Context, db string, s *portable.Schema) error
	load   func(ctx context.Context, db string, s *portable.Schema, create bool, src RowSource) ([]string, error)
	count  func(ctx context.Context, db string) ([]TableCount, error)
	dbs    func(ctx context.Context) ([]string, error)
}

// ConnectPortable connects to the server of t, with the credentials a dump
// would use.
func ConnectPortable(ctx context.Context, x execer, engineName string, t Target) (*Portable, error) {
	switch engineName {
	case Postgres:
		return pgPortable(ctx, x, t)
	case MySQL:
		return mysqlPortable(ctx, x, t)
	}
	return nil, fmt.Errorf("unknown database engine %q", engineName)
}

// Databases lists the databases an export can read.
func (p *Portable) Databases(ctx context.Context) ([]string, error) { return p.dbs(ctx) }

// Schema reads the tables, keys and indexes of db, and what cannot be
// mapped.
func (p *Portable) Schema(ctx context.Context, db string) (*portable.Schema, error) {
	return p.schema(ctx, db)
}

// Rows reads every row of the tables of s, all in one snapshot of db,
// table after table in the order of s.Tables.
func (p *Portable) Rows(ctx context.Context, db string, s *portable.Schema, fn func(t *portable.Table, row []any) error) error {
	return p.rows(ctx, db, s, fn)
}

// State says whether db exists and how many rows its tables hold.
func (p *Portable) State(ctx context.Context, db string) (exists bool, rows int64, err error) {
	return p.state(ctx, db)
}

// CheckImport tells whether s can be loaded into db as it is, before
// anything changes: names the server would cut or refuses, and on
// PostgreSQL whether its lock table holds what the load's one transaction
// locks. Load checks the names again.
func (p *Portable) CheckImport(ctx context.Context, db string, s *portable.Schema) error {
	return p.check(ctx, db, s)
}

// Load creates the tables of s in db (creating db first when create is
// set), loads the rows from src, then makes the keys and indexes and
// sets the counters past the highest key. Nothing is left half-loaded:
// on an error db is as before (PostgreSQL: one transaction) or, when it
// was created, dropped. The notes say what was left out.
func (p *Portable) Load(ctx context.Context, db string, s *portable.Schema, create bool, src RowSource) ([]string, error) {
	return p.load(ctx, db, s, create, src)
}

// Tables counts the rows of each table of db.
func (p *Portable) Tables(ctx context.Context, db string) ([]TableCount, error) {
	return p.count(ctx, db)
}

// totalRows adds up the rows of counted tables.
func totalRows(counts []TableCount) int64 {
	var n int64
	for _, c := range counts {
		n += c.Rows
	}
	return n
}
