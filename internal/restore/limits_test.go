package restore

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/docker-backup/docker-backup/internal/archive"
	"github.com/docker-backup/docker-backup/internal/backup"
	"github.com/docker-backup/docker-backup/internal/dbdump"
)

// The limits a verification is given reach the archive's Reader, in
// Verify, Fetch and Receive, and in the pass that applies the archive;
// a fetched archive is applied with the limits it was verified with.
func TestLimitsReachEveryReader(t *testing.T) {
	data, m := testArchive(t)
	ctx := context.Background()
	tight := VerifyOptions{Limits: archive.Limits{MaxEntries: 3}}
	refusedHere := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, archive.ErrInvalid) || !strings.Contains(err.Error(), "more than 3 entries") {
			t.Errorf("%s: got %v, want a refusal past 3 entries", what, err)
		}
	}
	if _, err := Verify(ctx, bytes.NewReader(data), VerifyOptions{}); err != nil {
		t.Fatal(err)
	}
	_, err := Verify(ctx, bytes.NewReader(data), tight)
	refusedHere("Verify", err)
	_, err = Fetch(ctx, stored(t, data, ""), "shop-1.tar.zst", filepath.Join(t.TempDir(), "b"), tight)
	refusedHere("Fetch", err)
	_, err = Receive(ctx, bytes.NewReader(data), "shop-1.tar.zst", filepath.Join(t.TempDir(), "u"), 0, tight)
	refusedHere("Receive", err)

	w := testWork(m, &fakeServer{})
	w.limits = tight.Limits
	err = apply(ctx, bytes.NewReader(data), m, w, &fakeVolumes{}, backup.Lines{})
	refusedHere("apply", err)

	f, err := Fetch(ctx, stored(t, data, ""), "shop-1.tar.zst", filepath.Join(t.TempDir(), "c"), VerifyOptions{Limits: archive.Limits{MaxEntries: 500}})
	if err != nil {
		t.Fatal(err)
	}
	if f.limits.MaxEntries != 500 {
		t.Errorf("the fetched archive keeps limits %+v", f.limits)
	}
}

// Each dump's check finds what the manifest does with it in an index: a
// check looking through every dump took time in the square of their
// number, which a hostile archive chooses.
func TestVerifyChecksManyDumpsInLinearTime(t *testing.T) {
	if raceEnabled {
		t.Skip("CPU time is not measured under the race detector")
	}
	const n = 80_000
	content := []byte("SELECT 1;\n")
	sum := sha256.Sum256(content)
	var out bytes.Buffer
	tw := tar.NewWriter(&out)
	m := archive.Manifest{FormatVersion: archive.FormatVersion, Project: archive.Project{Name: "shop"}}
	db := archive.Database{Service: "db", Engine: dbdump.MySQL, Flavor: "MariaDB", Version: "10.11.18-MariaDB"}
	for i := range n {
		path := fmt.Sprintf("databases/db/d%05d.sql", i)
		if err := tw.WriteHeader(&tar.Header{Name: archive.PartName(path, 0), Typeflag: tar.TypeReg, Mode: 0o600, Size: int64(len(content))}); err != nil {
			t.Fatal(err)
		}
		tw.Write(content)
		db.Dumps = append(db.Dumps, archive.Dump{Path: path, Database: fmt.Sprintf("d%05d", i), Kind: "database", Format: "sql"})
		m.Files = append(m.Files, archive.File{Path: path, Size: int64(len(content)), SHA256: hex.EncodeToString(sum[:]), Parts: 1})
	}
	m.Databases = []archive.Database{db}
	b, _ := json.Marshal(m)
	tw.WriteHeader(&tar.Header{Name: archive.ManifestName, Typeflag: tar.TypeReg, Mode: 0o600, Size: int64(len(b))})
	tw.Write(b)
	tw.Close()
	var before, after syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &before)
	if _, err := Verify(context.Background(), bytes.NewReader(out.Bytes()), VerifyOptions{}); err != nil {
		t.Fatal(err)
	}
	syscall.Getrusage(syscall.RUSAGE_SELF, &after)
	d := time.Duration(after.Utime.Nano() + after.Stime.Nano() - before.Utime.Nano() - before.Stime.Nano())
	t.Logf("%d dumps checked in %v of CPU", n, d)
	if d > 5*time.Second {
		t.Errorf("%d dumps took %v of CPU", n, d)
	}
}
