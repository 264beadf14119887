package restore

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/docker-backup/docker-backup/internal/archive"
	"github.com/docker-backup/docker-backup/internal/backup"
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
