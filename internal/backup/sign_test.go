package backup

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"

	"github.com/docker-backup/docker-backup/internal/archive"
	"github.com/docker-backup/docker-backup/internal/project"
	"github.com/docker-backup/docker-backup/internal/sign"
	"github.com/docker-backup/docker-backup/internal/storage"
)

// webAPI: project's web service (no database, no volume) has one
// running container, so that a backup holds the compose files alone.
type webAPI struct{ project string }

func (a webAPI) ContainerList(context.Context, container.ListOptions) ([]container.Summary, error) {
	return []container.Summary{{
		ID: "c-web", Names: []string{"/" + a.project + "-web-1"}, State: "running", Image: "nginx",
		Labels: map[string]string{project.LabelProject: a.project, project.LabelService: "web", project.LabelNumber: "1"},
	}}, nil
}

func (webAPI) ContainerInspect(context.Context, string) (container.InspectResponse, error) {
	return container.InspectResponse{Config: &container.Config{}}, nil
}

func (webAPI) ImageInspect(context.Context, string, ...client.ImageInspectOption) (image.InspectResponse, error) {
	return image.InspectResponse{}, nil
}

// signingKey makes an ed25519 key with the real ssh-keygen.
func signingKey(t *testing.T) (*sign.Key, string) {
	t.Helper()
	keygen, err := exec.LookPath("ssh-keygen")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("ssh-keygen is missing: install openssh-client")
		}
		t.Skip("no ssh-keygen on this machine")
	}
	priv := filepath.Join(t.TempDir(), "key")
	if out, err := exec.Command(keygen, "-q", "-t", "ed25519", "-N", "", "-C", "backup", "-f", priv).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v\n%s", err, out)
	}
	k, err := sign.LoadKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return k, priv + ".pub"
}

func webProject(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "shop")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "compose.yaml"), []byte("services:\n  web:\n    image: nginx\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// A signed backup has its signature beside it and in its index, made
// over manifest.json as the archive stores it, by the key given.
func TestCreateSigns(t *testing.T) {
	key, pub := signingKey(t)
	out := t.TempDir()
	res, err := Create(context.Background(), webAPI{project: "shop"}, &fakeEngine{}, Options{
		Project: project.Options{WorkingDir: webProject(t)}, Output: out, Logger: quietLog(), Sign: key,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Signature != res.Path+sign.Ext || res.SignedBy != key.Fingerprint() {
		t.Fatalf("result signature %q by %q", res.Signature, res.SignedBy)
	}
	sig, err := os.ReadFile(res.Path + sign.Ext)
	if err != nil {
		t.Fatalf("no signature beside the archive: %v", err)
	}
	if fi, _ := os.Stat(res.Path + sign.Ext); fi.Mode().Perm() != 0o600 {
		t.Errorf("signature mode %v", fi.Mode().Perm())
	}
	ix, err := storage.ReadIndex(context.Background(), storage.NewLocal(out), filepath.Base(res.Path))
	if err != nil {
		t.Fatal(err)
	}
	if ix.Signature != string(sig) {
		t.Fatalf("the index holds signature %q, the .sig %q", ix.Signature, sig)
	}
	trust, err := sign.LoadTrust([]string{pub})
	if err != nil {
		t.Fatal(err)
	}
	check, err := trust.Admit(sig)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(res.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := archive.VerifyWith(context.Background(), f, archive.VerifyOptions{Manifest: check.Manifest}); err != nil {
		t.Fatalf("the signature does not verify over the archive's manifest: %v", err)
	}
	if st, err := check.Status(); err != nil || !st.Trusted {
		t.Fatalf("status %+v, %v", st, err)
	}
	names := dirNames(t, out)
	if len(names) != 3 {
		t.Fatalf("%s holds %v: want the archive, its .sig and its index", out, names)
	}
}

// There is nowhere beside stdout for the signature: refused before
// anything is written.
func TestCreateSignRefusesStdout(t *testing.T) {
	key, _ := signingKey(t)
	var stdout bytes.Buffer
	_, err := Create(context.Background(), webAPI{project: "shop"}, &fakeEngine{}, Options{
		Project: project.Options{WorkingDir: webProject(t)}, Output: "-", Stdout: &stdout, Logger: quietLog(), Sign: key,
	})
	if err == nil || !strings.Contains(err.Error(), "--sign with -o -") {
		t.Fatalf("err = %v, want a refusal of --sign with -o -", err)
	}
	if stdout.Len() != 0 {
		t.Fatalf("%d bytes written to stdout", stdout.Len())
	}
}

// failingSig is a folder whose signatures cannot be committed.
type failingSig struct{ *storage.Local }

func (f failingSig) Create(ctx context.Context, name string) (storage.Upload, error) {
	up, err := f.Local.Create(ctx, name)
	if err != nil || !strings.HasSuffix(name, sign.Ext) {
		return up, err
	}
	return failingCommit{up}, nil
}

type failingCommit struct{ storage.Upload }

func (failingCommit) Commit(context.Context) error { return errors.New("disk full") }

// An archive meant to be signed whose signature cannot be written is not
// left behind unsigned: the backup fails and removes it.
func TestSignatureCommitFailureRemovesTheArchive(t *testing.T) {
	dir := t.TempDir()
	store := failingSig{storage.NewLocal(dir)}
	up, err := store.Create(context.Background(), "shop.tar")
	if err != nil {
		t.Fatal(err)
	}
	d := &destination{w: up, digest: storage.NewDigest(true), up: up, store: store, name: "shop.tar", final: filepath.Join(dir, "shop.tar")}
	if _, err := io.WriteString(d.w, "archive bytes"); err != nil {
		t.Fatal(err)
	}
	if err := d.signWith(context.Background(), []byte("signature")); err != nil {
		t.Fatal(err)
	}
	err = d.commit(context.Background())
	if err == nil || !strings.Contains(err.Error(), "disk full") || !strings.Contains(err.Error(), "the archive was removed") {
		t.Fatalf("commit = %v, want the signature's failure and the archive removed", err)
	}
	_ = d.fail(context.Background(), err)
	if names := dirNames(t, dir); len(names) != 0 {
		t.Fatalf("left %v", names)
	}
}
