package engine

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/mount"
)

func oneFileTar(t *testing.T) []byte {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	if err := tw.WriteHeader(&tar.Header{Name: "./a", Mode: 0o644, Size: 1, Typeflag: tar.TypeReg}); err != nil {
		t.Fatal(err)
	}
	tw.Write([]byte("x"))
	tw.Close()
	return b.Bytes()
}

// readTar reads the volume's tar as the archive writer does (up to its
// end-of-archive marker, not to EOF), then gives tar's warnings, which come
// after the data, time to arrive.
func readTar(r io.Reader) error {
	tr := tar.NewReader(r)
	for {
		if _, err := tr.Next(); err == io.EOF {
			break
		} else if err != nil {
			return err
		}
	}
	time.Sleep(50 * time.Millisecond)
	return nil
}

func TestReadVolumeExitCodes(t *testing.T) {
	for _, tc := range []struct {
		name    string
		stderr  string
		code    int64
		wantErr string
		// last: the warning comes after the padding, which nobody reads.
		last bool
	}{
		{name: "clean", code: 0},
		// A live volume: GNU tar exits 1 when a file changed as it read it.
		{name: "changed", code: 1, stderr: "tar: ./a: file changed as we read it\n"},
		{name: "changed, said last", code: 1, stderr: "tar: ./a: file changed as we read it\n", last: true},
		// Exit 1 and nothing said: nothing tells the data is whole.
		{name: "silent failure", code: 1, wantErr: "tar exited with 1"},
		{name: "unreadable", code: 2, stderr: "tar: ./b: Cannot open: Permission denied\n", wantErr: "Permission denied"},
		{name: "changed and unreadable", code: 1, stderr: "tar: ./a: file changed as we read it\ntar: ./b: Cannot open: Permission denied\n", wantErr: "Permission denied"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// As GNU tar writes it: the data, its warnings, then the
			// zeros that pad the last 10 KiB record, which the archive
			// writer does not read.
			frames := []frame{{data: oneFileTar(t)}}
			warn := frame{data: []byte(tc.stderr), stderr: true}
			if tc.stderr != "" && !tc.last {
				frames = append(frames, warn)
			}
			frames = append(frames, frame{data: make([]byte, 8192)})
			if tc.stderr != "" && tc.last {
				frames = append(frames, warn)
			}
			api := newFakeAPI(helperRun{frames: frames, code: tc.code})
			e := New(api)
			err := e.ReadVolume(context.Background(), "img", "vol", readTar)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("got %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("got %v, want an error with %q", err, tc.wantErr)
			}
			if len(api.removed) != 1 {
				t.Errorf("helpers removed: %v", api.removed)
			}
		})
	}
}

// A bind-mounted file is replaced through its folder (a mount point can be
// neither renamed nor removed), its scripts told its name; a folder that
// does not exist yet is created, like compose does.
func TestPlaceMounts(t *testing.T) {
	f := Place{Path: "/srv/shop/config/app.conf", File: true}
	m := f.mount()
	if m.Type != mount.TypeBind || m.Source != "/srv/shop/config" || m.Target != helperMount || m.BindOptions == nil || !m.BindOptions.CreateMountpoint {
		t.Errorf("file: %+v", m)
	}
	if env := f.env("aside"); len(env) != 2 || env[1] != "NAME=app.conf" {
		t.Errorf("file env %q", env)
	}
	if got := f.script("dir", "file"); got[2] != "file" {
		t.Errorf("file script %q", got)
	}
	d := Place{Path: "/srv/shop/data"}
	if m := d.mount(); m.Source != "/srv/shop/data" || m.ReadOnly {
		t.Errorf("folder: %+v", m)
	}
	if m := VolumePlace("shop_data").mount(); m.Type != mount.TypeVolume || m.Source != "shop_data" {
		t.Errorf("volume: %+v", m)
	}
}

// The folders a bind mount's read leaves out are never read by tar: it is
// told so, but for names its patterns would not take literally.
func TestReadBindExcludes(t *testing.T) {
	api := newFakeAPI(helperRun{frames: []frame{{data: oneFileTar(t)}}})
	e := New(api)
	if err := e.ReadBind(context.Background(), "img", "/srv/shop", []string{"data/db", "back[ups]", "."}, readTar); err != nil {
		t.Fatal(err)
	}
	if len(api.created) != 1 {
		t.Fatalf("created %d helpers", len(api.created))
	}
	got := strings.Join(api.created[0].Entrypoint, " ")
	if got != "tar -c -f - -C /docker-backup-volume --exclude=./data/db ." {
		t.Errorf("tar %q", got)
	}
}
