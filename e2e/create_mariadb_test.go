//go:build e2e

package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const mariaSeed = `
CREATE TABLE shop.products (id INT PRIMARY KEY, name VARCHAR(100) CHARACTER SET utf8mb4, photo BLOB, price DECIMAL(10,2), added DATETIME) ENGINE=InnoDB;
INSERT INTO shop.products VALUES (1, 'Grüße ✓ 日本語', UNHEX('00FF00DEADBEEF'), 9.99, '2026-01-02 03:04:05'), (2, 'plain', NULL, 1.00, '2026-01-02 03:04:05'), (3, 'quote '' and \\ backslash', UNHEX('00'), 0.01, NULL);
CREATE TABLE shop.sessions (id INT PRIMARY KEY, data TEXT) ENGINE=InnoDB;
INSERT INTO shop.sessions VALUES (1, 'a'), (2, 'b');
CREATE TABLE shop.action_log (id INT PRIMARY KEY, msg TEXT) ENGINE=InnoDB;
INSERT INTO shop.action_log VALUES (1, 'x');
CREATE DATABASE crm;
CREATE TABLE crm.contacts (id INT AUTO_INCREMENT PRIMARY KEY, email VARCHAR(200)) ENGINE=InnoDB;
INSERT INTO crm.contacts (email) VALUES ('a@example.test'), ('b@example.test');
CREATE VIEW crm.contact_count AS SELECT COUNT(*) AS n FROM crm.contacts;
CREATE PROCEDURE crm.touch() SELECT 1;
CREATE TRIGGER crm.lower_email BEFORE INSERT ON crm.contacts FOR EACH ROW SET NEW.email = LOWER(NEW.email);
CREATE USER 'reporter'@'%' IDENTIFIED BY 'reporter-pw';
GRANT SELECT ON crm.* TO 'reporter'@'%';
`

func mariadb(t *testing.T, p *project, sql string) string {
	t.Helper()
	r := p.exec("db", sql, "env", "MYSQL_PWD="+mariaRootPassword, "mariadb", "-uroot", "--batch", "--skip-column-names")
	if r.Err != nil {
		t.Fatalf("mariadb: %s", r)
	}
	return strings.TrimSpace(r.Stdout)
}

func mariaDigest(t *testing.T, p *project, table string) string {
	return mariadb(t, p, "CHECKSUM TABLE "+table+" EXTENDED; SELECT COUNT(*) FROM "+table+";")
}

func TestCreateMariaDB(t *testing.T) {
	src := newProject(t, mariadbProject(t))
	src.up()
	mariadb(t, src, mariaSeed)
	if r := src.exec("app", volumeSeed, "bash"); r.Err != nil {
		t.Fatalf("seeding the volume: %s", r)
	}
	// Run from the project's folder, with the default destination.
	r := backup(t, src.Dir, nil, "create", "-p", src.Name,
		"--exclude-table", "shop.action_log", "--exclude-table-data", "shop.sess*")
	if r.Err != nil {
		t.Fatalf("create: %s", r)
	}
	archives, _ := filepath.Glob(filepath.Join(src.Dir, "backups", src.Name+"-*.tar.zst"))
	if len(archives) != 1 {
		t.Fatalf("want one archive in ./backups, found %v\n%s", archives, r)
	}
	if strings.Contains(r.Stdout+r.Stderr, mariaRootPassword) || strings.Contains(r.Stdout+r.Stderr, mariaPassword) {
		t.Errorf("a password appears in the output")
	}
	dir := extract(t, archives[0])
	m := readManifest(t, dir)
	if len(m.Databases) != 1 || m.Databases[0].Flavor != "MariaDB" || !strings.HasPrefix(m.Databases[0].Version, "10.11") {
		t.Fatalf("manifest databases: %+v", m.Databases)
	}

	// Restore by hand into a fresh server: users first, then each database.
	dst := newProject(t, mariadbProject(t))
	dst.up()
	dbDir := filepath.Join(dir, "databases", "db")
	load := func(name string) {
		t.Helper()
		if r := dst.execReader("db", joinParts(t, dbDir, name), "env", "MYSQL_PWD="+mariaRootPassword, "mariadb", "-uroot", "--binary-mode"); r.Err != nil {
			t.Fatalf("loading %s: %s", name, r)
		}
	}
	load("users.sql")
	mariadb(t, dst, "DROP DATABASE shop; FLUSH PRIVILEGES;")
	load("shop.sql")
	load("crm.sql")
	for _, table := range []string{"shop.products", "crm.contacts"} {
		if a, b := mariaDigest(t, src, table), mariaDigest(t, dst, table); a != b {
			t.Errorf("%s differs after restore: %q vs %q", table, a, b)
		}
	}
	if n := mariadb(t, dst, "SELECT COUNT(*) FROM shop.sessions"); n != "0" {
		t.Errorf("shop.sessions has %s rows; its data was excluded", n)
	}
	if n := mariadb(t, dst, "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema='shop' AND table_name='action_log'"); n != "0" {
		t.Errorf("shop.action_log was excluded but exists")
	}
	if n := mariadb(t, dst, "SELECT n FROM crm.contact_count"); n != "2" {
		t.Errorf("view crm.contact_count: %q", n)
	}
	if n := mariadb(t, dst, "SELECT COUNT(*) FROM information_schema.routines WHERE routine_schema='crm'"); n != "1" {
		t.Errorf("procedure crm.touch missing: %q", n)
	}
	if n := mariadb(t, dst, "SELECT COUNT(*) FROM information_schema.triggers WHERE trigger_schema='crm'"); n != "1" {
		t.Errorf("trigger crm.lower_email missing: %q", n)
	}
	// The accounts came back with their passwords and grants.
	if r := dst.exec("db", "", "env", "MYSQL_PWD=reporter-pw", "mariadb", "-ureporter", "-N", "-e", "SELECT COUNT(*) FROM crm.contacts"); r.Err != nil || strings.TrimSpace(r.Stdout) != "2" {
		t.Errorf("reporter cannot read crm after restore: %s", r)
	}
	if r := dst.exec("db", "", "env", "MYSQL_PWD="+mariaPassword, "mariadb", "-ushop", "-N", "-e", "SELECT COUNT(*) FROM shop.products"); r.Err != nil || strings.TrimSpace(r.Stdout) != "3" {
		t.Errorf("the app's account does not work after restore: %s", r)
	}

	want := listTree(t, src, "app", "/srv/data")
	if got := listHostTree(t, filepath.Join(dir, "volumes", "appdata")); want != got {
		t.Errorf("volume tree differs\nin the container:\n%s\nin the archive:\n%s", want, got)
	}
}

func TestCreateFailsCleanly(t *testing.T) {
	p := newProject(t, mariadbProject(t))
	p.up()
	out := filepath.Join(t.TempDir(), "out")
	if err := os.Mkdir(out, 0o700); err != nil {
		t.Fatal(err)
	}

	t.Run("wrong password", func(t *testing.T) {
		// The server's root password no longer matches the secret.
		mariadb(t, p, "ALTER USER 'root'@'localhost' IDENTIFIED BY 'changed-pw'; ALTER USER 'root'@'%' IDENTIFIED BY 'changed-pw';")
		defer p.exec("db", "", "env", "MYSQL_PWD=changed-pw", "mariadb", "-uroot", "-e",
			"ALTER USER 'root'@'localhost' IDENTIFIED BY '"+strings.ReplaceAll(mariaRootPassword, "'", "''")+"'; ALTER USER 'root'@'%' IDENTIFIED BY '"+strings.ReplaceAll(mariaRootPassword, "'", "''")+"';")
		r := backup(t, p.Dir, nil, "create", "-p", p.Name, "-o", out+"/")
		if r.Err == nil {
			t.Fatalf("create succeeded with a wrong password: %s", r)
		}
		if !strings.Contains(r.Stderr, "Access denied") || !strings.Contains(r.Stderr, "service db") {
			t.Errorf("the error should name the service and the server's reason: %s", r)
		}
		if strings.Contains(r.Stderr, mariaRootPassword) || strings.Contains(r.Stderr, "changed-pw") {
			t.Errorf("a password appears in the error: %s", r.Stderr)
		}
		noArchives(t, out)
	})

	t.Run("database stopped", func(t *testing.T) {
		if r := p.compose(t.Context(), "stop", "db"); r.Err != nil {
			t.Fatal(r)
		}
		defer p.up()
		r := backup(t, p.Dir, nil, "create", "-p", p.Name, "-o", out+"/")
		if r.Err == nil || !strings.Contains(r.Stderr, "docker compose up -d db") {
			t.Fatalf("want an error telling how to start db: %s", r)
		}
		noArchives(t, out)
	})

	t.Run("unknown service", func(t *testing.T) {
		r := backup(t, p.Dir, nil, "create", "-p", p.Name, "-o", out+"/", "nosuch")
		if r.Err == nil || !strings.Contains(r.Stderr, `"nosuch"`) {
			t.Fatalf("want an error naming the service: %s", r)
		}
		noArchives(t, out)
	})

	t.Run("no project", func(t *testing.T) {
		r := backup(t, t.TempDir(), nil, "create")
		if r.Err == nil || !strings.Contains(r.Stderr, "no compose file") {
			t.Fatalf("want a no-compose-file error: %s", r)
		}
	})

	t.Run("disk full", func(t *testing.T) {
		// The volume's 30 MB of random data cannot fit in 2 MB.
		if r := p.exec("app", "head -c 30000000 /dev/urandom > /srv/data/big.bin", "bash"); r.Err != nil {
			t.Fatal(r)
		}
		small := t.TempDir()
		if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", small).CombinedOutput(); err != nil {
			t.Fatalf("mounting a small tmpfs (needs root): %v: %s", err, out)
		}
		defer exec.Command("umount", small).Run()
		r := backup(t, p.Dir, nil, "create", "-p", p.Name, "-o", small+"/")
		if r.Err == nil || !strings.Contains(r.Stderr, "no space left on device") {
			t.Fatalf("want a disk-full error: %s", r)
		}
		noArchives(t, small)
	})

	t.Run("unwritable destination", func(t *testing.T) {
		r := backup(t, p.Dir, nil, "create", "-p", p.Name, "-o", "/proc/nope/x.tar.zst")
		if r.Err == nil || !strings.Contains(r.Stderr, "/proc/nope") {
			t.Fatalf("want an error naming the destination: %s", r)
		}
	})
}
