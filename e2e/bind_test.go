//go:build e2e

package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/docker-backup/docker-backup/internal/archive"
)

// filesSeed fills /srv/files with owners other than root, modes, a
// symlink, a file with spaces in its name and old mtimes.
const filesSeed = `set -e
cd /srv/files
mkdir -p "sub dir/deep"
printf 'hello' > "a file with spaces.txt"
head -c 100000 /dev/urandom > "sub dir/deep/blob.bin"
ln -s "a file with spaces.txt" link
chown -R 1000:1001 "sub dir"
chown 1002:1003 "a file with spaces.txt"
chmod 0750 "sub dir"
chmod 0604 "a file with spaces.txt"
touch -h -d '2020-01-02 03:04:05' link "a file with spaces.txt" "sub dir/deep/blob.bin" "sub dir/deep" "sub dir"
`

// filesListing lists /srv/files with type, mode, owners, link target,
// mtime (whole seconds: the helper's tar keeps no more) and the content's
// hash.
const filesListing = `cd /srv/files && find . -printf '%p|%y|%m|%U|%G|%l|%T@|' -exec sh -c 'if [ -f "$1" ] && [ ! -L "$1" ]; then sha256sum < "$1" | cut -d" " -f1; else echo; fi' _ {} \; | sed -E 's/\|([0-9]+)\.[0-9]+\|/|\1|/' | LC_ALL=C sort`

func listFiles(t *testing.T, p *project) string {
	t.Helper()
	r := p.exec("app", "", "bash", "-c", filesListing)
	if r.Err != nil {
		t.Fatalf("listing /srv/files: %s", r)
	}
	return r.Stdout
}

// archivedPaths lists the entries of an extracted archive under volumes/.
func archivedPaths(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	root := filepath.Join(dir, archive.VolumesDir)
	_ = filepath.Walk(root, func(p string, _ os.FileInfo, err error) error {
		if err == nil {
			rel, _ := filepath.Rel(root, p)
			out = append(out, rel)
		}
		return nil
	})
	return out
}

// A MariaDB service whose data folder is a bind mount beside the compose
// file, and an app with a bind-mounted files folder, a config file and the
// docker socket: the files and the config file are archived, not one file
// of the live data folder nor the socket; after the rows change and the
// files are deleted, restore brings both back exactly, and leaves the
// socket, and the engine behind it, alone.
func TestBindMountsMariaDB(t *testing.T) {
	files := mariadbProject(t)
	c := files["compose.yaml"]
	c = strings.Replace(c, "      - dbdata:/var/lib/mysql\n", "      - ./data/db:/var/lib/mysql\n", 1)
	c = strings.Replace(c, "      - appdata:/srv/data\n", "      - ./data/files:/srv/files\n      - ./config/app.conf:/etc/app.conf:ro\n      - /var/run/docker.sock:/var/run/docker.sock\n      - .:/project:ro\n", 1)
	c = strings.Replace(c, "volumes:\n  dbdata:\n  appdata:\n", "", 1)
	files["compose.yaml"] = c
	files["config/app.conf"] = "listen = 8080\n"
	p := newProject(t, files)
	p.up()
	mariadb(t, p, "CREATE TABLE shop.items (id INT PRIMARY KEY, name VARCHAR(50)); INSERT INTO shop.items VALUES (1, 'one'), (2, 'two ✓');")
	if r := p.exec("app", filesSeed, "bash"); r.Err != nil {
		t.Fatalf("seeding the files: %s", r)
	}
	rows, tree := mariaDigest(t, p, "shop.items"), listFiles(t, p)

	r := backup(t, p.Dir, nil, "create", "-p", p.Name, "--include-bind-mounts")
	if r.Err != nil {
		t.Fatalf("create: %s", r)
	}
	archives, _ := filepath.Glob(filepath.Join(p.Dir, "backups", p.Name+"-*.tar.zst"))
	if len(archives) != 1 {
		t.Fatalf("want one archive, found %v", archives)
	}
	dir := extract(t, archives[0])
	m := readManifest(t, dir)
	var filesVol, confVol, projVol *archive.Volume
	for i, v := range m.Volumes {
		switch v.EngineName {
		case filepath.Join(p.Dir, "data/files"):
			filesVol = &m.Volumes[i]
		case filepath.Join(p.Dir, "config/app.conf"):
			confVol = &m.Volumes[i]
		case p.Dir:
			projVol = &m.Volumes[i]
		default:
			t.Errorf("archived %s (%s): only the files folder, the config file and the project folder should be", v.Name, v.EngineName)
		}
	}
	// The project folder, bind-mounted in the app, holds the database's
	// live files and the archives: neither is in it.
	if projVol == nil {
		t.Fatalf("volumes %+v: no project folder", m.Volumes)
	}
	projDir := filepath.Join(dir, archive.VolumesDir, projVol.Name)
	if _, err := os.Stat(filepath.Join(projDir, "compose.yaml")); err != nil {
		t.Errorf("the project folder's tree lacks compose.yaml: %v", err)
	}
	for _, left := range []string{"backups", "data/db"} {
		if _, err := os.Stat(filepath.Join(projDir, left)); err == nil {
			t.Errorf("the project folder's tree holds %s", left)
		}
	}
	if filesVol == nil || confVol == nil {
		t.Fatalf("volumes %+v: want the files folder and the config file", m.Volumes)
	}
	if filesVol.Target != "/srv/files" || confVol.Kind != archive.KindFile || confVol.Entries != 1 {
		t.Errorf("files %+v, config %+v", filesVol, confVol)
	}
	conf, err := os.ReadFile(filepath.Join(dir, archive.VolumesDir, confVol.Name, "app.conf"))
	if err != nil || string(conf) != "listen = 8080\n" {
		t.Errorf("the config file in the archive: %q, %v", conf, err)
	}
	for _, e := range archivedPaths(t, dir) {
		if strings.Contains(e, "ibdata") || strings.Contains(e, "aria_log") || strings.Contains(e, "docker.sock") {
			t.Errorf("archived %s", e)
		}
	}
	out := r.Stdout + r.Stderr
	for _, want := range []string{"bind mount " + filepath.Join(p.Dir, "data/db") + " of database service db holds the server's live files", "/var/run/docker.sock of service app skipped", "\nbind mount " + filepath.Join(p.Dir, "data/files") + ": "} {
		if !strings.Contains(out, want) {
			t.Errorf("create did not say %q:\n%s", want, out)
		}
	}

	// Everything changes.
	mariadb(t, p, "UPDATE shop.items SET name = 'changed'; DELETE FROM shop.items WHERE id = 2; INSERT INTO shop.items VALUES (3, 'new');")
	// The files folder is gone from the host: the restore creates it.
	if err := os.RemoveAll(filepath.Join(p.Dir, "data/files")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(p.Dir, "config/app.conf"), []byte("listen = 9999\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if listFiles(t, p) == tree || mariaDigest(t, p, "shop.items") == rows {
		t.Fatal("the change did not change anything")
	}

	r = backup(t, p.Dir, nil, "restore", "-p", p.Name, "-y", archives[0])
	if r.Err != nil {
		t.Fatalf("restore: %s", r)
	}
	for _, want := range []string{"bind mount: folder " + filepath.Join(p.Dir, "data/files"), "bind mount: file " + filepath.Join(p.Dir, "config/app.conf"), "restoring 2 bind mounts and 1 database service", p.Dir + " is the project folder itself; give --include-bind-mounts", "\nbind mount " + filepath.Join(p.Dir, "config/app.conf") + ": "} {
		if !strings.Contains(r.Stderr, want) {
			t.Errorf("the plan did not say %q:\n%s", want, r.Stderr)
		}
	}
	if got := mariaDigest(t, p, "shop.items"); got != rows {
		t.Errorf("rows after the restore %q, want %q", got, rows)
	}
	if got := listFiles(t, p); got != tree {
		t.Errorf("files after the restore:\n%s\nwant:\n%s", got, tree)
	}
	if b, _ := os.ReadFile(filepath.Join(p.Dir, "config/app.conf")); string(b) != "listen = 8080\n" {
		t.Errorf("config file after the restore: %q", b)
	}
	if fi, err := os.Stat("/var/run/docker.sock"); err != nil || fi.Mode()&os.ModeSocket == 0 {
		t.Errorf("the docker socket after the restore: %v, %v", fi, err)
	}
	if out, err := exec.Command("docker", "version", "--format", "{{.Server.Version}}").CombinedOutput(); err != nil {
		t.Errorf("the engine no longer answers: %v: %s", err, out)
	}
	if r := p.exec("app", "", "test", "-S", "/var/run/docker.sock"); r.Err != nil {
		t.Errorf("the app no longer sees the docker socket: %s", r)
	}

	// A new host: the same compose files in another folder, under another
	// name, never started. The restore creates the project, and its bind
	// mounts land under the new folder; the original's stay as they are.
	mariadb(t, p, "UPDATE shop.items SET name = 'original changed'")
	origRows := mariaDigest(t, p, "shop.items")
	fresh := newProject(t, files)
	r = backup(t, fresh.Dir, nil, "restore", "-p", fresh.Name, "-y", archives[0])
	if r.Err != nil {
		t.Fatalf("restore into a project not created yet: %s", r)
	}
	if got := mariaDigest(t, fresh, "shop.items"); got != rows {
		t.Errorf("rows of the new project %q, want %q", got, rows)
	}
	if got := listFiles(t, fresh); got != tree {
		t.Errorf("files of the new project:\n%s\nwant:\n%s", got, tree)
	}
	if b, _ := os.ReadFile(filepath.Join(fresh.Dir, "config/app.conf")); string(b) != "listen = 8080\n" {
		t.Errorf("config file of the new project: %q", b)
	}
	if got := mariaDigest(t, p, "shop.items"); got != origRows {
		t.Errorf("the original's rows changed: %q, want %q", got, origRows)
	}
	if got := listFiles(t, p); got != tree {
		t.Errorf("the original's files changed:\n%s", got)
	}
}

// The same with PostgreSQL, whose data folder is a bind mount: a restore
// whose before-start hook fails rolls the bind-mounted files back to
// exactly what they held; the next one brings back the archive's.
func TestBindMountsPostgresRollback(t *testing.T) {
	files := postgresProject(t)
	c := files["compose.yaml"]
	c = strings.Replace(c, "      - dbdata:/var/lib/postgresql/data\n", "      - ./pgdata:/var/lib/postgresql/data\n    x-backup:\n      restore-hooks:\n        before-start:\n          - test -e /tmp/hook-failed || { touch /tmp/hook-failed; echo migration failed >&2; exit 3; }\n", 1)
	c = strings.Replace(c, "      - appdata:/srv/data\n", "      - ./files:/srv/files\n", 1)
	c = strings.Replace(c, "volumes:\n  dbdata:\n  appdata:\n", "", 1)
	files["compose.yaml"] = c
	p := newProject(t, files)
	p.up()
	psql(t, p, "appdb", "CREATE TABLE notes (id int PRIMARY KEY, body text); INSERT INTO notes VALUES (1, 'first'), (2, 'second');")
	if r := p.exec("app", filesSeed, "bash"); r.Err != nil {
		t.Fatalf("seeding the files: %s", r)
	}
	rows, tree := tableDigest(t, p, "appdb", "notes"), listFiles(t, p)
	arch := filepath.Join(t.TempDir(), "pg.tar.zst")
	if r := backup(t, p.Dir, nil, "create", "-p", p.Name, "--include-bind-mounts", "-o", arch); r.Err != nil {
		t.Fatalf("create: %s", r)
	}
	dir := extract(t, arch)
	m := readManifest(t, dir)
	if len(m.Volumes) != 1 || m.Volumes[0].EngineName != filepath.Join(p.Dir, "files") {
		t.Errorf("volumes %+v: want the files folder only", m.Volumes)
	}
	for _, e := range archivedPaths(t, dir) {
		if strings.Contains(e, "PG_VERSION") || strings.Contains(e, "pg_wal") {
			t.Errorf("archived %s, a file of the live data folder", e)
		}
	}

	psql(t, p, "appdb", "DELETE FROM notes WHERE id = 1; INSERT INTO notes VALUES (3, 'third');")
	if r := p.exec("app", "", "bash", "-c", "rm -rf '/srv/files/sub dir' && echo changed > '/srv/files/a file with spaces.txt' && mkdir /srv/files/new && echo x > /srv/files/new/f"); r.Err != nil {
		t.Fatalf("changing the files: %s", r)
	}
	changedRows, changedTree := tableDigest(t, p, "appdb", "notes"), listFiles(t, p)

	r := backup(t, p.Dir, nil, "restore", "-p", p.Name, "-y", "--safety-dir", t.TempDir(), arch)
	if r.Err == nil || !strings.Contains(r.Stderr, "rolled back") {
		t.Fatalf("want a restore rolled back by its failing hook: %s", r)
	}
	if got := listFiles(t, p); got != changedTree {
		t.Errorf("files after the rollback:\n%s\nwant what they held before it:\n%s", got, changedTree)
	}
	if got := tableDigest(t, p, "appdb", "notes"); got != changedRows {
		t.Errorf("rows after the rollback %q, want %q", got, changedRows)
	}
	if leftovers, _ := filepath.Glob(filepath.Join(p.Dir, "files", ".docker-backup-replaced-*")); len(leftovers) > 0 {
		t.Errorf("the rollback left %v", leftovers)
	}

	r = backup(t, p.Dir, nil, "restore", "-p", p.Name, "-y", "--no-safety-backup", arch)
	if r.Err != nil {
		t.Fatalf("restore: %s", r)
	}
	if got := listFiles(t, p); got != tree {
		t.Errorf("files after the restore:\n%s\nwant:\n%s", got, tree)
	}
	if got := tableDigest(t, p, "appdb", "notes"); got != rows {
		t.Errorf("rows after the restore %q, want %q", got, rows)
	}
}

// A MariaDB service whose root password is random: the application's
// user is the only one known. Create works; restore brings the dropped
// table back and says that users and grants were left alone.
func TestRestoreWithAppUserOnly(t *testing.T) {
	c := strings.Replace(mariadbCompose, "      MYSQL_ROOT_PASSWORD_FILE: /run/secrets/db_root_password\n", "      MYSQL_RANDOM_ROOT_PASSWORD: \"yes\"\n", 1)
	c = strings.Replace(c, "    secrets: [db_root_password, db_password]\n", "    secrets: [db_password]\n", 1)
	c = strings.Replace(c, "  db_root_password:\n    file: ./db_root_password.txt\n", "", 1)
	p := newProject(t, map[string]string{"compose.yaml": c, "db_password.txt": mariaPassword + "\n"})
	p.up()
	shop := func(sql string) string {
		t.Helper()
		r := p.exec("db", sql, "env", "MYSQL_PWD="+mariaPassword, "mariadb", "-ushop", "--batch", "--skip-column-names", "shop")
		if r.Err != nil {
			t.Fatalf("mariadb as shop: %s", r)
		}
		return strings.TrimSpace(r.Stdout)
	}
	shop("CREATE TABLE orders (id INT PRIMARY KEY, total DECIMAL(8,2)); INSERT INTO orders VALUES (1, 9.99), (2, 20.00); CREATE VIEW big_orders AS SELECT * FROM orders WHERE total > 10;")
	want := shop("CHECKSUM TABLE orders EXTENDED; SELECT COUNT(*) FROM big_orders;")
	arch := filepath.Join(t.TempDir(), "shop.tar.zst")
	if r := backup(t, p.Dir, nil, "create", "-p", p.Name, "-o", arch); r.Err != nil {
		t.Fatalf("create: %s", r)
	}
	shop("DROP VIEW big_orders; DROP TABLE orders;")
	r := backup(t, p.Dir, nil, "restore", "-p", p.Name, "-y", "--safety-dir", t.TempDir(), arch)
	if r.Err != nil {
		t.Fatalf("restore: %s", r)
	}
	if !strings.Contains(r.Stderr, "users and grants are left alone") {
		t.Errorf("the plan did not say that users and grants were left alone:\n%s", r.Stderr)
	}
	if got := shop("CHECKSUM TABLE orders EXTENDED; SELECT COUNT(*) FROM big_orders;"); got != want {
		t.Errorf("after the restore %q, want %q", got, want)
	}
	if strings.Contains(r.Stdout+r.Stderr, mariaPassword) {
		t.Error("the password appears in the output")
	}
}

// The same with PostgreSQL when the only credentials named are those of a
// user that is not a superuser but owns its database: that database comes
// back, the roles are left alone, and the plan says so.
func TestRestorePostgresAsDatabaseOwner(t *testing.T) {
	files := postgresProject(t)
	c := files["compose.yaml"]
	c = strings.Replace(c, "      POSTGRES_DB: appdb\n", "      POSTGRES_DB: appdb\n      OWNER_USER: owner\n      OWNER_PASSWORD: owner-pw\n", 1)
	c = strings.Replace(c, "      - dbdata:/var/lib/postgresql/data\n", "      - dbdata:/var/lib/postgresql/data\n      - ./init:/docker-entrypoint-initdb.d:ro\n    x-backup:\n      user-env: OWNER_USER\n      password-env: OWNER_PASSWORD\n", 1)
	files["compose.yaml"] = c
	files["init/01-owner.sql"] = "CREATE ROLE owner LOGIN CREATEDB PASSWORD 'owner-pw';\nCREATE DATABASE ownerdb OWNER owner;\n"
	p := newProject(t, files)
	p.up()
	owner := func(sql string) string {
		t.Helper()
		r := p.exec("db", sql, "psql", "-X", "-v", "ON_ERROR_STOP=1", "-q", "-A", "-t", "-U", "owner", "-d", "ownerdb")
		if r.Err != nil {
			t.Fatalf("psql as owner: %s", r)
		}
		return strings.TrimSpace(r.Stdout)
	}
	owner("CREATE TABLE items (id int PRIMARY KEY, name text); INSERT INTO items VALUES (1, 'one'), (2, 'two'); CREATE VIEW named AS SELECT name FROM items;")
	want := owner("SELECT string_agg(name, ',' ORDER BY name) FROM named")
	arch := filepath.Join(t.TempDir(), "owner.tar.zst")
	r := backup(t, p.Dir, nil, "create", "-p", p.Name, "-o", arch)
	if r.Err != nil {
		t.Fatalf("create: %s", r)
	}
	m := readManifest(t, extract(t, arch))
	if len(m.Databases) != 1 || len(m.Databases[0].Dumps) != 1 || m.Databases[0].Dumps[0].Database != "ownerdb" {
		t.Fatalf("databases %+v: want ownerdb alone", m.Databases)
	}
	owner("DROP VIEW named; DELETE FROM items WHERE id = 1;")
	r = backup(t, p.Dir, nil, "restore", "-p", p.Name, "-y", "--safety-dir", t.TempDir(), arch)
	if r.Err != nil {
		t.Fatalf("restore: %s", r)
	}
	if !strings.Contains(r.Stderr, "restored as user owner, which may not manage accounts") {
		t.Errorf("the plan did not say that the roles were left alone:\n%s", r.Stderr)
	}
	if got := owner("SELECT string_agg(name, ',' ORDER BY name) FROM named"); got != want {
		t.Errorf("after the restore %q, want %q", got, want)
	}
}
