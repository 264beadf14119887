//go:build e2e

package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/docker-backup/docker-backup/internal/portable"
)

// One project with a PostgreSQL and a MariaDB service: every round trip
// between the two runs on the same servers.
const portableCompose = `
services:
  pg:
    image: ` + postgresImage + `
    network_mode: none
    environment:
      POSTGRES_USER: app
      POSTGRES_DB: appdb
      POSTGRES_PASSWORD_FILE: /run/secrets/db_password
    secrets: [db_password]
    volumes:
      - pgdata:/var/lib/postgresql/data
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
    volumes:
      - mariadata:/var/lib/mysql
    healthcheck:
      test: ["CMD", "healthcheck.sh"]
      interval: 1s
      timeout: 3s
      retries: 120
volumes:
  pgdata:
  mariadata:
secrets:
  db_password:
    file: ./db_password.txt
  db_root_password:
    file: ./db_root_password.txt
`

// pgTypesSeed uses every type the export maps, NULLs in every nullable
// column, unicode and binary data, composite and self-referencing foreign
// keys, and things SQLite cannot hold (a view, a function, a trigger, a
// check constraint).
const pgTypesSeed = `
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE TABLE customers (
  id bigserial PRIMARY KEY,
  email varchar(200) NOT NULL UNIQUE,
  vip boolean NOT NULL DEFAULT false,
  balance numeric(30,10) DEFAULT 0 CHECK (balance >= -1000),
  created timestamptz DEFAULT now(),
  born date,
  wake time,
  seen timestamp(6),
  ratio double precision,
  small real,
  tiny smallint,
  big bigint,
  uid uuid,
  doc json,
  photo bytea,
  feeling mood,
  tags text[],
  code char(3),
  note text DEFAULT 'it''s new'
);
CREATE INDEX customers_born ON customers (born, tiny);
CREATE INDEX customers_lower_email ON customers (lower(email));
INSERT INTO customers (email, vip, balance, created, born, wake, seen, ratio, small, tiny, big, uid, doc, photo, feeling, tags, code, note) VALUES
 ('ana@example.test', true, 12345678901234567890.0123456789, '2024-03-01 13:45:00.123456+02', '1990-12-31', '06:30:00.5', '2024-03-01 13:45:00.000001', 0.1, 0.1, -32768, -9223372036854775808,
  'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{"a": [1, 2.5, "x"], "b": null}', '\x00ff00deadbeef', 'happy', '{"red","green, blue"}', 'abc', 'Grüße ✓ 日本語 emoji 🎉 tab	and newline
and backslash \ and quote '' "'),
 ('null@example.test', false, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
 ('edge@example.test', false, -999.5, '1970-01-01 00:00:00+00', '2000-02-29', '23:59:59.999999', '1999-12-31 23:59:59', 1e300, 3.4e38, 32767, 9223372036854775807,
  '00000000-0000-0000-0000-000000000000', '[]', '', 'sad', '{}', 'x', '');
CREATE TABLE orders (
  customer bigint NOT NULL REFERENCES customers ON DELETE CASCADE,
  n integer NOT NULL,
  parent_n integer,
  total numeric(12,2) NOT NULL,
  PRIMARY KEY (customer, n),
  FOREIGN KEY (customer, parent_n) REFERENCES orders (customer, n) ON UPDATE CASCADE
);
CREATE INDEX orders_total ON orders (total);
INSERT INTO orders VALUES (1, 1, NULL, 10.50), (1, 2, 1, 0.01), (3, 1, NULL, 99999.99), (1, 3, 2, 5);
CREATE TABLE events (id serial PRIMARY KEY, customer bigint REFERENCES customers (id) ON DELETE SET NULL, payload text);
INSERT INTO events (customer, payload) SELECT CASE WHEN g % 3 = 0 THEN NULL ELSE 1 + (g % 2) * 2 END, md5(g::text) FROM generate_series(1, 1000000) g;
CREATE VIEW rich AS SELECT email FROM customers WHERE balance > 100;
CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
CREATE TRIGGER customers_touch BEFORE UPDATE ON customers FOR EACH ROW EXECUTE FUNCTION touch();
`

// mariaTypesSeed is the same for MariaDB's own types.
const mariaTypesSeed = `
CREATE TABLE shop.customers (
  id INT UNSIGNED AUTO_INCREMENT PRIMARY KEY,
  email VARCHAR(200) CHARACTER SET utf8mb4 NOT NULL UNIQUE,
  vip TINYINT(1) NOT NULL DEFAULT 0,
  balance DECIMAL(30,10) DEFAULT 0,
  created TIMESTAMP(6) NULL DEFAULT NULL,
  born DATE,
  wake TIME(6),
  seen DATETIME(6),
  ratio DOUBLE,
  small FLOAT,
  tiny SMALLINT,
  big BIGINT,
  ubig BIGINT UNSIGNED,
  doc JSON,
  photo BLOB,
  code VARBINARY(16),
  feeling ENUM('sad', 'ok', 'happy'),
  note TEXT CHARACTER SET utf8mb4 DEFAULT 'it''s new',
  yr YEAR,
  KEY customers_born (born, tiny)
) ENGINE=InnoDB;
INSERT INTO shop.customers (email, vip, balance, created, born, wake, seen, ratio, small, tiny, big, ubig, doc, photo, code, feeling, note, yr) VALUES
 ('ana@example.test', 1, 12345678901234567890.0123456789, '2024-03-01 11:45:00.123456', '1990-12-31', '06:30:00.5', '2024-03-01 13:45:00.000001', 0.1, 0.5, -32768, -9223372036854775808, 18446744073709551615,
  '{"a": [1, 2.5, "x"], "b": null}', UNHEX('00FF00DEADBEEF'), UNHEX('0102'), 'happy', 'Grüße ✓ 日本語 emoji 🎉 tab\tand newline\nand backslash \\ and quote '' "', 2024),
 ('null@example.test', 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
 ('edge@example.test', 0, -999.5, '1970-01-02 00:00:00', '2000-02-29', '23:59:59.999999', '1999-12-31 23:59:59', 1e300, 3.5, 32767, 9223372036854775807, 0, '[]', '', '', 'sad', '', 1901);
CREATE TABLE shop.orders (
  customer INT UNSIGNED NOT NULL,
  n INT NOT NULL,
  parent_n INT,
  total DECIMAL(12,2) NOT NULL,
  PRIMARY KEY (customer, n),
  KEY orders_total (total),
  CONSTRAINT orders_customer FOREIGN KEY (customer) REFERENCES shop.customers (id) ON DELETE CASCADE,
  CONSTRAINT orders_parent FOREIGN KEY (customer, parent_n) REFERENCES shop.orders (customer, n) ON UPDATE CASCADE
) ENGINE=InnoDB;
INSERT INTO shop.orders VALUES (1, 1, NULL, 10.50), (1, 2, 1, 0.01), (3, 1, NULL, 99999.99), (1, 3, 2, 5);
CREATE VIEW shop.rich AS SELECT email FROM shop.customers WHERE balance > 100;
CREATE TRIGGER shop.customers_touch BEFORE UPDATE ON shop.customers FOR EACH ROW SET NEW.note = NEW.note;
`

// The join the sqlite3 tool must answer as the source does.
const (
	pgJoin     = "SELECT c.email || '|' || count(o.n) || '|' || coalesce(sum(o.total), 0) FROM customers c LEFT JOIN orders o ON o.customer = c.id GROUP BY c.email ORDER BY c.email"
	mariaJoin  = "SELECT CONCAT(c.email, '|', COUNT(o.n), '|', COALESCE(SUM(o.total), 0)) FROM shop.customers c LEFT JOIN shop.orders o ON o.customer = c.id GROUP BY c.email ORDER BY c.email"
	sqliteJoin = "SELECT c.email || '|' || count(o.n) || '|' || printf('%.2f', coalesce(sum(CAST(o.total AS REAL)), 0)) FROM customers c LEFT JOIN orders o ON o.customer = c.id GROUP BY c.email ORDER BY c.email"
)

func svcSQL(t *testing.T, p *project, service, db, q string) string {
	t.Helper()
	var r result
	if service == "pg" {
		r = p.exec("pg", q, "psql", "-X", "-v", "ON_ERROR_STOP=1", "-q", "-A", "-t", "-U", "app", "-d", db)
	} else {
		r = p.exec("maria", q, "env", "MYSQL_PWD="+mariaRootPassword, "mariadb", "-uroot", "--default-character-set=utf8mb4", "--batch", "--skip-column-names", db)
	}
	if r.Err != nil {
		t.Fatalf("%s %s: %s", service, db, r)
	}
	return strings.TrimSpace(r.Stdout)
}

func TestExportImportBetweenEngines(t *testing.T) {
	p := newProject(t, map[string]string{
		"compose.yaml":         portableCompose,
		"db_password.txt":      pgPassword + "\n",
		"db_root_password.txt": mariaRootPassword + "\n",
	})
	p.up()
	svcSQL(t, p, "pg", "appdb", pgTypesSeed)
	svcSQL(t, p, "maria", "shop", mariaTypesSeed)
	dir := t.TempDir()
	secrets := []string{pgPassword, mariaRootPassword}
	docker := func(args ...string) result {
		t.Helper()
		r := backup(t, p.Dir, []string{"COMPOSE_PROJECT_NAME=" + p.Name}, args...)
		for _, s := range secrets {
			if strings.Contains(r.Stdout+r.Stderr, s) {
				t.Fatalf("a password in the output of %v:\n%s", args, r)
			}
		}
		return r
	}
	export := func(service, db, file string) {
		t.Helper()
		r := docker("export", service, "--database", db, "-o", file)
		if r.Err != nil {
			t.Fatalf("export %s %s: %s", service, db, r)
		}
		t.Logf("export %s/%s: %s", service, db, strings.TrimSpace(r.Stderr))
	}
	importTo := func(file, service, db string) {
		t.Helper()
		r := docker("import", file, service, "--database", db)
		if r.Err != nil {
			t.Fatalf("import %s into %s %s: %s", file, service, db, r)
		}
		t.Logf("import into %s/%s: %s", service, db, strings.TrimSpace(r.Stderr))
	}

	pgFile := filepath.Join(dir, "pg.sqlite")
	export("pg", "appdb", pgFile)
	sqlite3Checks(t, pgFile, svcSQL(t, p, "pg", "appdb", pgJoin))
	unmapped := sqlite3(t, pgFile, "SELECT kind || ' ' || name FROM _docker_backup_export_unmapped ORDER BY 1")
	for _, want := range []string{"check constraint", "function", "index customers_lower_email", "sequence", "trigger customers_touch", "view public.rich"} {
		if !strings.Contains(unmapped, want) {
			t.Errorf("the export does not record the %s it left out:\n%s", want, unmapped)
		}
	}
	if got := sqlite3(t, pgFile, "SELECT original_type FROM _docker_backup_export_columns WHERE table_name = 'customers' AND column_name = 'balance'"); got != "numeric(30,10)" {
		t.Errorf("original type of balance: %q", got)
	}
	if got := sqlite3(t, pgFile, "SELECT balance FROM customers WHERE email = 'ana@example.test'"); got != "12345678901234567890.0123456789" {
		t.Errorf("an exact numeric lost digits: %q", got)
	}

	mariaFile := filepath.Join(dir, "maria.sqlite")
	export("maria", "shop", mariaFile)
	sqlite3Checks(t, mariaFile, svcSQL(t, p, "maria", "shop", mariaJoin))

	t.Run("create --export sqlite", func(t *testing.T) {
		out := filepath.Join(dir, "archives")
		os.MkdirAll(out, 0o700)
		r := docker("create", "-p", p.Name, "--export", "sqlite", "-o", out)
		if r.Err != nil {
			t.Fatalf("create --export sqlite: %s", r)
		}
		archives, _ := filepath.Glob(filepath.Join(out, p.Name+"-*.tar.zst"))
		if len(archives) != 1 {
			t.Fatalf("archives: %v", archives)
		}
		if r := docker("verify", archives[0]); r.Err != nil {
			t.Fatalf("verify: %s", r)
		}
		// By hand, as FORMAT.md says: plain tar and zstd, then the parts
		// put together.
		x := filepath.Join(dir, "extracted")
		os.MkdirAll(x, 0o700)
		if out, err := exec.Command("sh", "-c", `zstd -dc "$1" | tar -x -C "$2"`, "sh", archives[0], x).CombinedOutput(); err != nil {
			t.Fatalf("extracting: %v\n%s", err, out)
		}
		for _, e := range []struct{ part, file string }{{"exports/pg/appdb.sqlite", pgFile}, {"exports/maria/shop.sqlite", mariaFile}} {
			joined := filepath.Join(dir, strings.ReplaceAll(e.part, "/", "_"))
			if out, err := exec.Command("sh", "-c", `cat "$1".* > "$2"`, "sh", filepath.Join(x, e.part), joined).CombinedOutput(); err != nil {
				t.Fatalf("joining %s: %v\n%s", e.part, err, out)
			}
			if got := sqlite3(t, joined, "PRAGMA integrity_check"); got != "ok" {
				t.Errorf("%s: %s", e.part, got)
			}
			compareExports(t, e.file, joined)
		}
		m := readManifest(t, x)
		found := 0
		for _, db := range m.Databases {
			for _, e := range db.Exports {
				if e.Format == "sqlite" && (e.Path == "exports/pg/appdb.sqlite" && e.Rows > 1000000 || e.Path == "exports/maria/shop.sqlite" && e.Rows == 7) {
					found++
				}
			}
		}
		if found != 2 {
			t.Errorf("the manifest does not list both exports with their rows: %+v", m.Databases)
		}
	})

	for _, trip := range []struct{ file, service, db string }{
		{pgFile, "pg", "pgcopy"},
		{pgFile, "maria", "frompg"},
		{mariaFile, "maria", "mariacopy"},
		{mariaFile, "pg", "frommaria"},
	} {
		t.Run(filepath.Base(trip.file)+"-to-"+trip.service, func(t *testing.T) {
			importTo(trip.file, trip.service, trip.db)
			back := filepath.Join(dir, trip.db+".sqlite")
			export(trip.service, trip.db, back)
			compareExports(t, trip.file, back)
		})
	}
	// The counters are past the highest key: a new row gets a new id.
	if got := svcSQL(t, p, "pg", "frommaria", "INSERT INTO customers (email) VALUES ('new@example.test') RETURNING id"); got != "4" {
		t.Errorf("the next id in frommaria is %q, not 4", got)
	}
	if got := svcSQL(t, p, "maria", "frompg", "INSERT INTO customers (email) VALUES ('new@example.test'); SELECT LAST_INSERT_ID();"); got != "4" {
		t.Errorf("the next id in frompg is %q, not 4", got)
	}
	// The foreign keys hold on the server, with their actions.
	svcSQL(t, p, "pg", "pgcopy", "DELETE FROM customers WHERE email = 'edge@example.test'")
	if got := svcSQL(t, p, "pg", "pgcopy", "SELECT count(*) FROM orders WHERE customer = 3"); got != "0" {
		t.Errorf("ON DELETE CASCADE did not come back: %s orders left", got)
	}
	if r := p.exec("maria", "INSERT INTO frompg.orders VALUES (99, 1, NULL, 1);", "env", "MYSQL_PWD="+mariaRootPassword, "mariadb", "-uroot"); r.Err == nil {
		t.Error("MariaDB accepted an order of a customer that does not exist: the foreign key did not come back")
	}

	t.Run("refusals", func(t *testing.T) {
		// A database that holds rows is only replaced with --replace,
		// after a safety backup.
		r := docker("import", pgFile, "pg", "--database", "pgcopy")
		if r.Err == nil || !strings.Contains(r.Stderr, "--replace") {
			t.Fatalf("import into a database with rows: %s", r)
		}
		svcSQL(t, p, "pg", "pgcopy", "INSERT INTO customers (email) VALUES ('kept@example.test')")
		broken := filepath.Join(dir, "broken.sqlite")
		copyFile(t, pgFile, broken)
		sqlite3(t, broken, "PRAGMA foreign_keys = OFF; INSERT INTO orders VALUES (424242, 1, NULL, '1.00');")
		r = docker("import", broken, "pg", "--database", "pgcopy", "--replace")
		if r.Err == nil || !strings.Contains(r.Stderr, "foreign key") {
			t.Fatalf("a file whose foreign key does not hold: %s", r)
		}
		if got := svcSQL(t, p, "pg", "pgcopy", "SELECT count(*) FROM customers WHERE email = 'kept@example.test'"); got != "1" {
			t.Errorf("a refused import changed the database: %s", got)
		}
		r = docker("import", broken, "maria", "--database", "neverthere")
		if r.Err == nil {
			t.Fatalf("the broken file was imported into MariaDB: %s", r)
		}
		if got := svcSQL(t, p, "maria", "", "SHOW DATABASES LIKE 'neverthere'"); got != "" {
			t.Errorf("a refused import left database %s", got)
		}
		// A value the server refuses halfway through the rows: nothing
		// of the new database is left (one transaction on PostgreSQL,
		// the database dropped on MariaDB).
		zeroDate := filepath.Join(dir, "zerodate.sqlite")
		copyFile(t, mariaFile, zeroDate)
		sqlite3(t, zeroDate, "UPDATE customers SET born = '0000-00-00' WHERE email = 'edge@example.test'")
		if r = docker("import", zeroDate, "pg", "--database", "halfway"); r.Err == nil || !strings.Contains(r.Stderr, "0000-00-00") {
			t.Errorf("a date PostgreSQL cannot hold: %s", r)
		}
		if got := svcSQL(t, p, "pg", "postgres", "SELECT count(*) FROM pg_database WHERE datname = 'halfway'"); got != "0" {
			t.Errorf("a failed import into PostgreSQL left its database")
		}
		nan := filepath.Join(dir, "nan.sqlite")
		copyFile(t, pgFile, nan)
		sqlite3(t, nan, "UPDATE customers SET ratio = 'NaN' WHERE email = 'edge@example.test'")
		if r = docker("import", nan, "maria", "--database", "halfway"); r.Err == nil || !strings.Contains(r.Stderr, "NaN") {
			t.Errorf("a float MariaDB cannot hold: %s", r)
		}
		if got := svcSQL(t, p, "maria", "", "SHOW DATABASES LIKE 'halfway'"); got != "" {
			t.Errorf("a failed import into MariaDB left database %s", got)
		}
		notSQLite := filepath.Join(dir, "dump.sql")
		os.WriteFile(notSQLite, []byte("CREATE TABLE x (a int);\n"), 0o600)
		if r = docker("import", notSQLite, "pg"); r.Err == nil || !strings.Contains(r.Stderr, "not an SQLite database") {
			t.Errorf("a text file: %s", r)
		}
		newer := filepath.Join(dir, "newer.sqlite")
		copyFile(t, pgFile, newer)
		sqlite3(t, newer, "UPDATE _docker_backup_export SET value = '99' WHERE key = 'format'")
		if r = docker("import", newer, "pg", "--database", "newer"); r.Err == nil || !strings.Contains(r.Stderr, "newer docker-backup") {
			t.Errorf("a file of a newer format: %s", r)
		}

		r = docker("import", pgFile, "pg", "--database", "pgcopy", "--replace")
		if r.Err != nil {
			t.Fatalf("import --replace: %s", r)
		}
		if got := svcSQL(t, p, "pg", "pgcopy", "SELECT count(*) FROM customers WHERE email = 'kept@example.test'"); got != "0" {
			t.Errorf("--replace kept a row of the old database: %s", got)
		}
		safety, _ := filepath.Glob(filepath.Join(p.Dir, "backups", "*pgcopy-before-import-*"))
		if len(safety) != 1 {
			t.Fatalf("no safety backup of the replaced database in ./backups: %v\n%s", safety, r)
		}
	})
}

// copyFile copies a test file.
func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// sqlite3 runs Debian's sqlite3 tool on a file.
func sqlite3(t *testing.T, file, q string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "sqlite3", "-bail", file, q).CombinedOutput()
	if err != nil {
		t.Fatalf("sqlite3 %s %q: %v\n%s", file, q, err, out)
	}
	return strings.TrimSpace(string(out))
}

// sqlite3Checks opens an export with Debian's sqlite3: its integrity and
// foreign keys hold, and the join answers as the source did.
func sqlite3Checks(t *testing.T, file, sourceJoin string) {
	t.Helper()
	if got := sqlite3(t, file, "PRAGMA integrity_check"); got != "ok" {
		t.Errorf("integrity_check of %s: %s", file, got)
	}
	if got := sqlite3(t, file, "PRAGMA foreign_key_check"); got != "" {
		t.Errorf("foreign_key_check of %s: %s", file, got)
	}
	got := sqlite3(t, file, sqliteJoin)
	// The source prints sums of numeric(12,2) with two decimals, and 0
	// for none.
	want := strings.ReplaceAll(sourceJoin+"\n", "|0\n", "|0.00\n")
	if got != strings.TrimSpace(want) {
		t.Errorf("the join over %s:\n%s\nthe source's:\n%s", file, got, sourceJoin)
	}
}

// compareExports compares two exports of the same data, made from
// different engines: per table, the checksum of its normalised rows, and
// the keys, unique constraints, foreign keys and indexes.
func compareExports(t *testing.T, a, b string) {
	t.Helper()
	ctx := context.Background()
	ra, err := portable.Open(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	defer ra.Close()
	rb, err := portable.Open(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	defer rb.Close()
	if len(ra.Schema.Tables) != len(rb.Schema.Tables) {
		t.Fatalf("%d tables, then %d", len(ra.Schema.Tables), len(rb.Schema.Tables))
	}
	for i := range ra.Schema.Tables {
		ta := &ra.Schema.Tables[i]
		tb := rb.Schema.Table(ta.Name)
		if tb == nil {
			t.Errorf("table %s is missing", ta.Name)
			continue
		}
		if !reflect.DeepEqual(ta.PrimaryKey, tb.PrimaryKey) {
			t.Errorf("%s: primary key %v, then %v", ta.Name, ta.PrimaryKey, tb.PrimaryKey)
		}
		cross := ra.Schema.Meta.Engine != rb.Schema.Meta.Engine
		if ka, kb := keySet(ta, cross), keySet(tb, cross); !reflect.DeepEqual(ka, kb) {
			t.Errorf("%s: keys and indexes\n%v\nthen\n%v", ta.Name, ka, kb)
		}
		for j, c := range ta.Columns {
			if j >= len(tb.Columns) || tb.Columns[j].Name != c.Name || tb.Columns[j].NotNull != c.NotNull {
				t.Errorf("%s: column %s differs", ta.Name, c.Name)
			}
		}
		sa, na := exportDigest(t, ra, ta)
		sb, nb := exportDigest(t, rb, tb)
		if sa != sb || na != nb {
			t.Errorf("%s: %d rows (checksum %s), then %d rows (checksum %s)", ta.Name, na, sa[:12], nb, sb[:12])
			showDifference(t, ra, ta, rb, tb)
		}
	}
}

// keySet lists a table's indexes and foreign keys. Between engines, the
// index MySQL makes by itself for a foreign key is left out, and
// RESTRICT, which MySQL reports for NO ACTION, is NO ACTION.
func keySet(t *portable.Table, cross bool) []string {
	var out []string
	fkCols := map[string]bool{}
	for _, fk := range t.ForeignKeys {
		fkCols[fmt.Sprint(fk.Columns)] = true
	}
	for _, ix := range t.Indexes {
		if cross && !ix.Unique && fkCols[fmt.Sprint(ix.Columns)] {
			continue
		}
		out = append(out, fmt.Sprintf("index unique=%v %v", ix.Unique, ix.Columns))
	}
	action := func(a string) string {
		if cross && a == "RESTRICT" {
			return "NO ACTION"
		}
		return a
	}
	for _, fk := range t.ForeignKeys {
		out = append(out, fmt.Sprintf("fk %v -> %s %v delete %s update %s", fk.Columns, fk.RefTable, fk.RefColumns, action(fk.OnDelete), action(fk.OnUpdate)))
	}
	sort.Strings(out)
	return out
}

// exportDigest is the checksum of a table's normalised rows, in sorted
// order, and their number.
func exportDigest(t *testing.T, r *portable.Reader, tb *portable.Table) (string, int) {
	t.Helper()
	rows := normalisedRows(t, r, tb)
	h := sha256.New()
	for _, row := range rows {
		h.Write([]byte(row + "\n"))
	}
	return hex.EncodeToString(h.Sum(nil)), len(rows)
}

func normalisedRows(t *testing.T, r *portable.Reader, tb *portable.Table) []string {
	t.Helper()
	var rows []string
	err := r.Rows(context.Background(), tb, func(row []any) error {
		parts := make([]string, len(row))
		for i, v := range row {
			parts[i] = normalise(tb.Columns[i], v)
		}
		rows = append(rows, strings.Join(parts, "\x1f"))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(rows)
	return rows
}

func showDifference(t *testing.T, ra *portable.Reader, ta *portable.Table, rb *portable.Reader, tb *portable.Table) {
	a, b := normalisedRows(t, ra, ta), normalisedRows(t, rb, tb)
	for i := 0; i < len(a) && i < len(b); i++ {
		if a[i] != b[i] {
			t.Errorf("first difference:\n%q\n%q", a[i], b[i])
			return
		}
	}
}

// normalise writes a value so that the same datum compares equal whatever
// engine it went through: instants in UTC, exact numbers by value, floats
// at their column's precision, JSON by structure.
func normalise(c portable.Column, v any) string {
	if v == nil {
		return "NULL"
	}
	s := fmt.Sprint(v)
	if b, ok := v.([]byte); ok {
		return "x" + hex.EncodeToString(b)
	}
	switch c.Kind {
	case portable.Text:
		// char(n) pads with spaces that neither engine counts.
		if strings.HasPrefix(c.Type, "char") || strings.HasPrefix(c.Type, "character(") {
			return strings.TrimRight(s, " ")
		}
	case portable.Boolean:
		if s == "0" || s == "f" || s == "false" {
			return "false"
		}
		return "true"
	case portable.Decimal, portable.Integer:
		if x, ok := new(big.Rat).SetString(s); ok {
			return x.RatString()
		}
	case portable.Float:
		if f, ok := v.(float64); ok {
			if c.Size == 4 {
				return fmt.Sprint(float32(f))
			}
			return fmt.Sprint(f)
		}
	case portable.TimestampTZ, portable.Timestamp:
		for _, layout := range []string{"2006-01-02T15:04:05.999999999Z07:00", "2006-01-02T15:04:05.999999999"} {
			if ts, err := time.Parse(layout, s); err == nil {
				return ts.UTC().Format(time.RFC3339Nano)
			}
		}
	case portable.Time:
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
		if !strings.Contains(s, ":") {
			s += ":00"
		}
		return s
	case portable.JSON:
		var x any
		if json.Unmarshal([]byte(s), &x) == nil {
			b, _ := json.Marshal(x)
			return string(b)
		}
	}
	if f, ok := v.(float64); ok && (math.IsInf(f, 0) || math.IsNaN(f)) {
		return s
	}
	return s
}
