package sign

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// sshKeygen is the real ssh-keygen; the tests that need it skip without
// it, except in CI (.ci/run installs openssh-client), where they fail.
func sshKeygen(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("ssh-keygen")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("ssh-keygen is missing: install openssh-client")
		}
		t.Skip("no ssh-keygen on this machine")
	}
	return p
}

// newKey makes a key with the real ssh-keygen in dir: its private and
// public files.
func newKey(t *testing.T, dir, name string, args ...string) (priv, pub string) {
	t.Helper()
	priv = filepath.Join(dir, name)
	a := append([]string{"-q", "-t", "ed25519", "-N", "", "-C", name + "@test", "-f", priv}, args...)
	if out, err := exec.Command(sshKeygen(t), a...).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen %v: %v\n%s", a, err, out)
	}
	return priv, priv + ".pub"
}

func loadKey(t *testing.T, path string) *Key {
	t.Helper()
	k, err := LoadKey(path)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func trustOf(t *testing.T, files ...string) *Trust {
	t.Helper()
	tr, err := LoadTrust(files)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// manifest stands for an archive's manifest.json.
var manifest = []byte("{\n  \"formatVersion\": 1,\n  \"project\": {\"name\": \"shop\"}\n}\n")

func TestSignAndCheck(t *testing.T) {
	dir := t.TempDir()
	priv, pub := newKey(t, dir, "backup")
	_, otherPub := newKey(t, dir, "other")
	key := loadKey(t, priv)
	sig, err := key.Sign(manifest)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(sig, []byte("-----BEGIN SSH SIGNATURE-----\n")) || !bytes.HasSuffix(sig, []byte("-----END SSH SIGNATURE-----\n")) {
		t.Fatalf("not armored as ssh-keygen writes it:\n%s", sig)
	}

	t.Run("trusted", func(t *testing.T) {
		c, err := trustOf(t, pub).Admit(sig)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Manifest(manifest); err != nil {
			t.Fatal(err)
		}
		st, err := c.Status()
		if err != nil {
			t.Fatal(err)
		}
		if !st.Signed || !st.Trusted || st.Key != key.Fingerprint() || st.Name != "backup@test" {
			t.Fatalf("status %+v, want signed and trusted by %s (backup@test)", st, key.Fingerprint())
		}
		if !strings.HasPrefix(st.Key, "SHA256:") {
			t.Fatalf("fingerprint %q", st.Key)
		}
	})
	t.Run("tampered manifest", func(t *testing.T) {
		c, err := trustOf(t, pub).Admit(sig)
		if err != nil {
			t.Fatal(err)
		}
		changed := bytes.Replace(manifest, []byte("shop"), []byte("shoq"), 1)
		if err := c.Manifest(changed); !errors.Is(err, ErrBadSignature) {
			t.Fatalf("a changed manifest: %v, want ErrBadSignature", err)
		}
		if _, err := c.Status(); err == nil {
			t.Fatal("a signature that did not match has a status")
		}
	})
	t.Run("other key", func(t *testing.T) {
		_, err := trustOf(t, otherPub).Admit(sig)
		if !errors.Is(err, ErrUntrusted) {
			t.Fatalf("signed by a key not in the list: %v, want ErrUntrusted", err)
		}
		if !strings.Contains(err.Error(), key.Fingerprint()) {
			t.Fatalf("the error does not name the key: %v", err)
		}
	})
	t.Run("unsigned", func(t *testing.T) {
		if _, err := trustOf(t, pub).Admit(nil); !errors.Is(err, ErrUnsigned) {
			t.Fatalf("no signature with a trust list: %v, want ErrUnsigned", err)
		}
		c, err := (*Trust)(nil).Admit(nil)
		if err != nil {
			t.Fatalf("no signature, no trust list: %v", err)
		}
		if err := c.Manifest(manifest); err != nil {
			t.Fatal(err)
		}
		if st, _ := c.Status(); st.Signed {
			t.Fatalf("status %+v of an unsigned archive", st)
		}
	})
	t.Run("no trust list, signed", func(t *testing.T) {
		c, err := (*Trust)(nil).Admit(sig)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Manifest(bytes.ToUpper(manifest)); !errors.Is(err, ErrBadSignature) {
			t.Fatalf("a bad signature without a trust list: %v, want ErrBadSignature", err)
		}
		c, _ = (*Trust)(nil).Admit(sig)
		if err := c.Manifest(manifest); err != nil {
			t.Fatal(err)
		}
		st, _ := c.Status()
		if !st.Signed || st.Trusted || !strings.Contains(st.String(), "not checked against a trust list") {
			t.Fatalf("status %+v (%s)", st, st)
		}
	})
	t.Run("garbage", func(t *testing.T) {
		for _, bad := range [][]byte{[]byte("hello"), []byte("-----BEGIN SSH SIGNATURE-----\nAAAA\n-----END SSH SIGNATURE-----\n"), bytes.Repeat([]byte("x"), MaxSize+1)} {
			if _, err := trustOf(t, pub).Admit(bad); !errors.Is(err, ErrBadSignature) {
				t.Fatalf("%.40q: %v, want ErrBadSignature", bad, err)
			}
		}
	})
}

// TestSSHKeygenAcceptsOurSignature: `ssh-keygen -Y verify`, as the README
// tells users to run it, accepts what we sign, and refuses it over other
// bytes.
func TestSSHKeygenAcceptsOurSignature(t *testing.T) {
	dir := t.TempDir()
	priv, pub := newKey(t, dir, "backup")
	sig, err := loadKey(t, priv).Sign(manifest)
	if err != nil {
		t.Fatal(err)
	}
	sigFile := filepath.Join(dir, "A.tar.zst.sig")
	if err := os.WriteFile(sigFile, sig, 0o600); err != nil {
		t.Fatal(err)
	}
	pubKey, err := os.ReadFile(pub)
	if err != nil {
		t.Fatal(err)
	}
	signers := filepath.Join(dir, "allowed_signers")
	if err := os.WriteFile(signers, []byte("backup "+string(pubKey)), 0o600); err != nil {
		t.Fatal(err)
	}
	verify := func(msg []byte, namespace string) ([]byte, error) {
		cmd := exec.Command(sshKeygen(t), "-Y", "verify", "-f", signers, "-I", "backup", "-n", namespace, "-s", sigFile)
		cmd.Stdin = bytes.NewReader(msg)
		return cmd.CombinedOutput()
	}
	if out, err := verify(manifest, Namespace); err != nil {
		t.Fatalf("ssh-keygen -Y verify refused our signature: %v\n%s", err, out)
	} else if !strings.Contains(string(out), "Good \"docker-backup\" signature for backup") {
		t.Fatalf("ssh-keygen said: %s", out)
	}
	if out, err := verify(append(manifest, ' '), Namespace); err == nil {
		t.Fatalf("ssh-keygen accepted our signature over other bytes: %s", out)
	}
	if out, err := verify(manifest, "file"); err == nil {
		t.Fatalf("ssh-keygen accepted our signature in another namespace: %s", out)
	}
	// Our trust list reads the same allowed_signers file.
	c, err := trustOf(t, signers).Admit(sig)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Manifest(manifest); err != nil {
		t.Fatal(err)
	}
}

// TestWeAcceptSSHKeygenSignatures: a signature made by hand with
// `ssh-keygen -Y sign -n docker-backup` is one of ours.
func TestWeAcceptSSHKeygenSignatures(t *testing.T) {
	dir := t.TempDir()
	priv, pub := newKey(t, dir, "backup")
	msg := filepath.Join(dir, "manifest.json")
	if err := os.WriteFile(msg, manifest, 0o600); err != nil {
		t.Fatal(err)
	}
	sign := func(namespace string) []byte {
		os.Remove(msg + Ext)
		if out, err := exec.Command(sshKeygen(t), "-Y", "sign", "-f", priv, "-n", namespace, msg).CombinedOutput(); err != nil {
			t.Fatalf("ssh-keygen -Y sign: %v\n%s", err, out)
		}
		sig, err := ReadFile(msg)
		if err != nil || sig == nil {
			t.Fatalf("reading the signature: %v", err)
		}
		return sig
	}
	sig := sign(Namespace)
	c, err := trustOf(t, pub).Admit(sig)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Manifest(manifest); err != nil {
		t.Fatalf("ssh-keygen's signature refused: %v", err)
	}
	if st, _ := c.Status(); st.Key != loadKey(t, priv).Fingerprint() {
		t.Fatalf("status %+v", st)
	}
	c, _ = trustOf(t, pub).Admit(sig)
	if err := c.Manifest(append(manifest, '\n')); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("ssh-keygen's signature over other bytes: %v, want ErrBadSignature", err)
	}
	// A signature of the same key made for git commits is not one of ours.
	if _, err := trustOf(t, pub).Admit(sign("git")); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("a signature of namespace git: %v, want ErrBadSignature", err)
	}
}

func TestLoadKeyRefusals(t *testing.T) {
	dir := t.TempDir()
	_, pub := newKey(t, dir, "plain")
	protected, _ := newKey(t, dir, "protected")
	if out, err := exec.Command(sshKeygen(t), "-q", "-p", "-P", "", "-N", "secret", "-f", protected).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen -p: %v\n%s", err, out)
	}
	rsa := filepath.Join(dir, "rsa")
	if out, err := exec.Command(sshKeygen(t), "-q", "-t", "rsa", "-b", "2048", "-N", "", "-f", rsa).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen -t rsa: %v\n%s", err, out)
	}
	for _, tc := range []struct {
		file, want string
	}{
		{protected, "passphrase"},
		{rsa, "ed25519"},
		{pub, "public key"},
		{filepath.Join(dir, "missing"), "no such file"},
	} {
		_, err := LoadKey(tc.file)
		if !errors.Is(err, ErrKey) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("LoadKey(%s): %v, want ErrKey saying %q", filepath.Base(tc.file), err, tc.want)
		}
	}
}

func TestParseTrust(t *testing.T) {
	dir := t.TempDir()
	priv, pub := newKey(t, dir, "backup")
	pubKey, _ := os.ReadFile(pub)
	line := strings.TrimSpace(string(pubKey))
	fields := strings.Fields(line)
	bare := fields[0] + " " + fields[1]
	key := loadKey(t, priv)
	sig, _ := key.Sign(manifest)

	good := map[string]string{
		"pub file":                       line,
		"no comment":                     bare,
		"allowed_signers":                "ops@example.com " + bare,
		"allowed_signers with namespace": `ops@example.com,backup namespaces="git,docker-backup" ` + bare,
		"wildcard namespace":             `* namespaces="docker-*" ` + bare,
		"authorized_keys options":        `restrict,command="true" ` + line,
		"comments and blank lines":       "# the backup host\n\n   \n" + line + "\r\n",
	}
	for name, content := range good {
		t.Run(name, func(t *testing.T) {
			tr, err := ParseTrust([]byte(content), "trust")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := tr.Admit(sig); err != nil {
				t.Fatalf("the key is not trusted: %v", err)
			}
		})
	}
	tr, _ := ParseTrust([]byte("ops@example.com "+bare), "trust")
	c, _ := tr.Admit(sig)
	_ = c.Manifest(manifest)
	if st, _ := c.Status(); st.Name != "ops@example.com" {
		t.Fatalf("name %q, want the principal", st.Name)
	}

	rsa := filepath.Join(dir, "rsa")
	if out, err := exec.Command(sshKeygen(t), "-q", "-t", "rsa", "-b", "2048", "-N", "", "-f", rsa).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen -t rsa: %v\n%s", err, out)
	}
	rsaPub, _ := os.ReadFile(rsa + ".pub")
	bad := []struct {
		name, content, want string
	}{
		{"empty", "", "holds no public key"},
		{"only comments", "# nothing\n\n", "holds no public key"},
		{"not a key", line + "\nhello world\n", "line 2: not a public key"},
		{"private key", "-----BEGIN OPENSSH PRIVATE KEY-----\n", "line 1: not a public key"},
		{"rsa", string(rsaPub), "line 1: a ssh-rsa key"},
		{"cert authority", "* cert-authority " + bare, "line 1: cert-authority"},
		{"validity", `* valid-before="20300101" ` + bare, "line 1: valid-before"},
		{"other namespace only", `* namespaces="git" ` + bare, "none of its keys may sign archives"},
		{"negated namespace", `* namespaces="*,!docker-backup" ` + bare, "none of its keys may sign archives"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseTrust([]byte(tc.content), "trust")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("%v, want an error saying %q", err, tc.want)
			}
		})
	}
	if tr, err := LoadTrust(nil); tr != nil || err != nil {
		t.Fatalf("no files: %v, %v; want no list", tr, err)
	}
	if _, err := LoadTrust([]string{filepath.Join(dir, "missing")}); err == nil {
		t.Fatal("a missing trust file is no error")
	}
	// Several files: a key of any of them is trusted.
	_, otherPub := newKey(t, dir, "other")
	if _, err := trustOf(t, otherPub, pub).Admit(sig); err != nil {
		t.Fatal(err)
	}
}
