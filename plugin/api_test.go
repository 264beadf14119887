package plugin

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/docker-backup/docker-backup/internal/api"
)

// selfSigned writes a certificate for 127.0.0.1 and its key.
func selfSigned(t *testing.T, dir string) (string, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	cert, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)
	return cert, keyFile
}

func TestAPISettings(t *testing.T) {
	clearBackupEnv(t)
	dir := t.TempDir()
	to := filepath.Join(dir, "archives")
	work := filepath.Join(dir, "work")
	long := filepath.Join(dir, "token")
	os.WriteFile(long, []byte("0123456789abcdef0123\n"), 0o600)
	short := filepath.Join(dir, "short")
	os.WriteFile(short, []byte("tooshort\n"), 0o600)
	cert, key := selfSigned(t, dir)

	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--listen", ":8080"}, "answers other hosts: set --api-token-file"},
		{[]string{"--listen", "0.0.0.0:8080"}, "answers other hosts"},
		{[]string{"--listen", "8080"}, "give HOST:PORT"},
		{[]string{"--listen", "127.0.0.1:8080", "--api-token-file", short}, "use at least 16"},
		{[]string{"--api-token-file", long}, "without --listen"},
		{[]string{"--listen", "127.0.0.1:8080", "--tls-cert", cert}, "go together"},
		{[]string{"--listen", "127.0.0.1:8080", "--max-upload-size", "lots"}, "--max-upload-size"},
		{[]string{"--cron", "none"}, "nothing would ever back up"},
	} {
		_, err := setupOf(t, append([]string{"--to", to, "--work-dir", work}, c.args...)...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want %q", c.args, err, c.want)
		}
	}

	// Loopback without a token file: a token made up, readable by this
	// user alone.
	s, err := setupOf(t, "--to", to, "--work-dir", work, "--listen", "127.0.0.1:0", "--cron", "none")
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(work, "api-token"))
	if err != nil || fi.Mode().Perm() != 0o600 || len(s.api.token) < 32 || !s.api.generated {
		t.Fatalf("made-up token: %v %v %+v", err, fi, s.api)
	}
	if b, _ := os.ReadFile(filepath.Join(work, "api-token")); strings.TrimSpace(string(b)) != s.api.token {
		t.Fatal("the token file holds another token")
	}
	// Any address with a token file and TLS.
	s, err = setupOf(t, "--to", to, "--work-dir", work, "--listen", ":8443", "--api-token-file", long, "--tls-cert", cert, "--tls-key", key, "--max-upload-size", "2g")
	if err != nil {
		t.Fatal(err)
	}
	if s.api.token != "0123456789abcdef0123" || s.api.tls == nil || s.api.maxUpload != 2<<30 {
		t.Fatalf("%+v", s.api)
	}
	for addr, want := range map[string]bool{"127.0.0.1:1": true, "localhost:1": true, "[::1]:1": true, ":1": false, "0.0.0.0:1": false, "10.0.0.1:1": false} {
		if isLoopback(addr) != want {
			t.Errorf("isLoopback(%s) = %v", addr, !want)
		}
	}
}

// A restore through the API writes bind mounts outside the project folder
// only when the daemon was started with --include-bind-mounts: the caller
// cannot ask for it.
func TestAPIRestoreBindMountsFollowTheDaemon(t *testing.T) {
	clearBackupEnv(t)
	dir := t.TempDir()
	for _, include := range []bool{false, true} {
		args := []string{"--to", filepath.Join(dir, "archives"), "--work-dir", filepath.Join(dir, "work"), "--listen", "127.0.0.1:0", "--cron", "none"}
		if include {
			args = append(args, "--include-bind-mounts")
		}
		s, err := setupOf(t, args...)
		if err != nil {
			t.Fatal(err)
		}
		svc := &apiService{setup: s, targets: map[string]target{"shop": {name: "shop"}}, workDir: filepath.Join(dir, "work"), log: slog.New(slog.DiscardHandler)}
		o := svc.restoreOptions(api.RestoreRequest{Project: "shop", Path: "a.tar.zst", Force: true}, nil, nil)
		if o.IncludeBindMounts != include || !o.Force || o.SafetyDir != filepath.Join(dir, "work", "safety") {
			t.Errorf("--include-bind-mounts %v: options %+v", include, o)
		}
	}
}
