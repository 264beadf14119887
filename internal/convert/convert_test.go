package convert

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/docker-backup/docker-backup/internal/dbdump"
	"github.com/docker-backup/docker-backup/internal/portable"
)

// fakeServer serves one schema and its rows, and counts it.
type fakeServer struct {
	dbs     []string
	schema  *portable.Schema
	rows    map[string][][]any
	failAt  int // fail Rows after this many rows (0: never)
	counted []dbdump.TableCount
}

func (f *fakeServer) Databases(context.Context) ([]string, error) { return f.dbs, nil }

func (f *fakeServer) Schema(context.Context, string) (*portable.Schema, error) { return f.schema, nil }

func (f *fakeServer) Rows(_ context.Context, _ string, s *portable.Schema, fn func(*portable.Table, []any) error) error {
	n := 0
	for i := range s.Tables {
		for _, r := range f.rows[s.Tables[i].Name] {
			n++
			if f.failAt > 0 && n > f.failAt {
				return errors.New("server went away")
			}
			if err := fn(&s.Tables[i], append([]any(nil), r...)); err != nil {
				return err
			}
		}
	}
	return nil
}

func (f *fakeServer) Tables(context.Context, string) ([]dbdump.TableCount, error) {
	return f.counted, nil
}

func shopServer() *fakeServer {
	return &fakeServer{
		dbs: []string{"postgres", "shop"},
		schema: &portable.Schema{
			Meta: portable.Meta{Engine: "postgres", Database: "shop", Format: portable.FormatVersion},
			Tables: []portable.Table{
				{Name: "customers", Columns: []portable.Column{{Name: "id", Kind: portable.Integer}, {Name: "name", Kind: portable.Text}}, PrimaryKey: []string{"id"}},
				{Name: "orders", Columns: []portable.Column{{Name: "customer", Kind: portable.Integer}}, ForeignKeys: []portable.ForeignKey{{Columns: []string{"customer"}, RefTable: "customers", RefColumns: []string{"id"}}}},
			},
		},
		rows: map[string][][]any{
			"customers": {{int64(1), "ana"}, {int64(2), nil}},
			"orders":    {{int64(1)}, {int64(1)}, {int64(2)}},
		},
	}
}

func TestExportWritesTheRowsAndCountsThem(t *testing.T) {
	ctx := context.Background()
	srv := shopServer()
	path := filepath.Join(t.TempDir(), "shop.sqlite")
	res, err := exportTo(ctx, srv, "db", "shop", path)
	if err != nil {
		t.Fatal(err)
	}
	if res.Rows != 5 || len(res.Tables) != 2 || res.Tables[1].Rows != 3 {
		t.Errorf("result %+v", res)
	}
	f, err := portable.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Check(ctx); err != nil {
		t.Fatal(err)
	}
	// What the server counts after an import is compared with the file.
	srv.counted = []dbdump.TableCount{{Table: "public.customers", Rows: 2}, {Table: "public.orders", Rows: 3}}
	if _, err := checkCounts(ctx, srv, f, "shop"); err != nil {
		t.Errorf("PostgreSQL's counts: %v", err)
	}
	srv.counted = []dbdump.TableCount{{Table: "shop.customers", Rows: 2}, {Table: "shop.orders", Rows: 3}}
	if _, err := checkCounts(ctx, srv, f, "shop"); err != nil {
		t.Errorf("MySQL's counts: %v", err)
	}
	srv.counted = []dbdump.TableCount{{Table: "shop.customers", Rows: 2}, {Table: "shop.orders", Rows: 2}}
	if _, err := checkCounts(ctx, srv, f, "shop"); err == nil || !strings.Contains(err.Error(), "orders: 2 rows, not 3") {
		t.Errorf("a missing row: %v", err)
	}
}

func TestExportCutShortLeavesNoFile(t *testing.T) {
	srv := shopServer()
	srv.failAt = 3
	dir := t.TempDir()
	if _, err := exportTo(context.Background(), srv, "db", "shop", filepath.Join(dir, "shop.sqlite")); err == nil {
		t.Fatal("an export cut short succeeded")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("left behind: %v", entries)
	}
}

func TestChooseDatabase(t *testing.T) {
	ctx := context.Background()
	one := &fakeServer{dbs: []string{"postgres", "shop"}}
	if db, err := chooseDatabase(ctx, one, dbdump.Target{Service: "db"}, ""); err != nil || db != "shop" {
		t.Errorf("the only database: %q, %v", db, err)
	}
	many := &fakeServer{dbs: []string{"crm", "postgres", "shop"}}
	if db, err := chooseDatabase(ctx, many, dbdump.Target{Service: "db", Env: []string{"POSTGRES_DB=shop"}}, ""); err != nil || db != "shop" {
		t.Errorf("the image's database: %q, %v", db, err)
	}
	if _, err := chooseDatabase(ctx, many, dbdump.Target{Service: "db"}, ""); err == nil || !strings.Contains(err.Error(), "--database") {
		t.Errorf("several databases: %v", err)
	}
	if _, err := chooseDatabase(ctx, many, dbdump.Target{Service: "db"}, "nope"); err == nil || !strings.Contains(err.Error(), "crm, postgres, shop") {
		t.Errorf("an unknown database: %v", err)
	}
}
