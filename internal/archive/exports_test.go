package archive

import (
	"bytes"
	"context"
	"testing"
)

// An SQLite export goes under exports/ and is listed by its database; one
// listed elsewhere, or not written, fails.
func TestExportsAreListedFilesUnderExports(t *testing.T) {
	ctx := context.Background()
	write := func(exportPath string, listed string) ([]byte, error) {
		var out bytes.Buffer
		w, err := NewWriter(&out, None)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.WriteStream(ctx, "databases/db/appdb.pgdump", bytes.NewReader([]byte("PGDMP"))); err != nil {
			t.Fatal(err)
		}
		if exportPath != "" {
			if _, err := w.WriteStream(ctx, exportPath, bytes.NewReader([]byte("SQLite format 3\x00"))); err != nil {
				return nil, err
			}
		}
		m := &Manifest{ToolVersion: "test", CreatedAt: mtime, Project: Project{Name: "proj"},
			Databases: []Database{{Service: "db", Engine: "postgres", Flavor: "PostgreSQL", Version: "16.3",
				Dumps:   []Dump{{Path: "databases/db/appdb.pgdump", Database: "appdb", Kind: "database", Format: "pg_dump-custom"}},
				Exports: []Export{{Path: listed, Database: "appdb", Format: "sqlite", Tables: 1, Rows: 2}}}},
		}
		if err := w.Close(m); err != nil {
			return nil, err
		}
		return out.Bytes(), nil
	}
	data, err := write("exports/db/appdb.sqlite", "exports/db/appdb.sqlite")
	if err != nil {
		t.Fatal(err)
	}
	m, err := verifyBytes(t, data)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if e := m.Databases[0].Exports; len(e) != 1 || e[0].Rows != 2 {
		t.Errorf("exports %+v", e)
	}
	if _, err := write("exports/db/appdb.sqlite", "exports/db/other.sqlite"); err == nil {
		t.Error("an export listed but not written was accepted")
	}
	if _, err := write("volumes/x.sqlite", "volumes/x.sqlite"); err == nil {
		t.Error("a file outside compose/, databases/ and exports/ was accepted")
	}
}
