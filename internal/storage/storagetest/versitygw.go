package storagetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/docker-backup/docker-backup/internal/storage"
)

// VersityGW is a real S3 server, versitygw, serving a folder on loopback.
type VersityGW struct {
	Endpoint       string // http://127.0.0.1:PORT
	Access, Secret string
	Dir            string
	bin, addr      string
	cmd            *exec.Cmd
	log            bytes.Buffer
}

// VersityGWBin is the versitygw binary from $VERSITYGW, which
// e2e/tools/install-versitygw.sh builds (`make test` sets it). Without
// it the test is skipped, or fails under E2E_REQUIRED=1 (CI).
func VersityGWBin(t testing.TB) string {
	t.Helper()
	bin := os.Getenv("VERSITYGW")
	if bin != "" {
		if _, err := os.Stat(bin); err == nil {
			return bin
		}
	}
	msg := "no S3 server: set VERSITYGW to a versitygw binary (bash e2e/tools/install-versitygw.sh builds one and prints its path)"
	if os.Getenv("E2E_REQUIRED") == "1" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// StartVersityGW starts versitygw on a free loopback port, stopped when
// the test ends.
func StartVersityGW(t testing.TB, bin string) *VersityGW {
	t.Helper()
	key := make([]byte, 12)
	rand.Read(key)
	g := &VersityGW{
		bin: bin, Dir: t.TempDir(),
		Access: "AK" + hex.EncodeToString(key[:6]), Secret: hex.EncodeToString(key),
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g.addr = l.Addr().String()
	l.Close()
	g.Endpoint = "http://" + g.addr
	if err := g.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		g.Kill()
		if t.Failed() {
			t.Logf("versitygw log:\n%s", g.log.String())
		}
	})
	return g
}

// Start starts the server (again, after Kill) and waits until it answers.
func (g *VersityGW) Start() error {
	g.cmd = exec.Command(g.bin, "--quiet", "--access", g.Access, "--secret", g.Secret, "--port", g.addr, "posix", g.Dir)
	g.cmd.Stdout, g.cmd.Stderr = &g.log, &g.log
	g.cmd.Env = append(os.Environ(), "ROOT_ACCESS_KEY=", "ROOT_SECRET_KEY=")
	if err := g.cmd.Start(); err != nil {
		return err
	}
	for range 200 {
		c, err := net.DialTimeout("tcp", g.addr, 100*time.Millisecond)
		if err == nil {
			c.Close()
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("versitygw did not listen on %s: %s", g.addr, g.log.String())
}

// Kill stops the server at once, as a crash would.
func (g *VersityGW) Kill() {
	if g.cmd != nil && g.cmd.Process != nil {
		g.cmd.Process.Signal(syscall.SIGKILL)
		g.cmd.Wait()
		g.cmd = nil
	}
}

// Config is the backend configuration reaching this server.
func (g *VersityGW) Config() storage.S3Config {
	return storage.S3Config{Endpoint: g.Endpoint, Region: "us-east-1", AccessKeyID: g.Access, SecretAccessKey: g.Secret}
}

// Bucket creates a bucket through the S3 API.
func (g *VersityGW) Bucket(t testing.TB, name string) {
	t.Helper()
	c, err := minio.New(g.addr, &minio.Options{Creds: credentials.NewStaticV4(g.Access, g.Secret, ""), Region: "us-east-1"})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.MakeBucket(context.Background(), name, minio.MakeBucketOptions{Region: "us-east-1"}); err != nil {
		t.Fatalf("creating bucket %s: %v", name, err)
	}
}

// Uploads lists the multipart uploads the server still holds in bucket.
func (g *VersityGW) Uploads(t testing.TB, bucket string) []string {
	t.Helper()
	c, err := minio.NewCore(g.addr, &minio.Options{Creds: credentials.NewStaticV4(g.Access, g.Secret, ""), Region: "us-east-1"})
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.ListMultipartUploads(context.Background(), bucket, "", "", "", "", 1000)
	if err != nil {
		t.Fatalf("listing multipart uploads: %v", err)
	}
	var out []string
	for _, u := range res.Uploads {
		out = append(out, u.Key)
	}
	return out
}

// Files lists every file under the server's folder for bucket, for tests
// that check nothing was left on its disk.
func (g *VersityGW) Files(t testing.TB, bucket string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(filepath.Join(g.Dir, bucket), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			out = append(out, p)
		}
		return nil
	})
	return out
}

// Pause freezes the server (SIGSTOP): requests hang, as on a stalled
// network, until Resume.
func (g *VersityGW) Pause() {
	if g.cmd != nil && g.cmd.Process != nil {
		g.cmd.Process.Signal(syscall.SIGSTOP)
	}
}

// Resume lets a paused server go on.
func (g *VersityGW) Resume() {
	if g.cmd != nil && g.cmd.Process != nil {
		g.cmd.Process.Signal(syscall.SIGCONT)
	}
}
