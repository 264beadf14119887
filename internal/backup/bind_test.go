package backup

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"strings"
	"testing"

	"github.com/docker-backup/docker-backup/internal/dbdump"
	"github.com/docker-backup/docker-backup/internal/engine"
	"github.com/docker-backup/docker-backup/internal/project"
)

// A running database's files are never copied raw, whatever holds them:
// a bind mount on its data folder, one where its server or x-backup
// says, like a volume. Cold (--stop), they are.
func TestCollectVolumesLeavesLiveDataFoldersToTheDump(t *testing.T) {
	db := &project.Service{Name: "db", Image: "mariadb", Containers: []project.Container{{ID: "c", ImageID: "img", Running: true}},
		Volumes: []project.Mount{
			{Name: "/p/data/db", Target: "/var/lib/mysql", Bind: true},
			{Name: "/p/data/custom", Target: "/srv/mysql", Bind: true},
			{Name: "/p/data/conf", Target: "/etc/mysql/conf.d", Bind: true},
		}}
	d := &database{svc: db, plan: &dbdump.Plan{Engine: dbdump.MySQL, DataDir: "/srv/mysql"}}
	d.dataDirs = append(dbdump.For(dbdump.MySQL).DataDirs(nil), d.plan.DataDir)
	jobs, notes := collectVolumes([]*project.Service{db}, nil, []*database{d}, Options{IncludeBindMounts: true})
	if len(jobs) != 1 || jobs[0].name != "/p/data/conf" || jobs[0].target != "/etc/mysql/conf.d" {
		t.Errorf("jobs %+v: want the config folder only", jobs)
	}
	if len(notes) != 2 || !strings.Contains(notes[0], "bind mount /p/data/db of database service db holds the server's live files") {
		t.Errorf("notes %q", notes)
	}
	// The project folder, bind-mounted in an app, without them.
	app := &project.Service{Name: "app", Image: "app", Containers: []project.Container{{ID: "a", ImageID: "img", Running: true}},
		Volumes: []project.Mount{{Name: "/p", Target: "/app", Bind: true}}}
	jobs, notes = collectVolumes([]*project.Service{db, app}, nil, []*database{d}, Options{IncludeBindMounts: true})
	var proj *volumeJob
	for _, j := range jobs {
		if j.name == "/p" {
			proj = j
		}
	}
	if proj == nil || strings.Join(proj.exclude, ",") != "data/db,data/custom" || !strings.Contains(strings.Join(notes, "\n"), "the database's live files in /p/data/db are left out") {
		t.Errorf("project folder: %+v, notes %q", proj, notes)
	}
	jobs, _ = collectVolumes([]*project.Service{db}, nil, []*database{d}, Options{IncludeBindMounts: true, Stop: true})
	if len(jobs) != 3 || !jobs[2].raw {
		t.Errorf("cold: jobs %+v", jobs)
	}
}

// A system path is never read; a restore's safety backup reads only the
// bind mounts the restore writes.
func TestCollectVolumesSkipsSystemPaths(t *testing.T) {
	app := &project.Service{Name: "app", Image: "app", Containers: []project.Container{{ID: "c", ImageID: "img", Running: true}},
		Volumes: []project.Mount{
			{Name: "/", Target: "/host", Bind: true},
			{Name: "/etc/localtime", Target: "/etc/localtime", Bind: true},
			{Name: "/srv/docker/volumes", Target: "/v", Bind: true},
			{Name: "/p/files", Target: "/srv/files", Bind: true},
			{Name: "/p/other", Target: "/srv/other", Bind: true},
		}}
	jobs, notes := collectVolumes([]*project.Service{app}, nil, nil, Options{IncludeBindMounts: true, DataRoot: "/srv/docker"})
	if len(jobs) != 2 || len(notes) != 3 {
		t.Errorf("jobs %+v notes %q", jobs, notes)
	}
	jobs, _ = collectVolumes([]*project.Service{app}, nil, nil, Options{IncludeBindMounts: true, BindPaths: []string{"/p/files"}})
	if len(jobs) != 1 || jobs[0].name != "/p/files" {
		t.Errorf("safety backup: jobs %+v", jobs)
	}
}

type statEngine struct {
	Engine
	modes map[string]fs.FileMode
}

func (s statEngine) StatBind(_ context.Context, _, p string) (fs.FileMode, error) {
	m, ok := s.modes[p]
	if !ok {
		return 0, fmt.Errorf("%w: %s", engine.ErrNoHostPath, p)
	}
	return m, nil
}

// Sockets, devices and fifos are never read, nor missing paths; a file
// is archived as a file.
func TestStatBinds(t *testing.T) {
	eng := statEngine{modes: map[string]fs.FileMode{
		"/run/docker.sock": fs.ModeSocket | 0o660, "/dev/fuse": fs.ModeDevice | fs.ModeCharDevice, "/p/fifo": fs.ModeNamedPipe,
		"/p/app.conf": 0o644, "/p/files": fs.ModeDir | 0o755,
	}}
	var jobs []*volumeJob
	for _, p := range []string{"/run/docker.sock", "/dev/fuse", "/p/fifo", "/p/app.conf", "/p/files", "/p/missing"} {
		jobs = append(jobs, &volumeJob{name: p, bind: true, services: []string{"app"}})
	}
	jobs = append(jobs, &volumeJob{name: "shop_data"})
	out, notes, err := statBinds(context.Background(), eng, jobs)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, j := range out {
		got = append(got, fmt.Sprintf("%s:%v", j.name, j.file))
	}
	if strings.Join(got, " ") != "/p/app.conf:true /p/files:false shop_data:false" {
		t.Errorf("kept %v", got)
	}
	want := []string{"is a socket", "is a character device", "is a fifo", "does not exist"}
	if len(notes) != len(want) {
		t.Fatalf("notes %q", notes)
	}
	for i, w := range want {
		if !strings.Contains(notes[i], w) {
			t.Errorf("note %q, want %q", notes[i], w)
		}
	}
}

// The helper's tar of a bind-mounted file names it after the mount point:
// in the archive it is the tree's one file, under its own name.
func TestFileTree(t *testing.T) {
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	_ = tw.WriteHeader(&tar.Header{Name: "docker-backup-volume", Typeflag: tar.TypeReg, Size: 5, Mode: 0o640, Uid: 7})
	_, _ = tw.Write([]byte("hello"))
	_ = tw.Close()
	ft := &fileTree{Reader: tar.NewReader(&b), name: "app.conf"}
	hdr, err := ft.Next()
	if err != nil || hdr.Name != "./app.conf" || hdr.Uid != 7 {
		t.Fatalf("%+v %v", hdr, err)
	}
	if body, _ := io.ReadAll(ft); string(body) != "hello" {
		t.Errorf("body %q", body)
	}
	if _, err := ft.Next(); err != io.EOF {
		t.Errorf("after the file: %v", err)
	}

	b.Reset()
	tw = tar.NewWriter(&b)
	_ = tw.WriteHeader(&tar.Header{Name: "docker-backup-volume/", Typeflag: tar.TypeDir})
	_ = tw.Close()
	ft = &fileTree{Reader: tar.NewReader(&b), name: "app.conf"}
	if _, err := ft.Next(); err == nil || errors.Is(err, io.EOF) {
		t.Errorf("a folder where a file was: %v", err)
	}
}

// A bind-mounted folder that holds the archives' folder is archived
// without it.
func TestExcludeTree(t *testing.T) {
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, n := range []string{"./", "./src/", "./src/a.js", "./backups/", "./backups/x.tar.zst", "./backups-old", "./backupsx/"} {
		typ := byte(tar.TypeReg)
		if strings.HasSuffix(n, "/") {
			typ = tar.TypeDir
		}
		_ = tw.WriteHeader(&tar.Header{Name: n, Typeflag: typ, Size: 0})
	}
	_ = tw.Close()
	et := &excludeTree{TreeReader: tar.NewReader(&b), dirs: []string{"backups", "src/deep"}}
	var got []string
	for {
		hdr, err := et.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, hdr.Name)
	}
	if strings.Join(got, " ") != "./ ./src/ ./src/a.js ./backups-old ./backupsx/" {
		t.Errorf("entries %v", got)
	}
}

// Progress lines name a bind mount by the host path the user wrote, not by
// its name in the archive.
func TestVolumeJobLabels(t *testing.T) {
	app := &project.Service{Name: "app", Image: "app", Containers: []project.Container{{ID: "c", ImageID: "img", Running: true}},
		Volumes: []project.Mount{
			{Name: "shop_uploads", Target: "/srv/uploads"},
			{Name: "/p/files", Target: "/srv/files", Bind: true},
		}}
	jobs, _ := collectVolumes([]*project.Service{app}, nil, nil, Options{IncludeBindMounts: true})
	var got []string
	for _, j := range jobs {
		got = append(got, j.label())
	}
	slices.Sort(got)
	if strings.Join(got, ",") != "bind mount /p/files,volume shop_uploads" {
		t.Errorf("labels %q", got)
	}
}
