//go:build e2e

package e2e

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/docker-backup/docker-backup/internal/portable"
)

// A PostgreSQL server whose lock table is small (10 locks for each of 22
// processes), so that a few hundred tables exhaust it, and a MariaDB.
const importSettingsCompose = `
services:
  pg:
    image: ` + postgresImage + `
    network_mode: none
    command: ["postgres", "-c", "max_locks_per_transaction=10", "-c", "max_connections=20", "-c", "autovacuum_max_workers=1",
      "-c", "max_worker_processes=0", "-c", "max_wal_senders=0"]
    environment:
      POSTGRES_USER: app
      POSTGRES_DB: appdb
      POSTGRES_PASSWORD_FILE: /run/secrets/db_password
    secrets: [db_password]
    healthcheck:
      test: ["CMD", "pg_isready", "-h", "127.0.0.1", "-U", "app", "-d", "appdb"]
      interval: 1s
      timeout: 3s
      retries: 120
  maria:
    image: ` + mariadbImage + `
    network_mode: none
    environment:
      MYSQL_ROOT_PASSWORD_FILE: /run/secrets/db_root_password
      MARIADB_DATABASE: shop
    secrets: [db_root_password]
    healthcheck:
      test: ["CMD", "healthcheck.sh"]
      interval: 1s
      timeout: 3s
      retries: 120
secrets:
  db_password:
    file: ./db_password.txt
  db_root_password:
    file: ./db_root_password.txt
`

// The attack round's payloads: with standard_conforming_strings off, a
// literal written for it on ends at \' and the rest runs (COPY ... TO
// PROGRAM, as the server's user); with NO_BACKSLASH_ESCAPES the same for
// MySQL's \'. sjisPayload ends a string early when the client encoding is
// SJIS, where the last byte of Á (C3 81) and the backslash after it are
// one character.
const (
	pgPayload   = `\');COPY(SELECT 1)TO PROGRAM $x$touch /tmp/pwned$x$;--`
	myPayload   = `\'); CREATE DATABASE pwned; -- `
	sjisPayload = `Á\');COPY(SELECT 1)TO PROGRAM $x$touch /tmp/pwned2$x$;--`
)

// writeExport writes an export file of s, with rows per table.
func writeExport(t *testing.T, path string, s *portable.Schema, rows map[string][][]any) {
	t.Helper()
	ctx := context.Background()
	w, err := portable.Create(ctx, path, s)
	if err != nil {
		t.Fatal(err)
	}
	for i := range s.Tables {
		for _, r := range rows[s.Tables[i].Name] {
			if err := w.Insert(ctx, &s.Tables[i], r); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := w.Commit(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestImportWhateverTheServerSettings(t *testing.T) {
	p := newProject(t, map[string]string{
		"compose.yaml":         importSettingsCompose,
		"db_password.txt":      pgPassword + "\n",
		"db_root_password.txt": mariaRootPassword + "\n",
	})
	p.up()
	// The settings under which literals read otherwise, for the user
	// docker-backup connects as, and for every MariaDB session.
	svcSQL(t, p, "pg", "appdb", "ALTER ROLE app SET standard_conforming_strings = off")
	svcSQL(t, p, "maria", "", "SET GLOBAL sql_mode = CONCAT(@@GLOBAL.sql_mode, ',NO_BACKSLASH_ESCAPES')")
	if got := svcSQL(t, p, "pg", "appdb", "SHOW standard_conforming_strings"); got != "off" {
		t.Fatalf("standard_conforming_strings is %s", got)
	}
	if got := svcSQL(t, p, "maria", "", "SELECT @@SESSION.sql_mode"); !strings.Contains(got, "NO_BACKSLASH_ESCAPES") {
		t.Fatalf("sql_mode is %s", got)
	}
	dir := t.TempDir()
	docker := func(args ...string) result {
		t.Helper()
		r := backup(t, p.Dir, []string{"COMPOSE_PROJECT_NAME=" + p.Name}, args...)
		for _, s := range []string{pgPassword, mariaRootPassword} {
			if strings.Contains(r.Stdout+r.Stderr, s) {
				t.Fatalf("a password in the output of %v:\n%s", args, r)
			}
		}
		return r
	}
	pwned := func(file string) {
		t.Helper()
		if r := p.exec("pg", "", "test", "-e", file); r.Err == nil {
			t.Errorf("%s exists in the PostgreSQL container: SQL from the file ran", file)
		}
		if got := svcSQL(t, p, "maria", "", "SHOW DATABASES LIKE 'pwned'"); got != "" {
			t.Errorf("MariaDB has a database %s: SQL from the file ran", got)
		}
	}
	pgHas := func(db string) bool {
		return svcSQL(t, p, "pg", "appdb", "SELECT count(*) FROM pg_database WHERE datname = $$"+db+"$$") == "1"
	}

	t.Run("payloads", func(t *testing.T) {
		s := &portable.Schema{
			Meta: portable.Meta{Format: portable.FormatVersion, Database: "hostile"},
			Tables: []portable.Table{{
				Name: "hostile",
				Columns: []portable.Column{
					{Name: "id", Kind: portable.Integer, Type: "integer", Size: 4, NotNull: true},
					{Name: "pg_note", Kind: portable.Text, Type: "text", Default: strPtr(pgPayload)},
					{Name: "my_note", Kind: portable.Text, Type: "varchar(100)", Length: 100, Default: strPtr(myPayload)},
					{Name: "mood", Kind: portable.Enum, Type: "mood", Labels: []string{"ok", pgPayload, myPayload}, Default: strPtr(pgPayload)},
				},
				PrimaryKey: []string{"id"},
			}},
		}
		file := filepath.Join(dir, "payloads.sqlite")
		writeExport(t, file, s, map[string][][]any{"hostile": {{int64(1), "plain", "plain", "ok"}}})
		for _, svc := range []string{"pg", "maria"} {
			r := docker("import", file, svc, "--database", "hostile")
			pwned("/tmp/pwned")
			if r.Err != nil {
				t.Fatalf("import into %s: %s", svc, r)
			}
		}
		// The defaults and labels arrived as the exact strings.
		svcSQL(t, p, "pg", "hostile", "INSERT INTO hostile (id) VALUES (2)")
		got := svcSQL(t, p, "pg", "hostile", "SELECT pg_note || chr(10) || my_note || chr(10) || mood FROM hostile WHERE id = 2")
		if want := pgPayload + "\n" + myPayload + "\n" + pgPayload; got != want {
			t.Errorf("PostgreSQL's defaults:\n%s\nwant\n%s", got, want)
		}
		if got, want := svcSQL(t, p, "pg", "hostile", "SELECT string_agg(enumlabel, chr(10) ORDER BY enumsortorder) || chr(10) || 'end' FROM pg_enum"), "ok\n"+pgPayload+"\n"+myPayload+"\nend"; got != want {
			t.Errorf("PostgreSQL's labels:\n%s\nwant\n%s", got, want)
		}
		// In hex: the client's batch output escapes backslashes.
		// The export reads the server as written, too: the catalog's
		// defaults as standard_conforming_strings on spells them, COPY's
		// ends as they are.
		back := filepath.Join(dir, "payloads-back.sqlite")
		if r := docker("export", "pg", "--database", "hostile", "-o", back); r.Err != nil {
			t.Fatalf("export: %s", r)
		}
		f, err := portable.Open(context.Background(), back)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		tb := f.Schema.Table("hostile")
		if tb == nil || len(tb.Columns) != 4 {
			t.Fatalf("the exported tables: %+v", f.Schema.Tables)
		}
		if d := tb.Columns[1].Default; d == nil || *d != pgPayload {
			t.Errorf("the exported default: %+v", tb.Columns[1])
		}
		if n, err := f.Count(context.Background(), tb); err != nil || n != 2 {
			t.Errorf("exported rows: %d, %v", n, err)
		}
		svcSQL(t, p, "maria", "hostile", "INSERT INTO hostile (id) VALUES (2)")
		got = svcSQL(t, p, "maria", "hostile", "SELECT HEX(CONCAT(pg_note, '|', my_note, '|', mood)) FROM hostile WHERE id = 2")
		if want := pgPayload + "|" + myPayload + "|" + pgPayload; got != strings.ToUpper(hex.EncodeToString([]byte(want))) {
			b, _ := hex.DecodeString(got)
			t.Errorf("MariaDB's defaults:\n%s\nwant\n%s", b, want)
		}
		if got := svcSQL(t, p, "maria", "hostile", "SELECT COLUMN_TYPE FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = 'hostile' AND COLUMN_NAME = 'mood'"); !strings.Contains(got, "CREATE DATABASE pwned") {
			t.Errorf("MariaDB's labels: %s", got)
		}
	})

	t.Run("client encoding", func(t *testing.T) {
		// backslash_quote = on: the server's own guard against \' in
		// such encodings (safe_encoding) off too.
		svcSQL(t, p, "pg", "appdb", "ALTER ROLE app SET client_encoding = 'SJIS'; ALTER ROLE app SET backslash_quote = on")
		defer svcSQL(t, p, "pg", "appdb", "ALTER ROLE app RESET client_encoding; ALTER ROLE app RESET backslash_quote")
		s := &portable.Schema{
			Meta: portable.Meta{Format: portable.FormatVersion},
			Tables: []portable.Table{{Name: "sjis", Columns: []portable.Column{
				{Name: "id", Kind: portable.Integer, Type: "integer", Size: 4},
				{Name: "note", Kind: portable.Text, Type: "text", Default: strPtr(sjisPayload)},
			}}},
		}
		file := filepath.Join(dir, "sjis.sqlite")
		writeExport(t, file, s, map[string][][]any{"sjis": {{int64(1), "Grüße"}}})
		r := docker("import", file, "pg", "--database", "sjis")
		pwned("/tmp/pwned2")
		if r.Err != nil {
			t.Fatalf("import: %s", r)
		}
		svcSQL(t, p, "pg", "appdb", "ALTER ROLE app RESET client_encoding")
		svcSQL(t, p, "pg", "sjis", "INSERT INTO sjis (id) VALUES (2)")
		if got := svcSQL(t, p, "pg", "sjis", "SELECT string_agg(coalesce(note, ''), chr(10) ORDER BY id) FROM sjis"); got != "Grüße\n"+sjisPayload {
			t.Errorf("values %q", got)
		}
	})

	t.Run("long names", func(t *testing.T) {
		long := strings.Repeat("l", 64)
		file := filepath.Join(dir, "long.sqlite")
		writeExport(t, file, &portable.Schema{Meta: portable.Meta{Format: portable.FormatVersion},
			Tables: []portable.Table{{Name: long, Columns: []portable.Column{{Name: "id", Kind: portable.Integer, Type: "integer"}}}}},
			map[string][][]any{long: {{int64(1)}}})
		r := docker("import", file, "pg", "--database", "longname")
		if r.Err == nil || !strings.Contains(r.Stderr, `table "`+long+`" is 64 bytes, PostgreSQL keeps 63`) || !strings.Contains(r.Stderr, "rename it") {
			t.Errorf("a 64-byte table name into PostgreSQL: %s", r)
		}
		if pgHas("longname") {
			t.Error("the refused import created its database")
		}
		longer := strings.Repeat("m", 65)
		writeExport(t, file, &portable.Schema{Meta: portable.Meta{Format: portable.FormatVersion},
			Tables: []portable.Table{{Name: "t", Columns: []portable.Column{{Name: longer, Kind: portable.Integer, Type: "integer"}}}}},
			map[string][][]any{"t": {{int64(1)}}})
		r = docker("import", file, "maria", "--database", "longname")
		if r.Err == nil || !strings.Contains(r.Stderr, `column "`+longer+`" of table "t" is 65 characters, MySQL allows 64`) {
			t.Errorf("a 65-character column name into MariaDB: %s", r)
		}
		if got := svcSQL(t, p, "maria", "", "SHOW DATABASES LIKE 'longname'"); got != "" {
			t.Error("the refused import created its database")
		}
	})

	t.Run("names with newlines", func(t *testing.T) {
		name := "new\nline|x"
		file := filepath.Join(dir, "newline.sqlite")
		writeExport(t, file, &portable.Schema{Meta: portable.Meta{Format: portable.FormatVersion},
			Tables: []portable.Table{{Name: name, Columns: []portable.Column{
				{Name: "id", Kind: portable.Integer, Type: "integer"}, {Name: "col\numn", Kind: portable.Text, Type: "text"}}}}},
			map[string][][]any{name: {{int64(1), "a"}, {int64(2), "b\nc"}}})
		for _, svc := range []string{"pg", "maria"} {
			r := docker("import", file, svc, "--database", "newline", "--json")
			if r.Err != nil {
				t.Errorf("import into %s: %s", svc, r)
				continue
			}
			var res struct {
				Rows   int64 `json:"rows"`
				Tables []struct {
					Table string `json:"table"`
					Rows  int64  `json:"rows"`
				} `json:"tables"`
			}
			if err := json.Unmarshal([]byte(r.Stdout), &res); err != nil || res.Rows != 2 || len(res.Tables) != 1 || !strings.HasSuffix(res.Tables[0].Table, name) {
				t.Errorf("import into %s: %v %s", svc, err, r.Stdout)
			}
		}
		if got := svcSQL(t, p, "pg", "newline", `SELECT count(*) FROM "new`+"\n"+`line|x"`); got != "2" {
			t.Errorf("PostgreSQL rows: %s", got)
		}
	})

	t.Run("many tables", func(t *testing.T) {
		s := &portable.Schema{Meta: portable.Meta{Format: portable.FormatVersion}}
		rows := map[string][][]any{}
		for i := 0; i < 400; i++ {
			name := fmt.Sprintf("t%03d", i)
			s.Tables = append(s.Tables, portable.Table{Name: name, PrimaryKey: []string{"id"},
				Columns: []portable.Column{{Name: "id", Kind: portable.Integer, Type: "integer", NotNull: true}, {Name: "v", Kind: portable.Text, Type: "text"}}})
			rows[name] = [][]any{{int64(1), "x"}}
		}
		file := filepath.Join(dir, "many.sqlite")
		writeExport(t, file, s, rows)
		r := docker("import", file, "pg", "--database", "many")
		// 400 tables, each with its TOAST table and index and its key,
		// and the transaction's own: 1664 locks; at least 1664 and a
		// tenth for each of 22 processes.
		if r.Err == nil || !strings.Contains(r.Stderr, "locks about 1664 tables, indexes and sequences, and the server's lock table holds 220") ||
			!strings.Contains(r.Stderr, "set max_locks_per_transaction to at least 84") {
			t.Errorf("400 tables into a lock table of 220: %s", r)
		}
		if pgHas("many") {
			t.Error("the refused import created its database")
		}
	})

	t.Run("a failed import into an empty database leaves nothing", func(t *testing.T) {
		svcSQL(t, p, "pg", "appdb", "CREATE DATABASE emptydb")
		s := &portable.Schema{Meta: portable.Meta{Format: portable.FormatVersion}, Tables: []portable.Table{
			{Name: "first", Columns: []portable.Column{{Name: "v", Kind: portable.Text, Type: "text"}}},
			{Name: "second", Columns: []portable.Column{{Name: "v", Kind: portable.Text, Type: "text"}}},
		}}
		file := filepath.Join(dir, "nul.sqlite")
		// PostgreSQL text holds no NUL: the load stops in the second
		// table's rows, after the first's, 2 MB, went to psql, which
		// --single-transaction then committed at the end of its input.
		var first [][]any
		for i := 0; i < 30000; i++ {
			first = append(first, []any{fmt.Sprintf("%064d", i)})
		}
		writeExport(t, file, s, map[string][][]any{"first": first, "second": {{"c"}, {"d\x00e"}}})
		r := docker("import", file, "pg", "--database", "emptydb")
		if r.Err == nil || !strings.Contains(r.Stderr, "NUL") {
			t.Errorf("a NUL in text: %s", r)
		}
		if got := svcSQL(t, p, "pg", "emptydb", "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"); got != "0" {
			t.Errorf("the failed import left %s tables in the database it loaded into", got)
		}
	})
}

func strPtr(s string) *string { return &s }
