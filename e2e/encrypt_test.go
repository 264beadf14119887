//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"
)

// TestEncryptedRoundTrip backs up to an age key and to a passphrase, and
// reads the archives back with inspect, verify, decrypt and restore; a
// wrong key or passphrase is refused with nothing changed.
func TestEncryptedRoundTrip(t *testing.T) {
	p := newProject(t, postgresProject(t))
	p.up()
	seedPostgres(t, p)
	want := pgState(t, p)
	dir := t.TempDir()
	id, _ := age.GenerateX25519Identity()
	other, _ := age.GenerateX25519Identity()
	key := filepath.Join(dir, "key.txt")
	wrongKey := filepath.Join(dir, "wrong.txt")
	pass := filepath.Join(dir, "pass")
	wrongPass := filepath.Join(dir, "wrong-pass")
	os.WriteFile(key, []byte(id.String()+"\n"), 0o600)
	os.WriteFile(wrongKey, []byte(other.String()+"\n"), 0o600)
	os.WriteFile(pass, []byte("a long passphrase for backups\n"), 0o600)
	os.WriteFile(wrongPass, []byte("not it\n"), 0o600)

	r := backup(t, p.Dir, nil, "create", "-q", "-p", p.Name, "-o", dir+"/", "--encrypt-to", id.Recipient().String())
	if r.Err != nil {
		t.Fatalf("create --encrypt-to: %s", r)
	}
	keyed, _ := filepath.Glob(filepath.Join(dir, p.Name+"-*.tar.zst.age"))
	if len(keyed) != 1 {
		t.Fatalf("want one .tar.zst.age archive, got %v", keyed)
	}
	raw, _ := os.ReadFile(keyed[0])
	if !strings.HasPrefix(string(raw), "age-encryption.org/v1\n") || strings.Contains(string(raw), "appdb") {
		t.Errorf("the archive is not an age file, or holds plaintext")
	}
	passArch := filepath.Join(dir, "pass.tar.zst.age")
	if r := backup(t, p.Dir, nil, "create", "-q", "-p", p.Name, "-o", passArch, "--passphrase-file", pass); r.Err != nil {
		t.Fatalf("create --passphrase-file: %s", r)
	}

	// Reading needs the key.
	if r := backup(t, p.Dir, nil, "inspect", keyed[0]); r.Err == nil || !strings.Contains(r.Stderr, "--identity") {
		t.Errorf("inspect without a key: %s", r)
	}
	if r := backup(t, p.Dir, nil, "inspect", "-i", key, keyed[0]); r.Err != nil || !strings.Contains(r.Stdout, "Encryption:      age") {
		t.Errorf("inspect: %s", r)
	}
	if r := backup(t, p.Dir, nil, "verify", "--passphrase-file", pass, passArch); r.Err != nil {
		t.Errorf("verify: %s", r)
	}
	// verify --deep restores every database into a throwaway server and
	// counts what came back.
	r = backup(t, p.Dir, nil, "verify", "--deep", "--json", "-i", key, keyed[0])
	if r.Err != nil {
		t.Fatalf("verify --deep: %s", r)
	}
	var deep []struct {
		Service, Database string
		OK                bool
		Rows              int64
		Tables            []struct {
			Table string
			Rows  int64
		}
	}
	if err := json.Unmarshal([]byte(r.Stdout), &deep); err != nil {
		t.Fatalf("verify --deep --json: %v\n%s", err, r)
	}
	counts := map[string]int64{}
	for _, d := range deep {
		if !d.OK {
			t.Errorf("%s/%s did not restore", d.Service, d.Database)
		}
		for _, tb := range d.Tables {
			counts[d.Database+"."+tb.Table] = tb.Rows
		}
	}
	for table, n := range map[string]int64{"appdb.public.users": 3000, "appdb.billing.invoices": 1000, "appdb.public.sessions": 500, "appdb.public.tokens": 100, "analytics.public.events": 2000} {
		if counts[table] != n {
			t.Errorf("verify --deep counted %d rows in %s, want %d (all: %v)", counts[table], table, n, counts)
		}
	}
	if left := run(context.Background(), p.Dir, nil, "docker", "ps", "-aq", "--filter", "label=org.docker-backup.helper"); left.Stdout != "" {
		t.Errorf("verify --deep left containers: %s", left.Stdout)
	}
	if left := run(context.Background(), p.Dir, nil, "docker", "volume", "ls", "-q", "--filter", "label=org.docker-backup.helper"); left.Stdout != "" {
		t.Errorf("verify --deep left volumes: %s", left.Stdout)
	}
	// decrypt gives a plain archive that plain tools read.
	plain := filepath.Join(dir, "plain.tar.zst")
	if r := backup(t, p.Dir, nil, "decrypt", "-i", key, "-o", plain, keyed[0]); r.Err != nil {
		t.Fatalf("decrypt: %s", r)
	}
	if out, err := exec.Command("sh", "-c", "zstd -dc < '"+plain+"' | tar -t").CombinedOutput(); err != nil || !strings.Contains(string(out), "manifest.json") {
		t.Errorf("tar -t of the decrypted archive: %v\n%s", err, out)
	}

	// Wrong key, wrong passphrase: refused, nothing stopped.
	change(t, p)
	before := startedAt(t, p)
	refused(t, p, backup(t, p.Dir, nil, "restore", "-p", p.Name, "-y", "-i", wrongKey, keyed[0]), before, "does not open the archive")
	refused(t, p, backup(t, p.Dir, nil, "restore", "-p", p.Name, "-y", "--passphrase-file", wrongPass, passArch), before, "does not open the archive")
	refused(t, p, backup(t, p.Dir, nil, "restore", "-p", p.Name, "-y", keyed[0]), before, "encrypted")

	// The right key restores.
	if r := backup(t, p.Dir, nil, "restore", "-p", p.Name, "-y", "-i", key, keyed[0]); r.Err != nil {
		t.Fatalf("restore: %s", r)
	}
	if got := pgState(t, p); got != want {
		t.Errorf("state after an encrypted restore differs\nwant:\n%s\ngot:\n%s", want, got)
	}
	change(t, p)
	if r := backup(t, p.Dir, nil, "restore", "-p", p.Name, "-y", "--no-safety-backup", "--passphrase-file", pass, passArch); r.Err != nil {
		t.Fatalf("restore with a passphrase: %s", r)
	}
	if got := pgState(t, p); got != want {
		t.Errorf("state after a passphrase restore differs")
	}
}
