package restore

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/docker-backup/docker-backup/internal/archive"
	"github.com/docker-backup/docker-backup/internal/backup"
	"github.com/docker-backup/docker-backup/internal/engine"
	"github.com/docker-backup/docker-backup/internal/project"
)

// bindManifest is an archive of project shop, taken in /home/u/shop,
// holding its files folder, its config file, and a folder outside it.
func bindManifest() *archive.Manifest {
	return &archive.Manifest{
		Project:  archive.Project{Name: "shop", WorkingDir: "/home/u/shop"},
		Services: []archive.Service{{Name: "app"}},
		Volumes: []archive.Volume{
			{Name: "bind_home_u_shop_data_files", EngineName: "/home/u/shop/data/files", Target: "/srv/files", Services: []string{"app"}},
			{Name: "bind_home_u_shop_app.conf", EngineName: "/home/u/shop/app.conf", Target: "/etc/app.conf", Kind: archive.KindFile, Services: []string{"app"}},
			{Name: "bind_mnt_media", EngineName: "/mnt/media", Target: "/media", Services: []string{"app"}},
		},
	}
}

// bindProject is project name in dir, whose compose file puts the app's
// mounts where mounts says (container path -> host path).
func bindProject(name, dir string, mounts map[string]string) *project.Project {
	app := &project.Service{Name: "app", Image: "app", Containers: []project.Container{{ID: "app1", ImageID: "sha256:app", Running: true}}}
	for target, host := range mounts {
		app.Volumes = append(app.Volumes, project.Mount{Name: host, Target: target, Bind: true})
	}
	return &project.Project{Name: name, WorkingDir: dir, Services: []*project.Service{app}}
}

func targets(pl *plan) map[string]string {
	out := map[string]string{}
	for _, v := range pl.volumes {
		kind := "folder"
		if v.Place.File {
			kind = "file"
		}
		if v.Place.Path != v.Target {
			kind = "mismatch"
		}
		out[v.Name] = kind + " " + v.Target
	}
	return out
}

// The project folder's bind mounts are restored where the compose file
// puts them now: under another folder (another host, or a copy under
// another name), never at their old absolute paths. A folder outside the
// project folder only with --include-bind-mounts.
func TestPlanPlacesBindMountsUnderTheProjectFolder(t *testing.T) {
	// The project on a new host, in another folder.
	moved := bindProject("shop", "/srv/copy", map[string]string{
		"/srv/files": "/srv/copy/data/files", "/etc/app.conf": "/srv/copy/app.conf", "/media": "/mnt/media",
	})
	pl, err := makePlan(moved, bindManifest(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	got := targets(pl)
	if got["bind_home_u_shop_data_files"] != "folder /srv/copy/data/files" || got["bind_home_u_shop_app.conf"] != "file /srv/copy/app.conf" || len(got) != 2 {
		t.Errorf("targets %v", got)
	}
	if len(pl.notes) != 1 || !strings.Contains(pl.notes[0], "/mnt/media is outside the project folder; give --include-bind-mounts") {
		t.Errorf("notes %q", pl.notes)
	}
	if got := strings.Join(pl.bindPaths(), ","); got != "/srv/copy/data/files,/srv/copy/app.conf" {
		t.Errorf("the safety backup would hold %s", got)
	}

	pl, err = makePlan(moved, bindManifest(), Options{IncludeBindMounts: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := targets(pl); got["bind_mnt_media"] != "folder /mnt/media" {
		t.Errorf("with --include-bind-mounts: %v", got)
	}

	// A compose file without those mounts: the project folder's move
	// along with it.
	bare := bindProject("shop", "/srv/copy", nil)
	pl, err = makePlan(bare, bindManifest(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := targets(pl); got["bind_home_u_shop_data_files"] != "folder /srv/copy/data/files" {
		t.Errorf("without the mounts in the compose file: %v", got)
	}

	// The project folder itself holds the compose files: only on demand,
	// and the note says which folder it is.
	m := bindManifest()
	m.Volumes = []archive.Volume{{Name: "bind_home_u_shop", EngineName: "/home/u/shop", Target: "/project", Services: []string{"app"}}}
	pl, err = makePlan(bindProject("shop", "/srv/copy", map[string]string{"/project": "/srv/copy"}), m, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(pl.volumes) != 0 || len(pl.notes) != 1 || !strings.Contains(pl.notes[0], "/srv/copy is the project folder itself; give --include-bind-mounts") {
		t.Errorf("project folder: volumes %v, notes %q", targets(pl), pl.notes)
	}
}

// On a new host the project has no container yet: its bind mounts are
// planned under its folder, and the images that write them are found once
// the restore has created it.
func TestPlanBindMountsOfAProjectNotCreatedYet(t *testing.T) {
	fresh := bindProject("shop", "/srv/copy", map[string]string{"/srv/files": "/srv/copy/data/files", "/etc/app.conf": "/srv/copy/app.conf"})
	fresh.Services[0].Containers = nil
	pl, err := makePlan(fresh, bindManifest(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := targets(pl); !pl.fresh || got["bind_home_u_shop_data_files"] != "folder /srv/copy/data/files" || got["bind_home_u_shop_app.conf"] != "file /srv/copy/app.conf" {
		t.Errorf("fresh %v, targets %v", pl.fresh, got)
	}
	// Created, but with no container of the project: nothing could
	// write them.
	created := bindProject("shop", "/srv/copy", map[string]string{"/srv/files": "/srv/copy/data/files"})
	created.Services[0].Containers[0].ImageID = ""
	if _, err := makePlan(created, bindManifest(), Options{}); err == nil || !strings.Contains(err.Error(), "no container whose image could write it") {
		t.Errorf("err %v", err)
	}
}

// A copy under another name in the same folder never writes into the
// original's bind mounts.
func TestPlanKeepsACopyOutOfTheOriginalsBindMounts(t *testing.T) {
	same := bindProject("staging", "/home/u/shop", map[string]string{"/srv/files": "/home/u/shop/data/files"})
	m := bindManifest()
	m.Volumes = m.Volumes[:1]
	pl, err := makePlan(same, m, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(pl.volumes) != 0 || len(pl.notes) != 1 || !strings.Contains(pl.notes[0], "is project shop's own") {
		t.Errorf("volumes %v notes %q", targets(pl), pl.notes)
	}
	same.Name = "shop"
	if pl, err = makePlan(same, m, Options{}); err != nil || len(pl.volumes) != 1 {
		t.Errorf("the project itself: %v %v", targets(pl), err)
	}
}

// A bind mount whose host path is the system's, or holds the archive, is
// refused before anything changes.
func TestPlanRefusesSystemAndArchiveBindMounts(t *testing.T) {
	for _, c := range []struct {
		host, archive, want string
	}{
		{"/etc", "", "refused, /etc is in the system folder /etc"},
		{"/var/lib/docker/volumes/x", "", "refused, /var/lib/docker/volumes/x is in the system folder /var/lib/docker"},
		{"/", "", "refused, / is a system folder"},
		{"/data/docker/x", "", "in the engine's data root /data/docker"},
		{"/home/u/shop/data/files", "/home/u/shop/data/files/b.tar.zst", "which holds /home/u/shop/data/files/b.tar.zst"},
	} {
		m := bindManifest()
		m.Volumes = m.Volumes[:1]
		p := bindProject("shop", "/home/u/shop", map[string]string{"/srv/files": c.host})
		_, err := makePlan(p, m, Options{IncludeBindMounts: true, Archive: c.archive, DataRoot: "/data/docker"})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.host, err, c.want)
		}
	}
}

type canReplace map[string]error

func (c canReplace) CanReplace(_ context.Context, db string) error { return c[db] }

// With a user that may not manage accounts, the users and grants are
// left out, and a database it may not replace fails the plan.
func TestLimitToWhatTheUserMayDo(t *testing.T) {
	d := &dbTarget{Dumps: []archive.Dump{{Kind: "globals"}, {Kind: "database", Database: "shop"}}}
	if err := d.limitTo(context.Background(), canReplace{}); err != nil {
		t.Fatal(err)
	}
	if len(d.Dumps) != 1 || d.Dumps[0].Database != "shop" {
		t.Errorf("dumps %+v", d.Dumps)
	}
	d = &dbTarget{Dumps: []archive.Dump{{Kind: "database", Database: "shop"}, {Kind: "database", Database: "crm"}}}
	err := d.limitTo(context.Background(), canReplace{"crm": errors.New("user shop may not replace database crm")})
	if err == nil || !strings.Contains(err.Error(), "may not replace database crm: nothing was changed; to restore only what this user may, give --database shop") {
		t.Errorf("err %v", err)
	}
	d = &dbTarget{Dumps: []archive.Dump{{Kind: "database", Database: "crm"}}}
	err = d.limitTo(context.Background(), canReplace{"crm": errors.New("user shop may not replace database crm")})
	if err == nil || !strings.HasSuffix(err.Error(), "may not replace database crm: nothing was changed") {
		t.Errorf("err %v", err)
	}
}

// Progress lines and the summary before the load name bind mounts as the
// plan does, by their host path, apart from volumes.
func TestBindMountLabels(t *testing.T) {
	data, m := testArchive(t)
	w := testWork(m, &fakeServer{})
	w.volumes[0].Place = engine.Place{Path: "/srv/shop/uploads"}
	// Lines is written from each loader's goroutine.
	var buf lockedBuffer
	if err := apply(context.Background(), bytes.NewReader(data), m, w, &fakeVolumes{}, backup.Lines{W: &buf}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "\nbind mount /srv/shop/uploads: ") && !strings.HasPrefix(buf.String(), "bind mount /srv/shop/uploads: ") {
		t.Errorf("progress:\n%s", buf.String())
	}
	pl := &plan{volumes: []*volumeTarget{w.volumes[0], w.volumes[0], {Target: "shop_data", Place: engine.VolumePlace("shop_data")}}, dbs: w.dbs}
	if got := pl.summary(); got != "1 volume, 2 bind mounts and 1 database service" {
		t.Errorf("summary %q", got)
	}
	if got := (&plan{}).summary(); got != "nothing" {
		t.Errorf("empty summary %q", got)
	}
}

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
