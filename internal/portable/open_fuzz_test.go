package portable

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"testing"
)

// smallExport is an export of testSchema with a few rows, in pages of
// 512 bytes: a seed small enough for the fuzzer to change in many places.
func smallExport(f *testing.F) []byte {
	f.Helper()
	ctx := context.Background()
	path := filepath.Join(f.TempDir(), "seed.sqlite")
	s := testSchema()
	w, err := Create(ctx, path, s)
	if err != nil {
		f.Fatal(err)
	}
	rows := [][]any{{int64(1), "a@example.com", int64(1), "1.5", "2024-03-01T13:45:00+00:00", "ok", []byte{0, 1}, 0.5, "it's"}}
	for _, r := range rows {
		if err := w.Insert(ctx, &s.Tables[0], r); err != nil {
			f.Fatal(err)
		}
	}
	if err := w.Insert(ctx, &s.Tables[1], []any{int64(1), int64(1), nil}); err != nil {
		f.Fatal(err)
	}
	if err := w.Commit(ctx); err != nil {
		f.Fatal(err)
	}
	db, err := sql.Open("sqlite", path)
	if err != nil {
		f.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec("PRAGMA page_size = 512; VACUUM"); err != nil {
		f.Fatal(err)
	}
	db.Close()
	b, err := os.ReadFile(path)
	if err != nil {
		f.Fatal(err)
	}
	return b
}

// FuzzOpen: any bytes opened as an export are refused or read, schema,
// checks and rows, never a panic.
func FuzzOpen(f *testing.F) {
	f.Add(smallExport(f))
	f.Add([]byte(sqliteMagic))
	f.Add([]byte("CREATE TABLE x (a int);\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "f.sqlite")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		r, err := Open(ctx, path)
		if err != nil {
			return
		}
		defer r.Close()
		_ = r.Check(ctx)
		for i := range r.Schema.Tables {
			tb := &r.Schema.Tables[i]
			if _, err := r.Count(ctx, tb); err != nil {
				continue
			}
			n := 0
			_ = r.Rows(ctx, tb, func(row []any) error {
				if len(row) != len(tb.Columns) {
					t.Fatalf("table %s: a row of %d values for %d columns", tb.Name, len(row), len(tb.Columns))
				}
				n++
				if n > 1000 {
					return context.Canceled
				}
				return nil
			})
		}
	})
}
