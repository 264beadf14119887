//go:build e2e

package e2e

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/docker-backup/docker-backup/internal/archive"
)

// restoreListing is treeListing with every entry's mtime to the second, as
// archives keep them (directories' too: a restore must put them back after
// filling them).
const restoreListing = `cd "$1" && find . -printf '%p|%y|%m|%U|%G|%l|%Ts|' -exec sh -c 'if [ -f "$1" ] && [ ! -L "$1" ]; then sha256sum < "$1" | cut -d" " -f1; else echo; fi' _ {} \; | LC_ALL=C sort`

func volumeState(t *testing.T, p *project) string {
	t.Helper()
	r := p.exec("app", "", "bash", "-c", restoreListing, "_", "/srv/data")
	if r.Err != nil {
		t.Fatalf("listing the volume: %s", r)
	}
	return r.Stdout
}

// pgState is everything a PostgreSQL round trip must bring back: each
// table's rows, the roles, the grants, and the app's volume.
func pgState(t *testing.T, p *project) string {
	t.Helper()
	var b strings.Builder
	tables := psql(t, p, "appdb", "SELECT schemaname || '.' || tablename FROM pg_tables WHERE schemaname IN ('public', 'billing') ORDER BY 1")
	for _, tb := range strings.Fields(tables) {
		b.WriteString("appdb " + tb + " " + tableDigest(t, p, "appdb", tb) + "\n")
	}
	b.WriteString("analytics events " + tableDigest(t, p, "analytics", "events") + "\n")
	b.WriteString("roles " + psql(t, p, "postgres", "SELECT string_agg(rolname || ':' || rolcanlogin, ',' ORDER BY rolname) FROM pg_roles WHERE rolname NOT LIKE 'pg\\_%'") + "\n")
	b.WriteString("grants " + psql(t, p, "appdb", "SELECT string_agg(grantee || ':' || table_schema || '.' || table_name || ':' || privilege_type, ',' ORDER BY 1) FROM information_schema.role_table_grants WHERE grantee = 'reporter'") + "\n")
	b.WriteString("databases " + psql(t, p, "postgres", "SELECT string_agg(datname || ':' || pg_get_userbyid(datdba), ',' ORDER BY datname) FROM pg_database") + "\n")
	b.WriteString(volumeState(t, p))
	return b.String()
}

// pgChange changes what pgState sees in every way a bad day would.
const pgChange = `
UPDATE public.users SET name = 'changed' WHERE id % 3 = 0;
DELETE FROM billing.invoices WHERE id > 500;
DROP TABLE public.tokens;
REVOKE ALL ON billing.invoices FROM reporter;
REVOKE USAGE ON SCHEMA billing FROM reporter;
DROP ROLE reporter;
CREATE TABLE public.added_later (x int);
`

const volumeChange = `set -e
cd /srv/data
printf 'changed\n' > hello.txt
rm -f sub/owned big.bin
echo new > added.txt
mkdir -p newdir && echo z > newdir/z
`

// startedAt is when each of the project's containers last started:
// unchanged means never stopped.
func startedAt(t *testing.T, p *project) string {
	t.Helper()
	r := p.compose(context.Background(), "ps", "-a", "-q")
	if r.Err != nil {
		t.Fatal(r)
	}
	ids := strings.Fields(r.Stdout)
	if len(ids) == 0 {
		return ""
	}
	r = run(context.Background(), p.Dir, nil, "docker", append([]string{"inspect", "-f", "{{.Name}} {{.State.Status}} {{.State.StartedAt}}"}, ids...)...)
	if r.Err != nil {
		t.Fatal(r)
	}
	return r.Stdout
}

func seedPostgres(t *testing.T, p *project) {
	t.Helper()
	psql(t, p, "appdb", pgSeed)
	psql(t, p, "analytics", pgSeedAnalytics)
	if r := p.exec("app", volumeSeed, "bash"); r.Err != nil {
		t.Fatalf("seeding the volume: %s", r)
	}
}

func change(t *testing.T, p *project) {
	t.Helper()
	psql(t, p, "appdb", pgChange)
	if r := p.exec("app", volumeChange, "bash"); r.Err != nil {
		t.Fatalf("changing the volume: %s", r)
	}
}

func create(t *testing.T, p *project, args ...string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "archive.tar.zst")
	r := backup(t, p.Dir, nil, append([]string{"create", "-q", "-p", p.Name, "-o", out}, args...)...)
	if r.Err != nil {
		t.Fatalf("create: %s", r)
	}
	return out
}

// withWorker adds a service that is stopped before the restore and must
// stay stopped.
func withWorker(compose string) string {
	return strings.Replace(compose, "volumes:\n  dbdata:", `  worker:
    image: `+debianImage+`
    network_mode: none
    command: ["sleep", "infinity"]
    init: true
volumes:
  dbdata:`, 1)
}

func TestRestorePostgresRoundTrip(t *testing.T) {
	files := postgresProject(t)
	files["compose.yaml"] = withWorker(files["compose.yaml"])
	p := newProject(t, files)
	p.up()
	seedPostgres(t, p)
	want := pgState(t, p)
	arch := create(t, p)

	change(t, p)
	if pgState(t, p) == want {
		t.Fatal("the changes changed nothing")
	}
	if r := p.compose(context.Background(), "stop", "worker"); r.Err != nil {
		t.Fatal(r)
	}
	r := backup(t, p.Dir, nil, "restore", "-p", p.Name, arch, "--yes", "--json")
	if r.Err != nil {
		t.Fatalf("restore: %s", r)
	}
	if got := pgState(t, p); got != want {
		t.Errorf("state after restore differs\nwant:\n%s\ngot:\n%s", want, got)
	}
	for svc, st := range map[string]string{"db": "running", "app": "running", "worker": "exited"} {
		if got := p.state(t, svc); got != st {
			t.Errorf("service %s is %s after the restore, want %s", svc, got, st)
		}
	}
	var res struct {
		SafetyBackup string   `json:"safetyBackup"`
		Databases    []string `json:"databases"`
	}
	if err := json.Unmarshal([]byte(r.Stdout), &res); err != nil {
		t.Fatalf("--json: %v\n%s", err, r)
	}
	fi, err := os.Stat(res.SafetyBackup)
	if err != nil || fi.Mode().Perm() != 0o600 || filepath.Dir(res.SafetyBackup) != filepath.Join(p.Dir, "backups") {
		t.Errorf("safety backup %q: %v %v", res.SafetyBackup, fi, err)
	}
	if strings.Contains(r.Stdout+r.Stderr, pgPassword) {
		t.Errorf("the password appears in the output")
	}

	// The safety backup holds the changed state: restoring it brings the
	// changes back.
	changed := filepath.Join(t.TempDir(), "changed.tar.zst")
	if err := os.Rename(res.SafetyBackup, changed); err != nil {
		t.Fatal(err)
	}
	if r := backup(t, p.Dir, nil, "restore", "-p", p.Name, "-y", "--no-safety-backup", changed); r.Err != nil {
		t.Fatalf("restoring the safety backup: %s", r)
	}
	if n := psql(t, p, "appdb", "SELECT count(*) FROM billing.invoices"); n != "500" {
		t.Errorf("the safety backup did not hold the changed state: %s invoices", n)
	}
}

func TestRestoreMariaDBRoundTrip(t *testing.T) {
	p := newProject(t, mariadbProject(t))
	p.up()
	mariadb(t, p, mariaSeed)
	if r := p.exec("app", volumeSeed, "bash"); r.Err != nil {
		t.Fatalf("seeding the volume: %s", r)
	}
	state := func() string {
		var b strings.Builder
		for _, tb := range []string{"shop.products", "shop.sessions", "shop.action_log", "crm.contacts"} {
			b.WriteString(tb + " " + mariaDigest(t, p, tb) + "\n")
		}
		b.WriteString(mariadb(t, p, "SELECT n FROM crm.contact_count; SHOW GRANTS FOR 'reporter'@'%'; SELECT COUNT(*) FROM information_schema.routines WHERE routine_schema = 'crm'; SELECT COUNT(*) FROM information_schema.triggers WHERE trigger_schema = 'crm'; SELECT GROUP_CONCAT(user ORDER BY user) FROM mysql.user") + "\n")
		b.WriteString(volumeState(t, p))
		return b.String()
	}
	want := state()
	arch := create(t, p)
	// A test restore into a throwaway MariaDB counts the same rows.
	r := backup(t, p.Dir, nil, "verify", "--deep", arch)
	if r.Err != nil || !strings.Contains(r.Stderr, "crm.contacts: 2") || !strings.Contains(r.Stderr, "shop.products: 3") || !strings.Contains(r.Stderr, "db/crm: restored") {
		t.Errorf("verify --deep: %s", r)
	}

	mariadb(t, p, "UPDATE shop.products SET price = 0; DELETE FROM crm.contacts WHERE id = 1; DROP TABLE shop.sessions; DROP USER 'reporter'@'%'; CREATE TABLE shop.added_later (x INT);")
	if r := p.exec("app", volumeChange, "bash"); r.Err != nil {
		t.Fatal(r)
	}
	r = backup(t, p.Dir, nil, "restore", "-p", p.Name, "-y", arch)
	if r.Err != nil {
		t.Fatalf("restore: %s", r)
	}
	if got := state(); got != want {
		t.Errorf("state after restore differs\nwant:\n%s\ngot:\n%s", want, got)
	}
	if n := mariadb(t, p, "SELECT COUNT(*) FROM information_schema.tables WHERE table_name = 'added_later'"); n != "0" {
		t.Errorf("a table created after the backup survived the restore of its database")
	}
	if got := p.state(t, "app"); got != "running" {
		t.Errorf("app is %s after the restore", got)
	}
	// The app's own account works after the restore.
	if r := p.exec("db", "SELECT 1", "env", "MYSQL_PWD="+mariaPassword, "mariadb", "-ushop", "shop"); r.Err != nil {
		t.Errorf("the app's account does not work after the restore: %s", r)
	}
	if strings.Contains(r.Stdout+r.Stderr, mariaRootPassword) {
		t.Errorf("the root password appears in the output")
	}
}

// TestRestoreIsConsistentUnderLoad moves money between accounts while the
// backup runs: the restored total is the one every transaction kept.
func TestRestoreIsConsistentUnderLoad(t *testing.T) {
	p := newProject(t, postgresProject(t))
	p.up()
	psql(t, p, "appdb", "CREATE TABLE accounts (id int PRIMARY KEY, balance bigint NOT NULL); INSERT INTO accounts SELECT g, 1000 FROM generate_series(1, 100) g;")
	mover := exec.Command("docker", "compose", "-p", p.Name, "exec", "-T", "db", "bash", "-c",
		`end=$((SECONDS+12)); while [ $SECONDS -lt $end ]; do a=$((RANDOM%100+1)); b=$((RANDOM%100+1)); n=$((RANDOM%50)); echo "BEGIN; UPDATE accounts SET balance = balance - $n WHERE id = $a; SELECT pg_sleep(0.001); UPDATE accounts SET balance = balance + $n WHERE id = $b; COMMIT;"; done | psql -X -q -U app -d appdb >/dev/null`)
	mover.Dir = p.Dir
	if err := mover.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * time.Second)
	arch := create(t, p)
	if err := mover.Wait(); err != nil {
		t.Fatalf("the transfers failed: %v", err)
	}
	moved := psql(t, p, "appdb", "SELECT count(*) FROM accounts WHERE balance <> 1000")
	if moved == "0" {
		t.Fatal("no money moved: the test proves nothing")
	}
	psql(t, p, "appdb", "UPDATE accounts SET balance = 0")
	if r := backup(t, p.Dir, nil, "restore", "-p", p.Name, "-y", "--no-safety-backup", arch); r.Err != nil {
		t.Fatalf("restore: %s", r)
	}
	if total := psql(t, p, "appdb", "SELECT sum(balance) FROM accounts"); total != "100000" {
		t.Errorf("total after restore is %s, want 100000", total)
	}
}

// refused checks a restore failed, changed nothing and stopped nothing.
func refused(t *testing.T, p *project, r result, before, wantMsg string) {
	t.Helper()
	if r.Err == nil {
		t.Fatalf("restore succeeded: %s", r)
	}
	if !strings.Contains(r.Stderr, wantMsg) {
		t.Errorf("error should say %q: %s", wantMsg, r.Stderr)
	}
	if after := startedAt(t, p); after != before {
		t.Errorf("containers changed:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	if got, _ := filepath.Glob(filepath.Join(p.Dir, "backups", "*")); len(got) > 0 {
		t.Errorf("a safety backup was written although nothing was to change: %v", got)
	}
}

func TestRestoreRefusesBadArchives(t *testing.T) {
	p := newProject(t, postgresProject(t))
	p.up()
	seedPostgres(t, p)
	arch := create(t, p)
	data, err := os.ReadFile(arch)
	if err != nil {
		t.Fatal(err)
	}
	before := startedAt(t, p)
	if r := backup(t, p.Dir, nil, "verify", arch); r.Err != nil || !strings.Contains(r.Stderr, "OK") {
		t.Errorf("verify of a good archive: %s", r)
	}
	r := backup(t, p.Dir, nil, "inspect", "--json", arch)
	var im archive.Manifest
	if err := json.Unmarshal([]byte(r.Stdout), &im); r.Err != nil || err != nil || im.Project.Name != p.Name || len(im.Databases) != 1 {
		t.Errorf("inspect --json: %v %s", err, r)
	}
	if r := backup(t, p.Dir, nil, "inspect", arch); r.Err != nil || !strings.Contains(r.Stdout, "appdb") || !strings.Contains(r.Stdout, "appdata") {
		t.Errorf("inspect: %s", r)
	}
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		data []byte
		msg  string
	}{
		{"truncated-half", data[:len(data)/2], "truncated"},
		{"truncated-end", data[:len(data)-7], "truncated"},
		{"flipped", flip(data, len(data)/3), "refused"},
		{"foreign", []byte("this is not an archive, just some text that is long enough to look like something\n"), "not a docker-backup archive"},
	} {
		path := filepath.Join(dir, tc.name+".tar.zst")
		if err := os.WriteFile(path, tc.data, 0o600); err != nil {
			t.Fatal(err)
		}
		if r := backup(t, p.Dir, nil, "verify", path); r.Err == nil || !strings.Contains(r.Stderr, "failed verification") {
			t.Errorf("%s: verify passed: %s", tc.name, r)
		}
		r := backup(t, p.Dir, nil, "restore", "-p", p.Name, "-y", path)
		refused(t, p, r, before, tc.msg)
		if !strings.Contains(r.Stderr, "nothing was changed") {
			t.Errorf("%s: the error should say nothing was changed: %s", tc.name, r.Stderr)
		}
	}
	// The version refusal: a dump taken from a newer major version.
	newer := rewriteManifest(t, arch, func(m *archive.Manifest) { m.Databases[0].Version = "16.4 (Debian 16.4-1.pgdg120+2)" })
	r = backup(t, p.Dir, nil, "restore", "-p", p.Name, "-y", newer)
	refused(t, p, r, before, "dump taken from PostgreSQL 16.4; service db runs 15.")
	if !strings.Contains(r.Stderr, "restore into PostgreSQL 16 or newer") {
		t.Errorf("the refusal should name the version needed: %s", r.Stderr)
	}
	// MySQL into MariaDB's kin: refused without --force.
	other := rewriteManifest(t, arch, func(m *archive.Manifest) { m.Databases[0].Flavor = "MySQL" })
	refused(t, p, backup(t, p.Dir, nil, "restore", "-p", p.Name, "-y", other), before, "different database products")
	// A dump that matches its manifest but does not load: verify passes,
	// verify --deep says which database failed, and exits non-zero.
	garbage := []byte("this is not a pg_dump archive\n")
	sum := sha256.Sum256(garbage)
	broken := rewriteArchive(t, arch, func(name string, body []byte) []byte {
		if name == "databases/db/appdb.pgdump.000000" {
			return garbage
		}
		return body
	}, func(m *archive.Manifest) {
		for i, f := range m.Files {
			if f.Path == "databases/db/appdb.pgdump" {
				m.Files[i].Size, m.Files[i].SHA256 = int64(len(garbage)), hex.EncodeToString(sum[:])
			}
		}
	})
	if r := backup(t, p.Dir, nil, "verify", broken); r.Err != nil {
		t.Fatalf("the rewritten archive does not verify, the test proves nothing: %s", r)
	}
	r = backup(t, p.Dir, nil, "verify", "--deep", broken)
	if r.Err == nil || !strings.Contains(r.Stderr, "db/appdb: FAILED") || !strings.Contains(r.Stderr, "did not restore") {
		t.Errorf("verify --deep of an unloadable dump: %s", r)
	}
	// The other databases are test-restored all the same.
	if !strings.Contains(r.Stderr, "db/analytics: restored") {
		t.Errorf("verify --deep stopped at the unloadable dump: %s", r)
	}
	// Not on a terminal and no --yes: refused.
	refused(t, p, backup(t, p.Dir, nil, "restore", "-p", p.Name, arch), before, "--yes")
	// --dry-run prints the plan and stops.
	r = backup(t, p.Dir, nil, "restore", "-p", p.Name, "--dry-run", arch)
	if r.Err != nil || !strings.Contains(r.Stderr, "Restore plan") || !strings.Contains(r.Stderr, "appdb") {
		t.Errorf("--dry-run: %s", r)
	}
	if after := startedAt(t, p); after != before {
		t.Errorf("--dry-run changed containers")
	}
}

// flip inverts 64 bytes from at: one bit may fall where no zstd decoder
// reads, and leave the content as it was.
func flip(data []byte, at int) []byte {
	out := append([]byte(nil), data...)
	for i := at; i < at+64 && i < len(out); i++ {
		out[i] ^= 0xff
	}
	return out
}

// rewriteManifest copies an archive with its manifest edited; the manifest
// is not covered by a checksum, so the copy verifies.
func rewriteManifest(t *testing.T, path string, edit func(*archive.Manifest)) string {
	t.Helper()
	return rewriteArchive(t, path, nil, edit)
}

// eachEntry calls fn with each entry of a zstd archive and its body.
func eachEntry(t *testing.T, path string, fn func(hdr *tar.Header, body []byte)) {
	t.Helper()
	in, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	dec, err := zstd.NewReader(in)
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	tr := tar.NewReader(dec)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		fn(hdr, body)
	}
}

// rewriteArchive copies an archive with entries' bodies replaced by
// entry (nil: unchanged) and the manifest edited.
func rewriteArchive(t *testing.T, path string, entry func(name string, body []byte) []byte, edit func(*archive.Manifest)) string {
	t.Helper()
	outPath := filepath.Join(t.TempDir(), "edited.tar.zst")
	out, err := os.Create(outPath)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	enc, _ := zstd.NewWriter(out)
	tw := tar.NewWriter(enc)
	eachEntry(t, path, func(hdr *tar.Header, body []byte) {
		if entry != nil && hdr.Name != archive.ManifestName {
			body = entry(hdr.Name, body)
			hdr.Size = int64(len(body))
		}
		if hdr.Name == archive.ManifestName {
			var m archive.Manifest
			if err := json.Unmarshal(body, &m); err != nil {
				t.Fatal(err)
			}
			edit(&m)
			body, _ = json.Marshal(&m)
			hdr.Size = int64(len(body))
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(body); err != nil {
			t.Fatal(err)
		}
	})
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := enc.Close(); err != nil {
		t.Fatal(err)
	}
	return outPath
}

// TestRestoreRollsBack fails a restore three ways (a failing hook, the
// database killed while loading, Ctrl-C while loading): each time the
// project ends exactly as before the restore, running.
func TestRestoreRollsBack(t *testing.T) {
	files := postgresProject(t)
	files["compose.yaml"] = strings.Replace(files["compose.yaml"], "      - appdata:/srv/data\n", "      - appdata:/srv/data\n    x-backup:\n      restore-hooks:\n        after-start:\n          - test ! -e /srv/data/fail-hook || { echo migration failed >&2; exit 3; }\n", 1)
	p := newProject(t, files)
	p.up()
	seedPostgres(t, p)
	// Enough rows that loading takes a few seconds.
	bigTable(t, p, 800000)
	arch := create(t, p)
	change(t, p)
	want := pgState(t, p)

	check := func(name string, r result, wantMsg string) {
		t.Helper()
		if r.Err == nil {
			t.Fatalf("%s: restore succeeded", name)
		}
		if !strings.Contains(r.Stderr, wantMsg) || !strings.Contains(r.Stderr, "rolled back") {
			t.Errorf("%s: the error should say %q and that it rolled back: %s", name, wantMsg, r.Stderr)
		}
		if got := pgState(t, p); got != want {
			t.Errorf("%s: state after the rollback differs\nwant:\n%s\ngot:\n%s", name, want, got)
		}
		for _, svc := range []string{"db", "app"} {
			if st := p.state(t, svc); st != "running" {
				t.Errorf("%s: service %s is %s after the rollback", name, svc, st)
			}
		}
	}

	// 1. A failing after-start hook. The hook fails when the restored
	// volume holds fail-hook: arch does not, so this restore passes...
	r := backup(t, p.Dir, nil, "restore", "-p", p.Name, "-y", arch)
	if r.Err != nil {
		t.Fatalf("restore with a passing hook: %s", r)
	}
	// ...and an archive taken with it makes the hook fail.
	if r := p.exec("app", "", "touch", "/srv/data/fail-hook"); r.Err != nil {
		t.Fatal(r)
	}
	failing := create(t, p)
	change(t, p)
	want = pgState(t, p)
	r = backup(t, p.Dir, nil, "restore", "-p", p.Name, "-y", failing)
	check("failing hook", r, "exit code 3")

	// 2. The database killed while loading. Meanwhile, the project's lock
	// keeps a backup from running.
	cmd, stderr := startRestore(t, p, arch)
	waitForLoad(t, p)
	if r := backup(t, p.Dir, nil, "create", "-p", p.Name, "--no-wait", "-o", t.TempDir()+"/"); r.Err == nil || !strings.Contains(r.Stderr, "in use by docker backup restore") {
		t.Errorf("a backup ran during a restore of the project: %s", r)
	}
	if r := p.compose(context.Background(), "kill", "db"); r.Err != nil {
		t.Fatal(r)
	}
	err := cmd.Wait()
	check("database killed", result{Stderr: stderr.String(), Err: err}, "restore failed")

	// 3. Ctrl-C while loading.
	cmd, stderr = startRestore(t, p, arch)
	waitForLoad(t, p)
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	err = cmd.Wait()
	check("interrupted", result{Stderr: stderr.String(), Err: err}, "interrupted")
}

func startRestore(t *testing.T, p *project, arch string) (*exec.Cmd, *bytes.Buffer) {
	t.Helper()
	return startBackup(t, p, "restore", "-p", p.Name, "-y", arch)
}

// waitForLoad waits until pg_restore runs in the database container.
func waitForLoad(t *testing.T, p *project) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for time.Now().Before(deadline) {
		r := run(context.Background(), p.Dir, nil, "docker", "top", p.Name+"-db-1")
		if strings.Contains(r.Stdout, "pg_restore") {
			time.Sleep(300 * time.Millisecond)
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("pg_restore never ran")
}

// TestRestoreOnAFreshHost restores into a project that does not exist:
// once under the archive's own name after docker compose down -v (a new
// host), once under another name while the original runs (a staging
// copy), which must not be touched.
func TestRestoreOnAFreshHost(t *testing.T) {
	files := postgresProject(t)
	p := newProject(t, files)
	p.up()
	seedPostgres(t, p)
	want := pgState(t, p)
	arch := create(t, p)

	// A staging copy under another name.
	staging := newProject(t, files)
	before := startedAt(t, p)
	r := backup(t, staging.Dir, nil, "restore", "-p", staging.Name, "-y", arch)
	if r.Err != nil {
		t.Fatalf("restore into %s: %s", staging.Name, r)
	}
	if got := pgState(t, staging); got != want {
		t.Errorf("the staging copy differs\nwant:\n%s\ngot:\n%s", want, got)
	}
	if after := startedAt(t, p); after != before {
		t.Errorf("the original project was touched:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	if got := pgState(t, p); got != want {
		t.Errorf("the original project's data changed")
	}
	// Without -p, an archive of another project is refused.
	other := newProject(t, files)
	if r := run(context.Background(), other.Dir, nil, "docker", "backup", "restore", "-y", arch); r.Err == nil || !strings.Contains(r.Stderr, "-p") {
		t.Errorf("an archive of another project was not refused: %s", r)
	}

	// A new host: nothing of the project is left.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if r := p.compose(ctx, "down", "-v"); r.Err != nil {
		t.Fatal(r)
	}
	r = backup(t, p.Dir, nil, "restore", "-p", p.Name, "-y", arch)
	if r.Err != nil {
		t.Fatalf("restore on a fresh host: %s", r)
	}
	if got := pgState(t, p); got != want {
		t.Errorf("state after a fresh-host restore differs\nwant:\n%s\ngot:\n%s", want, got)
	}
	for _, svc := range []string{"db", "app"} {
		if st := p.state(t, svc); st != "running" {
			t.Errorf("service %s is %s after a fresh-host restore", svc, st)
		}
	}
}

// TestRestoreColdArchive restores an archive of create --stop: the
// database's files are put back raw, with the database stopped.
func TestRestoreColdArchive(t *testing.T) {
	p := newProject(t, postgresProject(t))
	p.up()
	seedPostgres(t, p)
	want := pgState(t, p)
	arch := create(t, p, "--stop")
	change(t, p)
	r := backup(t, p.Dir, nil, "restore", "-p", p.Name, "-y", arch)
	if r.Err != nil {
		t.Fatalf("restore: %s", r)
	}
	if !strings.Contains(r.Stderr, "raw database files") {
		t.Errorf("the plan should say the database volume is restored raw: %s", r.Stderr)
	}
	if got := pgState(t, p); got != want {
		t.Errorf("state after restore differs\nwant:\n%s\ngot:\n%s", want, got)
	}
	for _, svc := range []string{"db", "app"} {
		if st := p.state(t, svc); st != "running" {
			t.Errorf("service %s is %s after the restore", svc, st)
		}
	}
}

// TestRestoreRefusesDamageInEverySection damages an uncompressed archive in
// each of its sections (a dump part, a volume file, the manifest) and cuts
// it at several offsets: every copy is refused by verify and by restore,
// with nothing stopped.
func TestRestoreRefusesDamageInEverySection(t *testing.T) {
	p := newProject(t, postgresProject(t))
	p.up()
	seedPostgres(t, p)
	arch := create(t, p, "--compression", "none")
	data, err := os.ReadFile(arch)
	if err != nil {
		t.Fatal(err)
	}
	// Where each section's data starts in the tar stream.
	offsets := map[string]int64{}
	var pos int64
	counter := &countingReader{r: bytes.NewReader(data)}
	tr := tar.NewReader(counter)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		// archive/tar reads no further than the header: data starts here.
		pos = counter.n
		switch {
		case hdr.Name == archive.ManifestName:
			offsets["manifest"] = pos
		case strings.HasPrefix(hdr.Name, "databases/db/appdb.pgdump.") && offsets["dump"] == 0:
			offsets["dump"] = pos + 100
		case strings.HasSuffix(hdr.Name, "/big.bin"):
			offsets["volume"] = pos + hdr.Size/2
		}
	}
	if len(offsets) != 3 {
		t.Fatalf("sections found: %v", offsets)
	}
	before := startedAt(t, p)
	dir := t.TempDir()
	cases := map[string][]byte{}
	for section, off := range offsets {
		b := append([]byte(nil), data...)
		if section == "manifest" {
			// A digit of a size or a checksum: still valid JSON.
			i := bytes.Index(b[off:], []byte(`"sha256":"`))
			off += int64(i + len(`"sha256":"`))
			if b[off] == 'a' {
				b[off] = 'b'
			} else {
				b[off] = 'a'
			}
		} else {
			b[off] ^= 0x01
		}
		cases["flip-"+section] = b
	}
	for _, frac := range []int{10, 50, 90} {
		cases[fmt.Sprintf("cut-%d", frac)] = data[:len(data)*frac/100]
	}
	cases["cut-last-byte"] = data[:len(data)-1]
	for name, b := range cases {
		path := filepath.Join(dir, name+".tar")
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		if r := backup(t, p.Dir, nil, "verify", path); r.Err == nil {
			t.Errorf("%s: verify passed", name)
		}
		refused(t, p, backup(t, p.Dir, nil, "restore", "-p", p.Name, "-y", path), before, "nothing was changed")
	}
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
