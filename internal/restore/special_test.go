package restore

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/docker-backup/docker-backup/internal/archive"
	"github.com/docker-backup/docker-backup/internal/backup"
	"github.com/docker-backup/docker-backup/internal/engine"
	"github.com/docker-backup/docker-backup/internal/project"
	"github.com/docker-backup/docker-backup/internal/sign"
	"github.com/docker-backup/docker-backup/internal/sign/signtest"
)

// specialArchive is an archive of volume data whose tree holds a
// setuid-root file, a setgid file, a setgid folder, a file with
// capabilities and, when fifo, a fifo: what a hostile archive plants.
func specialArchive(t *testing.T, fifo bool) ([]byte, *archive.Manifest) {
	t.Helper()
	var tb bytes.Buffer
	tw := tar.NewWriter(&tb)
	add := func(h tar.Header, body string) {
		h.Size = int64(len(body))
		h.Format = tar.FormatPAX
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(body))
	}
	add(tar.Header{Name: "./", Typeflag: tar.TypeDir, Mode: 0o755}, "")
	add(tar.Header{Name: "./su", Typeflag: tar.TypeReg, Mode: 0o4755}, "ELF")
	add(tar.Header{Name: "./sg", Typeflag: tar.TypeReg, Mode: 0o2755, Gid: 42}, "ELF")
	add(tar.Header{Name: "./shared/", Typeflag: tar.TypeDir, Mode: 0o2775, Gid: 42}, "")
	add(tar.Header{Name: "./ping", Typeflag: tar.TypeReg, Mode: 0o755, PAXRecords: map[string]string{archive.CapabilityRecord: "\x01\x00\x00\x02\x00\x20\x00\x00"}}, "ELF")
	if fifo {
		add(tar.Header{Name: "./p", Typeflag: tar.TypeFifo, Mode: 0o600}, "")
	}
	tw.Close()
	var out bytes.Buffer
	w, err := archive.NewWriter(&out, archive.Zstd)
	if err != nil {
		t.Fatal(err)
	}
	sum, err := w.WriteTree(context.Background(), "volumes/uploads/", tar.NewReader(&tb))
	if err != nil {
		t.Fatal(err)
	}
	m := &archive.Manifest{Project: archive.Project{Name: "shop"},
		Volumes: []archive.Volume{{Name: "uploads", EngineName: "shop_uploads", Services: []string{"app"}, Entries: sum.Entries, Bytes: sum.Bytes, TreeSHA256: sum.Digest}}}
	if err := w.Close(m); err != nil {
		t.Fatal(err)
	}
	got, err := Verify(context.Background(), bytes.NewReader(out.Bytes()), VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return out.Bytes(), got
}

func specialWork(m *archive.Manifest, keep bool) *work {
	return &work{keepSpecial: keep, volumes: []*volumeTarget{{Volume: m.Volumes[0], Target: "shop_uploads", Place: engine.VolumePlace("shop_uploads"), Images: []string{"img"}}}}
}

// A hostile archive planted a setuid-root file that an unprivileged user
// of the app's container then ran as root. The restore writes the file
// without setuid and setgid, and without its capabilities, unless told to
// keep them; a setgid folder (which only makes new files inherit its
// group) keeps its bit.
func TestApplyDropsSetuidAndCapabilities(t *testing.T) {
	data, m := specialArchive(t, false)
	for _, keep := range []bool{false, true} {
		vols := &fakeVolumes{}
		if err := apply(context.Background(), bytes.NewReader(data), m, specialWork(m, keep), vols, backup.Lines{}); err != nil {
			t.Fatalf("keep %v: %v", keep, err)
		}
		modes := map[string]string{}
		for _, e := range vols.entries["shop_uploads"] {
			f := strings.SplitN(e, " ", 6) // name type link uid:gid mode body
			modes[f[0]] = f[4]
		}
		want := map[string]string{"su": "755", "sg": "755", "shared/": "2775"}
		wantCaps := []string(nil)
		if keep {
			want = map[string]string{"su": "4755", "sg": "2755", "shared/": "2775"}
			wantCaps = []string{engine.VolumeTarPrefix + "ping"}
		}
		for name, mode := range want {
			if got := modes[engine.VolumeTarPrefix+name]; got != mode {
				t.Errorf("keep %v: %s written with mode %s, want %s (%v)", keep, name, got, mode, vols.entries["shop_uploads"])
			}
		}
		if !slices.Equal(vols.caps, wantCaps) {
			t.Errorf("keep %v: capabilities written for %v, want %v", keep, vols.caps, wantCaps)
		}
	}
}

// Verification found the fifo: the plan refuses it, whatever the
// manifest says of cold, before anything changes; with PreserveSpecial
// it is written. The plan names what it drops.
func TestPlanSpecialFiles(t *testing.T) {
	p := testProject("shop", true, true)
	_, hot := specialArchive(t, false)
	pl, err := makePlan(p, hot, Options{})
	if err != nil {
		t.Fatal(err)
	}
	notes := strings.Join(pl.notes, "\n")
	for _, want := range []string{"2 setuid or setgid file(s) restored without those bits", "1 file(s) restored without their capabilities", "e.g. su, sg, ping", "--preserve-special"} {
		if !strings.Contains(notes, want) {
			t.Errorf("the plan's notes do not say %q:\n%s", want, notes)
		}
	}
	if d := pl.describe("a.tar.zst", ""); d.Volumes[0].Special == nil || d.Volumes[0].Special.Setuid != 2 || d.Volumes[0].Special.Kept {
		t.Errorf("the plan's volume: %+v", d.Volumes[0].Special)
	}

	data, withFifo := specialArchive(t, true)
	withFifo.Cold = true // what a forged manifest says: it unlocks nothing
	if _, err := makePlan(p, withFifo, Options{}); !errors.Is(err, ErrSpecialFiles) || !strings.Contains(err.Error(), "1 device or fifo node") || !strings.Contains(err.Error(), "nothing was changed") {
		t.Fatalf("a fifo was not refused: %v", err)
	}
	pl, err = makePlan(p, withFifo, Options{PreserveSpecial: true})
	if err != nil {
		t.Fatalf("--preserve-special: %v", err)
	}
	if notes := strings.Join(pl.notes, "\n"); !strings.Contains(notes, "restored as archived") {
		t.Errorf("the plan does not say they are kept: %s", notes)
	}
	// Applied without keeping them (an archive changed after it was
	// verified), the fifo is refused, not written.
	vols := &fakeVolumes{}
	err = apply(context.Background(), bytes.NewReader(data), withFifo, specialWork(withFifo, false), vols, backup.Lines{})
	if !errors.Is(err, archive.ErrChecksum) || !strings.Contains(err.Error(), "fifo") {
		t.Fatalf("apply wrote a fifo it was not told to keep: %v", err)
	}
	vols = &fakeVolumes{}
	if err := apply(context.Background(), bytes.NewReader(data), withFifo, specialWork(withFifo, true), vols, backup.Lines{}); err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(vols.entries["shop_uploads"], func(e string) bool { return strings.HasPrefix(e, engine.VolumeTarPrefix+"p 6") }) {
		t.Errorf("the fifo was not written: %v", vols.entries["shop_uploads"])
	}
}

// An archive signed by a key of the trust list is trusted with its
// special files, as --preserve-special is: the same archive, unsigned,
// is refused.
func TestSignedArchiveKeepsSpecialFiles(t *testing.T) {
	dir, _ := shopProject(t)
	var tb bytes.Buffer
	tw := tar.NewWriter(&tb)
	tw.WriteHeader(&tar.Header{Name: "./", Typeflag: tar.TypeDir, Mode: 0o755})
	tw.WriteHeader(&tar.Header{Name: "./p", Typeflag: tar.TypeFifo, Mode: 0o600})
	tw.WriteHeader(&tar.Header{Name: "./su", Typeflag: tar.TypeReg, Mode: 0o4755})
	tw.Close()
	var out bytes.Buffer
	aw, _ := archive.NewWriter(&out, archive.Zstd)
	sum, err := aw.WriteTree(context.Background(), "volumes/data/", tar.NewReader(&tb))
	if err != nil {
		t.Fatal(err)
	}
	if err := aw.Close(&archive.Manifest{Project: archive.Project{Name: "shop"}, Volumes: []archive.Volume{{
		Name: "data", EngineName: "shop_data", Services: []string{"app"}, Entries: sum.Entries, Bytes: sum.Bytes, TreeSHA256: sum.Digest}}}); err != nil {
		t.Fatal(err)
	}
	arch := filepath.Join(dir, "special.tar.zst")
	if err := os.WriteFile(arch, out.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	key, trust := signtest.Key(t)
	opts := Options{Project: project.Options{WorkingDir: dir, Environment: []string{}}, Archive: arch, Yes: true, SafetyDir: t.TempDir(), ReadyTimeout: 1e9}

	w := newWorld()
	if _, err := Prepare(context.Background(), w, w, opts); !errors.Is(err, ErrSpecialFiles) {
		t.Fatalf("unsigned: %v, want ErrSpecialFiles", err)
	}
	sig, err := key.Sign(aw.ManifestBytes())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(arch+sign.Ext, sig, 0o600); err != nil {
		t.Fatal(err)
	}
	// Signed, but no trust list says by whom it may be: still refused.
	if _, err := Prepare(context.Background(), w, w, opts); !errors.Is(err, ErrSpecialFiles) {
		t.Fatalf("signed, no trust list: %v, want ErrSpecialFiles", err)
	}
	opts.Trust = trust
	pr, err := Prepare(context.Background(), w, w, opts)
	if err != nil {
		t.Fatalf("signed by a trusted key: %v", err)
	}
	defer pr.Close()
	if v := pr.Plan.Volumes[0]; v.Special == nil || !v.Special.Kept || v.Special.Devices != 1 || v.Special.Setuid != 1 {
		t.Errorf("the plan's volume: %+v", v.Special)
	}
}
