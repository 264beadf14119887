package crypt

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"
	"golang.org/x/crypto/ssh"
)

func encrypt(t *testing.T, rs []age.Recipient, plain []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	w, err := Encrypt(&out, rs)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(plain)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestKeysRoundTrip(t *testing.T) {
	plain := bytes.Repeat([]byte("archive bytes "), 100000)
	id, _ := age.GenerateX25519Identity()
	other, _ := age.GenerateX25519Identity()

	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	sshPub, _ := ssh.NewPublicKey(pub)
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	sshKeyFile := writeFile(t, "id_ed25519", string(pem.EncodeToMemory(block)))
	recipientsFile := writeFile(t, "recipients", "# team keys\n"+strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sshPub)))+"\n\n")

	rs, err := Recipients([]string{id.Recipient().String()}, recipientsFile, "")
	if err != nil || len(rs) != 2 {
		t.Fatalf("recipients %d, %v", len(rs), err)
	}
	data := encrypt(t, rs, plain)
	if bytes.Contains(data, []byte("archive bytes")) {
		t.Fatal("plaintext in the encrypted stream")
	}
	for name, file := range map[string]string{"age key": writeFile(t, "key.txt", id.String()+"\n"), "ssh key": sshKeyFile} {
		ids, err := Identities(file, "")
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		r, enc, err := Open(bytes.NewReader(data), ids)
		if err != nil || !enc {
			t.Fatalf("%s: %v", name, err)
		}
		got, err := io.ReadAll(r)
		if err != nil || !bytes.Equal(got, plain) {
			t.Errorf("%s: %d bytes, %v", name, len(got), err)
		}
	}
	// No key, and the wrong key: clear errors.
	if _, _, err := Open(bytes.NewReader(data), nil); !errors.Is(err, ErrEncrypted) {
		t.Errorf("no key: %v", err)
	}
	ids, _ := Identities(writeFile(t, "other.txt", other.String()), "")
	if _, _, err := Open(bytes.NewReader(data), ids); !errors.Is(err, ErrWrongKey) {
		t.Errorf("wrong key: %v", err)
	}
	// A plain stream passes through.
	r, enc, err := Open(strings.NewReader("plain tar"), nil)
	if b, _ := io.ReadAll(r); err != nil || enc || string(b) != "plain tar" {
		t.Errorf("plain: %q %v %v", b, enc, err)
	}
}

func TestPassphrase(t *testing.T) {
	pass := writeFile(t, "pass", "correct horse battery staple\n")
	rs, err := Recipients(nil, "", pass)
	if err != nil {
		t.Fatal(err)
	}
	data := encrypt(t, rs, []byte("secret data"))
	ids, _ := Identities("", pass)
	r, _, err := Open(bytes.NewReader(data), ids)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := io.ReadAll(r); string(b) != "secret data" {
		t.Errorf("got %q", b)
	}
	wrong, _ := Identities("", writeFile(t, "wrong", "Tr0ub4dor&3"))
	_, _, err = Open(bytes.NewReader(data), wrong)
	if !errors.Is(err, ErrWrongKey) || strings.Contains(err.Error(), "Tr0ub4dor") || strings.Contains(err.Error(), "horse") {
		t.Errorf("wrong passphrase: %v", err)
	}
	id, _ := age.GenerateX25519Identity()
	if _, err := Recipients([]string{id.Recipient().String()}, "", pass); err == nil {
		t.Error("a passphrase combined with keys was accepted")
	}
	if _, err := Recipients([]string{"not-a-key"}, "", ""); err == nil {
		t.Error("a bad recipient was accepted")
	}
	if _, err := Identities("", writeFile(t, "empty", "\n")); err == nil {
		t.Error("an empty passphrase was accepted")
	}
}

func TestDecryptFile(t *testing.T) {
	id, _ := age.GenerateX25519Identity()
	dir := t.TempDir()
	src := filepath.Join(dir, "a.tar.zst.age")
	os.WriteFile(src, encrypt(t, []age.Recipient{id.Recipient()}, []byte("the archive")), 0o600)
	dst := filepath.Join(dir, "a.tar.zst")
	if err := DecryptFile(context.Background(), src, dst, []age.Identity{id}, nil); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(dst)
	fi, _ := os.Stat(dst)
	if string(b) != "the archive" || fi.Mode().Perm() != 0o600 {
		t.Errorf("got %q, mode %v", b, fi.Mode())
	}
	// A damaged file or a wrong key leaves nothing behind.
	data, _ := os.ReadFile(src)
	data[len(data)-3] ^= 1
	bad := filepath.Join(dir, "bad.age")
	os.WriteFile(bad, data, 0o600)
	other, _ := age.GenerateX25519Identity()
	for _, tc := range []struct {
		src string
		id  *age.X25519Identity
	}{{bad, id}, {src, other}} {
		out := filepath.Join(dir, "out")
		if err := DecryptFile(context.Background(), tc.src, out, []age.Identity{tc.id}, nil); err == nil {
			t.Errorf("%s decrypted", tc.src)
		}
		left, _ := filepath.Glob(filepath.Join(dir, "*out*"))
		if len(left) > 0 {
			t.Errorf("left behind: %v", left)
		}
	}
}
