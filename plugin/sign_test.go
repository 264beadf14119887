package plugin

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
)

// keyFiles writes an ed25519 key as ssh-keygen would (with passphrase
// pass, unless ""), and its public half.
func keyFiles(t *testing.T, dir, name, pass string) (priv, pub string) {
	t.Helper()
	pk, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	var block *pem.Block
	if pass == "" {
		block, err = ssh.MarshalPrivateKey(k, name)
	} else {
		block, err = ssh.MarshalPrivateKeyWithPassphrase(k, name, []byte(pass))
	}
	if err != nil {
		t.Fatal(err)
	}
	spk, _ := ssh.NewPublicKey(pk)
	priv, pub = filepath.Join(dir, name), filepath.Join(dir, name+".pub")
	os.WriteFile(priv, pem.EncodeToMemory(block), 0o600)
	os.WriteFile(pub, ssh.MarshalAuthorizedKey(spk), 0o644)
	return priv, pub
}

// The daemon signs with BACKUP_SIGN_KEY_FILE and restores through the
// API only what BACKUP_TRUST_FILE trusts; a bad key or trust file stops
// it at start.
func TestDaemonSignAndTrustSettings(t *testing.T) {
	dir := t.TempDir()
	to, work := filepath.Join(dir, "archives"), filepath.Join(dir, "work")
	priv, pub := keyFiles(t, dir, "backup", "")
	locked, _ := keyFiles(t, dir, "locked", "secret")

	clearBackupEnv(t)
	t.Setenv("BACKUP_TO", to)
	t.Setenv("BACKUP_WORK_DIR", work)
	t.Setenv(signEnv, priv)
	t.Setenv(trustEnv, pub)
	t.Setenv("BACKUP_LISTEN", "127.0.0.1:0")
	s, err := setupOf(t)
	if err != nil {
		t.Fatal(err)
	}
	if s.base.Sign == nil || s.api == nil || s.api.trust == nil {
		t.Fatalf("sign key %v, trust %+v", s.base.Sign, s.api)
	}
	if _, err := s.api.trust.Admit(nil); err == nil {
		t.Fatal("the daemon's trust list admits an unsigned archive")
	}

	for _, c := range []struct {
		name string
		env  map[string]string
		want string
	}{
		{"passphrase", map[string]string{signEnv: locked}, "--sign (BACKUP_SIGN_KEY_FILE): unusable signing key: " + locked + " is protected by a passphrase"},
		{"public key to sign", map[string]string{signEnv: pub}, "holds a public key"},
		{"trust without the API", map[string]string{trustEnv: pub}, "--trust (BACKUP_TRUST_FILE) without --listen"},
		{"a bad trust file", map[string]string{trustEnv: priv, "BACKUP_LISTEN": "127.0.0.1:0"}, "line 1: not a public key"},
	} {
		t.Run(c.name, func(t *testing.T) {
			clearBackupEnv(t)
			t.Setenv("BACKUP_TO", to)
			t.Setenv("BACKUP_WORK_DIR", work)
			for k, v := range c.env {
				t.Setenv(k, v)
			}
			_, err := setupOf(t)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("%v, want an error saying %q", err, c.want)
			}
		})
	}
}
