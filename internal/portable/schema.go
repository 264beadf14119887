// Package portable is a database as one SQLite file: the schema of a
// PostgreSQL or MySQL/MariaDB database in engine-neutral terms, and the
// file that holds it with its rows, its keys and what could not be mapped.
// It knows no server: the dbdump package reads and loads servers.
package portable

// FormatVersion is the version of the file's layout (its metadata
// tables). A file of a newer version is refused by Open.
const FormatVersion = 1

// Kind is what a column holds, whatever engine it came from.
type Kind string

// The kinds, and how their values are stored in the file.
const (
	Integer     Kind = "integer"     // INTEGER (int64); larger unsigned values as TEXT
	Boolean     Kind = "boolean"     // INTEGER 0 or 1
	Decimal     Kind = "decimal"     // TEXT: exact numerics keep every digit
	Float       Kind = "float"       // REAL; NaN and infinities as TEXT
	Text        Kind = "text"        // TEXT
	Date        Kind = "date"        // TEXT, ISO 8601: 2024-03-01
	Time        Kind = "time"        // TEXT, ISO 8601: 13:45:00.123456 (with its offset when it has one)
	Timestamp   Kind = "timestamp"   // TEXT, ISO 8601 without offset: 2024-03-01T13:45:00.123456
	TimestampTZ Kind = "timestamptz" // TEXT, ISO 8601 with its offset: 2024-03-01T13:45:00.123456+00:00
	UUID        Kind = "uuid"        // TEXT, lowercase
	JSON        Kind = "json"        // TEXT
	Binary      Kind = "binary"      // BLOB
	Enum        Kind = "enum"        // TEXT, the label; Labels lists them
	Array       Kind = "array"       // TEXT, the source's own literal ({1,2,3})
	Other       Kind = "other"       // TEXT, the source's own text form (intervals, inet, bit strings, ...)
)

// sqliteType is the declared type of a kind's column in the file: only
// INTEGER, REAL, TEXT and BLOB, whose affinities never change a value
// (NUMERIC would turn the text '007' into 7).
func (k Kind) sqliteType() string {
	switch k {
	case Integer, Boolean:
		return "INTEGER"
	case Float:
		return "REAL"
	case Binary:
		return "BLOB"
	}
	return "TEXT"
}

// Valid tells whether k is one of the kinds above.
func (k Kind) Valid() bool {
	switch k {
	case Integer, Boolean, Decimal, Float, Text, Date, Time, Timestamp, TimestampTZ, UUID, JSON, Binary, Enum, Array, Other:
		return true
	}
	return false
}

// Meta is where and when the export was made.
type Meta struct {
	Engine   string // "postgres" or "mysql"; "" for a file made elsewhere
	Flavor   string // PostgreSQL, MySQL, MariaDB
	Version  string
	Database string
	Created  string // RFC 3339, UTC
	Format   int
}

// Column is one column of a table.
type Column struct {
	Name string
	Kind Kind
	// Type is the column's type as the source spells it ("numeric(12,2)",
	// "character varying(40)", "int(10) unsigned"); for a file made
	// elsewhere, SQLite's declared type.
	Type    string
	NotNull bool
	// AutoIncrement: the source numbers it (serial, identity,
	// AUTO_INCREMENT).
	AutoIncrement bool
	// Size is the width of integers (1, 2, 4, 8 bytes) and floats (4, 8).
	Size     int
	Unsigned bool
	// Length is the declared length of character and binary columns
	// (varchar(40)), 0 when unbounded.
	Length int
	// Precision and Scale of exact numerics; Precision 0 when unbounded.
	Precision, Scale int
	// Labels are an enum's values, in order.
	Labels []string
	// Default is a constant default, in the file's representation of
	// the kind; DefaultNow is the current time. DefaultExpr is any other
	// default, recorded as the source spells it and never applied.
	Default     *string
	DefaultNow  bool
	DefaultExpr string
}

// ForeignKey is a foreign key with its actions (NO ACTION, RESTRICT,
// CASCADE, SET NULL, SET DEFAULT).
type ForeignKey struct {
	Columns    []string
	RefTable   string
	RefColumns []string
	OnDelete   string
	OnUpdate   string
}

// Index is an index over plain columns; unique constraints are unique
// indexes.
type Index struct {
	Name    string
	Unique  bool
	Columns []string
}

// Table is one table. Name is its name in the file; a PostgreSQL table
// outside the public schema is named schema.table, and Schema says so.
type Table struct {
	Name        string
	Schema      string
	Columns     []Column
	PrimaryKey  []string
	Indexes     []Index
	ForeignKeys []ForeignKey
}

// Unmapped is something of the source the file cannot hold: a view, a
// trigger, a function, a check constraint, a sequence's value, an
// expression index. It is recorded, never applied.
type Unmapped struct {
	Kind       string
	Name       string
	Definition string
	Reason     string
}

// Schema is a whole database.
type Schema struct {
	Meta     Meta
	Tables   []Table
	Unmapped []Unmapped
}

// Table finds a table by its name in the file.
func (s *Schema) Table(name string) *Table {
	for i := range s.Tables {
		if s.Tables[i].Name == name {
			return &s.Tables[i]
		}
	}
	return nil
}
