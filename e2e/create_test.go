//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/docker-backup/docker-backup/internal/archive"
)

const pgSeed = `
CREATE ROLE reporter LOGIN PASSWORD 'reporter-pw';
CREATE SCHEMA billing;
CREATE TABLE public.users (id serial PRIMARY KEY, name text NOT NULL, bio text, avatar bytea, meta jsonb, created timestamptz NOT NULL DEFAULT '2026-01-02 03:04:05+00');
INSERT INTO public.users (name, bio, avatar, meta)
  SELECT 'user' || g, 'Grüße, 日本語, emoji ✓ ' || g, decode(md5(g::text), 'hex') || '\x00ff00'::bytea, jsonb_build_object('n', g, 'tags', jsonb_build_array('a', 'b'))
  FROM generate_series(1, 3000) g;
CREATE TABLE billing.invoices (id int PRIMARY KEY, user_id int REFERENCES public.users(id), amount numeric(12,2), note text);
INSERT INTO billing.invoices SELECT g, g, g * 1.25, 'note ' || g FROM generate_series(1, 1000) g;
CREATE TABLE public.sessions (id int PRIMARY KEY, data text);
INSERT INTO public.sessions SELECT g, repeat('s', 100) FROM generate_series(1, 500) g;
CREATE TABLE public.tokens (id int PRIMARY KEY, token text);
INSERT INTO public.tokens SELECT g, md5(g::text) FROM generate_series(1, 100) g;
GRANT USAGE ON SCHEMA billing TO reporter;
GRANT SELECT ON billing.invoices TO reporter;
CREATE DATABASE analytics;
`

const pgSeedAnalytics = `
CREATE TABLE events (id bigserial PRIMARY KEY, kind text, payload jsonb);
INSERT INTO events (kind, payload) SELECT 'k' || (g % 7), jsonb_build_object('g', g) FROM generate_series(1, 2000) g;
`

// volumeSeed fills /srv/data with what trips up backup tools.
const volumeSeed = `set -e
cd /srv/data
mkdir -p sub/deep
printf 'hello\n' > hello.txt
: > empty
ln -s hello.txt link-to-hello
ln -s /etc/hostname abs-link
printf x > 'odd name with spaces & ünïcode ✓'
printf y > "$(printf 'tab\there')"
head -c 30000000 /dev/urandom > big.bin
echo owned > sub/owned
chown 1000:1001 sub/owned
chmod 0640 sub/owned
chown 1000:1000 sub/deep
chmod 0750 sub/deep
ln hello.txt hardlink-to-hello
`

// treeListing describes a folder: one line per entry with type, mode, owner,
// size (files), link target, mtime (files) and content hash (files).
const treeListing = `cd "$1" && find . -mindepth 1 -printf '%p|%y|%m|%U|%G|%l|' -exec sh -c 'if [ -f "$1" ] && [ ! -L "$1" ]; then printf "%s|%s\n" "$(stat -c %s "$1")" "$(sha256sum < "$1" | cut -d" " -f1)"; else echo "|"; fi' _ {} \; | LC_ALL=C sort`

func listTree(t *testing.T, p *project, service, dir string) string {
	t.Helper()
	r := p.exec(service, "", "bash", "-c", treeListing, "_", dir)
	if r.Err != nil {
		t.Fatalf("listing %s in %s: %s", dir, service, r)
	}
	return r.Stdout
}

func listHostTree(t *testing.T, dir string) string {
	t.Helper()
	out, err := exec.Command("bash", "-c", treeListing, "_", dir).CombinedOutput()
	if err != nil {
		t.Fatalf("listing %s: %v: %s", dir, err, out)
	}
	return string(out)
}

// extract checks an archive against its manifest, then unpacks it with
// the system's tar, as a person would.
func extract(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := archive.Verify(context.Background(), f); err != nil {
		t.Fatalf("the archive does not verify: %v", err)
	}
	dir := t.TempDir()
	out, err := exec.Command("tar", "--numeric-owner", "-xpf", path, "-C", dir).CombinedOutput()
	if err != nil {
		t.Fatalf("tar -x %s: %v: %s", path, err, out)
	}
	return dir
}

func readManifest(t *testing.T, dir string) *archive.Manifest {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, archive.ManifestName))
	if err != nil {
		t.Fatal(err)
	}
	var m archive.Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("manifest: %v", err)
	}
	return &m
}

// joinParts gives a dump stored as NAME.000000, NAME.000001... back.
func joinParts(t *testing.T, dir, name string) io.Reader {
	t.Helper()
	parts, err := filepath.Glob(filepath.Join(dir, name) + ".[0-9][0-9][0-9][0-9][0-9][0-9]")
	if err != nil || len(parts) == 0 {
		t.Fatalf("no parts of %s in the archive (%v)", name, err)
	}
	sort.Strings(parts)
	var readers []io.Reader
	for _, p := range parts {
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		readers = append(readers, f)
	}
	return io.MultiReader(readers...)
}

func psql(t *testing.T, p *project, db, sql string) string {
	t.Helper()
	r := p.exec("db", sql, "psql", "-X", "-v", "ON_ERROR_STOP=1", "-q", "-A", "-t", "-U", "app", "-d", db)
	if r.Err != nil {
		t.Fatalf("psql %s: %s", db, r)
	}
	return strings.TrimSpace(r.Stdout)
}

// bigTable adds to appdb a table big of rows rows of about 230 bytes:
// enough that a dump or a load takes a while.
func bigTable(t *testing.T, p *project, rows int) {
	t.Helper()
	psql(t, p, "appdb", fmt.Sprintf("CREATE TABLE big AS SELECT g AS id, md5(g::text) || repeat(md5((g*7)::text), 6) AS v FROM generate_series(1, %d) g;", rows))
}

// tableDigest is an order-independent digest of a table's rows.
func tableDigest(t *testing.T, p *project, db, table string) string {
	return psql(t, p, db, "SELECT count(*) || ':' || coalesce(md5(string_agg(x::text, '|' ORDER BY x::text)), '') FROM "+table+" x")
}

func TestCreatePostgres(t *testing.T) {
	src := newProject(t, postgresProject(t))
	src.up()
	psql(t, src, "appdb", pgSeed)
	psql(t, src, "analytics", pgSeedAnalytics)
	if r := src.exec("app", volumeSeed, "bash"); r.Err != nil {
		t.Fatalf("seeding the volume: %s", r)
	}

	out := filepath.Join(t.TempDir(), "pg.tar.zst")
	r := backup(t, src.Dir, nil, "create", "-p", src.Name, "-o", out, "--json",
		"--exclude-table", "appdb.public.tokens", "--exclude-table-data", "*.public.sessions")
	if r.Err != nil {
		t.Fatalf("create: %s", r)
	}
	var res struct {
		Path    string `json:"path"`
		Size    int64  `json:"size"`
		Entries []struct {
			Kind, Name, Path string
			Size             int64
		} `json:"entries"`
	}
	if err := json.Unmarshal([]byte(r.Stdout), &res); err != nil {
		t.Fatalf("--json output: %v\n%s", err, r)
	}
	fi, err := os.Stat(out)
	if err != nil {
		t.Fatalf("archive missing: %v\n%s", err, r)
	}
	if res.Path != out || res.Size != fi.Size() {
		t.Errorf("summary says %s of %d bytes; the file is %d bytes", res.Path, res.Size, fi.Size())
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("archive mode %o, want 600", fi.Mode().Perm())
	}
	if strings.Contains(r.Stdout+r.Stderr, pgPassword) {
		t.Errorf("the password appears in the output")
	}

	dir := extract(t, out)
	m := readManifest(t, dir)
	if m.Project.Name != src.Name || len(m.Databases) != 1 || m.Databases[0].Engine != "postgres" {
		t.Fatalf("manifest: %+v", m)
	}
	if !strings.HasPrefix(m.Databases[0].Version, "15.") {
		t.Errorf("server version %q", m.Databases[0].Version)
	}
	raw, _ := os.ReadFile(filepath.Join(dir, archive.ManifestName))
	resolved, _ := os.ReadFile(filepath.Join(dir, "compose", "resolved.json"))
	if strings.Contains(string(raw)+string(resolved), pgPassword) {
		t.Errorf("the password appears in the manifest or the resolved model")
	}
	for _, v := range m.Volumes {
		if v.Name == "dbdata" {
			t.Errorf("the live database's volume was copied raw")
		}
	}

	// Restore by hand, as docs/FORMAT.md says, into a fresh server.
	dst := newProject(t, postgresProject(t))
	dst.up()
	dbDir := filepath.Join(dir, "databases", "db")
	if r := dst.execReader("db", joinParts(t, dbDir, "globals.sql"), "psql", "-X", "-q", "-U", "app", "-d", "postgres"); r.Err != nil {
		t.Fatalf("loading globals: %s", r)
	}
	psql(t, dst, "postgres", "CREATE DATABASE analytics")
	for _, db := range []string{"appdb", "analytics"} {
		if r := dst.execReader("db", joinParts(t, dbDir, db+".pgdump"), "pg_restore", "--exit-on-error", "-U", "app", "-d", db); r.Err != nil {
			t.Fatalf("pg_restore %s: %s", db, r)
		}
	}
	for _, tc := range []struct{ db, table string }{
		{"appdb", "public.users"}, {"appdb", "billing.invoices"}, {"analytics", "events"},
	} {
		if a, b := tableDigest(t, src, tc.db, tc.table), tableDigest(t, dst, tc.db, tc.table); a != b {
			t.Errorf("%s %s differs after restore: %s vs %s", tc.db, tc.table, a, b)
		}
	}
	if n := psql(t, dst, "appdb", "SELECT count(*) FROM public.sessions"); n != "0" {
		t.Errorf("sessions has %s rows; its data was excluded", n)
	}
	if n := psql(t, dst, "appdb", "SELECT count(*) FROM pg_tables WHERE tablename = 'tokens'"); n != "0" {
		t.Errorf("tokens was excluded but exists")
	}
	if ok := psql(t, dst, "appdb", "SELECT has_table_privilege('reporter', 'billing.invoices', 'SELECT')"); ok != "t" {
		t.Errorf("role reporter or its grant did not come back: %q", ok)
	}

	// The volume: content, owners, modes, symlinks and mtimes.
	want := listTree(t, src, "app", "/srv/data")
	got := listHostTree(t, filepath.Join(dir, "volumes", "appdata"))
	if want != got {
		t.Errorf("volume tree differs\nin the container:\n%s\nin the archive:\n%s", want, got)
	}
	if !strings.Contains(want, "sub/owned|f|640|1000|1001") {
		t.Errorf("seed did not produce what the test expects:\n%s", want)
	}
}

func (p *project) execReader(service string, in io.Reader, args ...string) result {
	p.t.Helper()
	cmd := exec.Command("docker", append([]string{"compose", "-p", p.Name, "exec", "-T", service}, args...)...)
	cmd.Dir = p.Dir
	cmd.Stdin = in
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return result{Stdout: stdout.String(), Stderr: stderr.String(), Err: err}
}

// noArchives fails when dir holds anything: no archive, no partial file.
func noArchives(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	for _, e := range entries {
		t.Errorf("left behind: %s", e.Name())
	}
}
