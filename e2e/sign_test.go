//go:build e2e

package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/docker-backup/docker-backup/internal/archive"
	"github.com/docker-backup/docker-backup/internal/storage"
	"github.com/docker-backup/docker-backup/internal/storage/storagetest"
)

// sshKey makes an ed25519 key with the real ssh-keygen, as a user would:
// the private key file, its .pub and its fingerprint.
func sshKey(t *testing.T, dir, name string) (priv, pub, fingerprint string) {
	t.Helper()
	priv = filepath.Join(dir, name)
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name+"@e2e", "-f", priv).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen (install openssh-client): %v\n%s", err, out)
	}
	out, err := exec.Command("ssh-keygen", "-l", "-f", priv+".pub").Output()
	if err != nil {
		t.Fatal(err)
	}
	return priv, priv + ".pub", strings.Fields(string(out))[1]
}

// TestSignedArchives: create --sign puts a signature beside the archive
// that ssh-keygen -Y verify accepts as the README tells; verify and
// restore --trust accept it, and refuse, with nothing changed, an
// unsigned archive, one signed by another key and one whose manifest was
// changed.
func TestSignedArchives(t *testing.T) {
	p := newProject(t, postgresProject(t))
	p.up()
	seedPostgres(t, p)
	want := pgState(t, p)
	keys := t.TempDir()
	key, pub, fp := sshKey(t, keys, "backup")
	otherKey, _, _ := sshKey(t, keys, "other")
	out := t.TempDir()

	r := backup(t, p.Dir, nil, "create", "-p", p.Name, "-o", out+"/", "--sign", key)
	if r.Err != nil {
		t.Fatalf("create --sign: %s", r)
	}
	archives, _ := filepath.Glob(filepath.Join(out, p.Name+"-*.tar.zst"))
	if len(archives) != 1 {
		t.Fatalf("want one archive, got %v", archives)
	}
	arch := archives[0]
	if !strings.Contains(r.Stderr, "signed by "+fp+": "+arch+".sig") {
		t.Errorf("create does not say it signed: %s", r.Stderr)
	}
	sig, err := os.ReadFile(arch + ".sig")
	if err != nil || !strings.HasPrefix(string(sig), "-----BEGIN SSH SIGNATURE-----\n") {
		t.Fatalf("no signature beside the archive: %v %q", err, sig)
	}
	ix, err := storage.ReadIndex(t.Context(), storage.NewLocal(out), filepath.Base(arch))
	if err != nil || ix.Signature != string(sig) {
		t.Fatalf("the index does not hold the signature: %v", err)
	}

	// By hand, as the README says.
	pubKey, _ := os.ReadFile(pub)
	signers := filepath.Join(keys, "allowed_signers")
	os.WriteFile(signers, []byte("backup "+string(pubKey)), 0o600)
	check := "zstd -dc '" + arch + "' | tar -xO manifest.json | ssh-keygen -Y verify -f '" + signers + "' -I backup -n docker-backup -s '" + arch + ".sig'"
	if out, err := exec.Command("sh", "-c", check).CombinedOutput(); err != nil || !strings.Contains(string(out), `Good "docker-backup" signature for backup`) {
		t.Fatalf("ssh-keygen -Y verify: %v\n%s", err, out)
	}

	if r := backup(t, p.Dir, nil, "verify", "--trust", pub, arch); r.Err != nil || !strings.Contains(r.Stderr, "signed by "+fp+" (backup@e2e), a trusted key") {
		t.Errorf("verify --trust: %s", r)
	}
	// The allowed_signers file is a trust list too.
	r = backup(t, p.Dir, nil, "verify", "--json", "--trust", signers, arch)
	var v struct {
		Project   string
		Signature struct {
			Signed, Trusted bool
			Key, Name       string
		}
	}
	if err := json.Unmarshal([]byte(r.Stdout), &v); r.Err != nil || err != nil || !v.Signature.Trusted || v.Signature.Key != fp || v.Signature.Name != "backup@e2e" || v.Project != p.Name {
		t.Errorf("verify --json --trust: %v %+v %s", err, v, r)
	}
	if r := backup(t, p.Dir, nil, "verify", arch); r.Err != nil || !strings.Contains(r.Stderr, "not checked against a trust list") {
		t.Errorf("verify without --trust of a signed archive: %s", r)
	}
	if r := backup(t, p.Dir, nil, "inspect", arch); r.Err != nil || !strings.Contains(r.Stdout, "by key "+fp) {
		t.Errorf("inspect: %s", r)
	}

	// Refused, nothing changed: unsigned, another key, a changed manifest.
	unsigned := filepath.Join(t.TempDir(), "unsigned.tar.zst")
	if r := backup(t, p.Dir, nil, "create", "-q", "-p", p.Name, "-o", unsigned); r.Err != nil {
		t.Fatalf("create: %s", r)
	}
	foreign := filepath.Join(t.TempDir(), "other.tar.zst")
	if r := backup(t, p.Dir, nil, "create", "-q", "-p", p.Name, "-o", foreign, "--sign", otherKey); r.Err != nil {
		t.Fatalf("create --sign: %s", r)
	}
	// The manifest changed and the archive rebuilt around it: whole, but
	// not what was signed.
	tampered := rewriteManifest(t, arch, func(m *archive.Manifest) { m.Notes = append(m.Notes, "nothing to see here") })
	if r := backup(t, p.Dir, nil, "verify", tampered); r.Err != nil {
		t.Fatalf("the tampered copy must verify but for its signature: %s", r)
	}
	if err := os.WriteFile(tampered+".sig", sig, 0o600); err != nil {
		t.Fatal(err)
	}
	// Without a trust list too, a signature that comes with it is checked.
	if r := backup(t, p.Dir, nil, "verify", tampered); r.Err == nil || !strings.Contains(r.Stderr, "does not match") {
		t.Errorf("verify of a tampered signed archive without --trust: %s", r)
	}
	change(t, p)
	before := startedAt(t, p)
	for _, c := range []struct {
		name, path, msg string
	}{
		{"unsigned", unsigned, "the archive is not signed"},
		{"another key", foreign, "signed by a key that is not trusted"},
		{"tampered", tampered, "does not match the archive's manifest"},
	} {
		if r := backup(t, p.Dir, nil, "verify", "--trust", pub, c.path); r.Err == nil || !strings.Contains(r.Stderr, c.msg) {
			t.Errorf("%s: verify --trust: %s", c.name, r)
		}
		refused(t, p, backup(t, p.Dir, nil, "restore", "-p", p.Name, "-y", "--trust", pub, c.path), before, c.msg)
	}
	// BACKUP_TRUST_FILE is --trust.
	refused(t, p, backup(t, p.Dir, []string{"BACKUP_TRUST_FILE=" + pub}, "restore", "-p", p.Name, "-y", unsigned), before, "the archive is not signed")

	// The signed archive restores, and the plan says by whom.
	r = backup(t, p.Dir, nil, "restore", "-p", p.Name, "-y", "--no-safety-backup", "--trust", pub, arch)
	if r.Err != nil {
		t.Fatalf("restore --trust: %s", r)
	}
	if !strings.Contains(r.Stderr, "signature:  signed by "+fp+" (backup@e2e), a trusted key") {
		t.Errorf("the plan does not show the signature: %s", r.Stderr)
	}
	if got := pgState(t, p); got != want {
		t.Errorf("state after restore --trust differs\nwant:\n%s\ngot:\n%s", want, got)
	}
}

// TestSignedArchivesInS3: the signature goes into the bucket beside the
// archive; verify and restore --trust of its URL check it, and refuse an
// unsigned archive there before downloading a byte.
func TestSignedArchivesInS3(t *testing.T) {
	requireEngine(t)
	gw := storagetest.StartVersityGW(t, storagetest.VersityGWBin(t))
	gw.Bucket(t, "backups")
	env := s3Env(t, gw, gw.Secret)
	p := newProject(t, postgresProject(t))
	p.up()
	seedPostgres(t, p)
	keys := t.TempDir()
	key, pub, fp := sshKey(t, keys, "backup")

	if r := backup(t, p.Dir, env, "create", "-q", "-p", p.Name, "--to", "s3://backups/site/", "--sign", key); r.Err != nil {
		t.Fatalf("create --sign --to s3: %s", r)
	}
	listed := ls(t, p.Dir, env, "s3://backups/site")
	if len(listed) != 1 || listed[0].Foreign {
		t.Fatalf("ls lists %+v: want the one archive, not its .sig", listed)
	}
	url := "s3://backups/site/" + listed[0].Name
	if r := backup(t, p.Dir, env, "verify", "--trust", pub, url); r.Err != nil || !strings.Contains(r.Stderr, "signed by "+fp) {
		t.Errorf("verify --trust of the URL: %s", r)
	}
	r := backup(t, p.Dir, env, "restore", "-p", p.Name, "--dry-run", "--trust", pub, "--download-to", t.TempDir(), url)
	if r.Err != nil || !strings.Contains(r.Stderr, "signed by "+fp) {
		t.Errorf("restore --dry-run --trust of the URL: %s", r)
	}

	if r := backup(t, p.Dir, env, "create", "-q", "-p", p.Name, "--to", "s3://backups/plain/"); r.Err != nil {
		t.Fatalf("create --to s3: %s", r)
	}
	plain := ls(t, p.Dir, env, "s3://backups/plain")
	if len(plain) != 1 {
		t.Fatalf("ls: %+v", plain)
	}
	dl := t.TempDir()
	before := startedAt(t, p)
	refused(t, p, backup(t, p.Dir, env, "restore", "-p", p.Name, "-y", "--trust", pub, "--download-to", dl, "s3://backups/plain/"+plain[0].Name), before, "the archive is not signed")
	if names, _ := os.ReadDir(dl); len(names) != 0 {
		t.Errorf("a refused archive was downloaded: %v", names)
	}
}
