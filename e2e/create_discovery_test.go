//go:build e2e

package e2e

import (
	"io"
	"path/filepath"
	"strings"
	"testing"
)

// TestCreateFromLabelsAlone backs up a running project from a folder without
// its compose file: the project is found by its containers' labels.
func TestCreateFromLabelsAlone(t *testing.T) {
	p := newProject(t, mariadbProject(t))
	p.up()
	mariadb(t, p, "CREATE TABLE shop.t (id INT PRIMARY KEY); INSERT INTO shop.t VALUES (7);")
	if r := p.exec("app", "echo labelled > /srv/data/f", "bash"); r.Err != nil {
		t.Fatal(r)
	}
	elsewhere := t.TempDir()
	out := filepath.Join(t.TempDir(), "labels.tar.zst")
	r := backup(t, elsewhere, nil, "create", "-p", p.Name, "-o", out)
	if r.Err != nil {
		t.Fatalf("create -p without a compose file: %s", r)
	}
	dir := extract(t, out)
	m := readManifest(t, dir)
	if len(m.Databases) != 1 || m.Databases[0].Service != "db" {
		t.Errorf("databases: %+v", m.Databases)
	}
	var vols []string
	for _, v := range m.Volumes {
		vols = append(vols, v.EngineName)
	}
	if len(vols) != 1 || vols[0] != p.Name+"_appdata" {
		t.Errorf("volumes %v, want only %s_appdata (the database's is covered by its dump)", vols, p.Name)
	}
	// The compose file is not at hand: only the model from the labels.
	joined := joinParts(t, filepath.Join(dir, "databases", "db"), "shop.sql")
	var b strings.Builder
	if _, err := io.Copy(&b, joined); err != nil || !strings.Contains(b.String(), "INSERT INTO `t` VALUES") || !strings.Contains(b.String(), "(7)") {
		t.Errorf("shop.sql lacks the row: %v", err)
	}
}

// TestCreateHonoursXBackup checks the compose file's x-backup blocks.
func TestCreateHonoursXBackup(t *testing.T) {
	files := mariadbProject(t)
	files["compose.yaml"] = strings.Replace(files["compose.yaml"], `      - dbdata:/var/lib/mysql
`, `      - dbdata:/var/lib/mysql
    x-backup:
      exclude-table: ["shop.secret_*"]
      exclude-table-data: ["*.cache"]
`, 1)
	files["compose.yaml"] = strings.Replace(files["compose.yaml"], `    volumes:
      - appdata:/srv/data
`, `    volumes:
      - appdata:/srv/data
    x-backup:
      skip: true
`, 1)
	p := newProject(t, files)
	p.up()
	mariadb(t, p, `CREATE TABLE shop.secret_keys (k TEXT); INSERT INTO shop.secret_keys VALUES ('s');
CREATE TABLE shop.cache (k TEXT); INSERT INTO shop.cache VALUES ('c');
CREATE TABLE shop.orders (id INT); INSERT INTO shop.orders VALUES (1);`)
	out := filepath.Join(t.TempDir(), "x.tar.zst")
	r := backup(t, p.Dir, nil, "create", "-p", p.Name, "-o", out)
	if r.Err != nil {
		t.Fatalf("create: %s", r)
	}
	if !strings.Contains(r.Stderr, "service app skipped") {
		t.Errorf("no note that app was skipped: %s", r.Stderr)
	}
	dir := extract(t, out)
	m := readManifest(t, dir)
	if len(m.Volumes) != 0 {
		t.Errorf("app's volume archived although app is skipped: %+v", m.Volumes)
	}
	var b strings.Builder
	if _, err := io.Copy(&b, joinParts(t, filepath.Join(dir, "databases", "db"), "shop.sql")); err != nil {
		t.Fatal(err)
	}
	dump := b.String()
	for _, c := range []struct {
		what string
		want bool
	}{
		{"CREATE TABLE `orders`", true},
		{"INSERT INTO `orders`", true},
		{"CREATE TABLE `cache`", true},
		{"INSERT INTO `cache`", false},
		{"secret_keys", false},
	} {
		if strings.Contains(dump, c.what) != c.want {
			t.Errorf("dump contains %q: %v, want %v", c.what, !c.want, c.want)
		}
	}
	if got := m.Databases[0].ExcludeTables; len(got) != 1 || got[0] != "shop.secret_*" {
		t.Errorf("manifest excludeTables = %v", got)
	}
}
