package restore

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"

	"github.com/docker-backup/docker-backup/internal/archive"
	"github.com/docker-backup/docker-backup/internal/engine"
	"github.com/docker-backup/docker-backup/internal/project"
)

func testManifest() *archive.Manifest {
	return &archive.Manifest{
		Project:  archive.Project{Name: "shop"},
		Services: []archive.Service{{Name: "db"}, {Name: "app"}},
		Databases: []archive.Database{{Service: "db", Engine: "postgres", Flavor: "PostgreSQL", Version: "15.1", Dumps: []archive.Dump{
			{Path: "databases/db/globals.sql", Kind: "globals"},
			{Path: "databases/db/appdb.pgdump", Database: "appdb", Kind: "database"},
			{Path: "databases/db/postgres.pgdump", Database: "postgres", Kind: "database"},
		}}},
		Volumes: []archive.Volume{
			{Name: "uploads", EngineName: "shop_uploads", Services: []string{"app"}},
			{Name: "bind_srv_conf", EngineName: "/srv/conf", Services: []string{"app"}},
		},
	}
}

// testProject is project name with db and app, running unless stopped.
func testProject(name string, running bool, withContainers bool) *project.Project {
	db := &project.Service{Name: "db", Image: "postgres:15", Volumes: []project.Mount{{Key: "dbdata", Name: name + "_dbdata", Target: "/var/lib/postgresql/data"}}}
	app := &project.Service{Name: "app", Image: "gcr.io/distroless/app", DependsOn: []string{"db"},
		Volumes: []project.Mount{{Key: "uploads", Name: name + "_uploads", Target: "/srv/uploads"}, {Name: "/srv/conf", Target: "/conf", Bind: true}}}
	if withContainers {
		db.Containers = []project.Container{{ID: "db1", ImageID: "sha256:pg", Running: running}}
		app.Containers = []project.Container{{ID: "app1", ImageID: "sha256:app", Running: running}}
	}
	return &project.Project{Name: name, Services: []*project.Service{db, app}}
}

func TestPlanMapsOntoAnotherProject(t *testing.T) {
	pl, err := makePlan(testProject("staging", true, true), testManifest(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(pl.volumes) != 1 || pl.volumes[0].Target != "staging_uploads" {
		t.Fatalf("volumes %+v", pl.volumes)
	}
	// The app's image may lack find: the others are tried after it.
	if got := strings.Join(pl.volumes[0].Images, ","); got != "sha256:app,sha256:pg" {
		t.Errorf("images %s", got)
	}
	if len(pl.dbs) != 1 || len(pl.dbs[0].Dumps) != 3 || pl.dbs[0].Dumps[0].Kind != "globals" {
		t.Errorf("dbs %+v", pl.dbs)
	}
	if pl.fresh || !pl.loaded["db"] {
		t.Errorf("fresh %v loaded %v", pl.fresh, pl.loaded)
	}
	stop := pl.stopSet()
	if len(stop) != 1 || stop[0].Name != "app" {
		t.Errorf("stop set %v: the loaded database must keep running", stop)
	}
	if len(pl.notes) != 1 || !strings.Contains(pl.notes[0], "bind mount") {
		t.Errorf("notes %q", pl.notes)
	}
	if got := strings.Join(pl.affected(), ","); got != "db,app" {
		t.Errorf("affected %s", got)
	}
}

func TestPlanFresh(t *testing.T) {
	pl, err := makePlan(testProject("shop", false, false), testManifest(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !pl.fresh || len(pl.stopSet()) != 0 {
		t.Errorf("fresh %v stop %v", pl.fresh, pl.stopSet())
	}
	// Stopped containers are not fresh, and stay stopped.
	pl, err = makePlan(testProject("shop", false, true), testManifest(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if pl.fresh || pl.wanted(project.Container{ID: "app1"}) {
		t.Errorf("fresh %v, stopped app wanted running", pl.fresh)
	}
}

func TestPlanSelection(t *testing.T) {
	p := testProject("shop", true, true)
	pl, err := makePlan(p, testManifest(), Options{Databases: []string{"appdb"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(pl.volumes) != 0 || len(pl.dbs) != 1 || len(pl.dbs[0].Dumps) != 2 || pl.dbs[0].Dumps[1].Database != "appdb" {
		t.Errorf("--database appdb: volumes %v dbs %+v", pl.volumes, pl.dbs)
	}
	pl, err = makePlan(p, testManifest(), Options{Services: []string{"app"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(pl.volumes) != 1 || len(pl.dbs) != 0 {
		t.Errorf("--service app: volumes %v dbs %v", pl.volumes, pl.dbs)
	}
	for _, tc := range []struct {
		opts Options
		want string
	}{
		{Options{Databases: []string{"nope"}}, "no database nope in the archive"},
		{Options{Services: []string{"cache"}}, `service "cache" in the archive of project shop`},
	} {
		if _, err := makePlan(p, testManifest(), tc.opts); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: got %v, want %q", tc.opts, err, tc.want)
		}
	}
	if _, err := makePlan(p, testManifest(), Options{Services: []string{"cache"}}); !errors.Is(err, project.ErrUnknownService) {
		t.Errorf("want ErrUnknownService, got %v", err)
	}
}

func TestPlanRefusesWhatDoesNotFit(t *testing.T) {
	m := testManifest()
	p := testProject("shop", true, true)
	p.Services[0].Image = "mariadb:11"
	if _, err := makePlan(p, m, Options{}); err == nil || !strings.Contains(err.Error(), "holds a PostgreSQL dump") {
		t.Errorf("engine mismatch: %v", err)
	}
	p = testProject("shop", true, true)
	p.Services[1].Volumes = p.Services[1].Volumes[1:]
	if _, err := makePlan(p, m, Options{}); err == nil || !strings.Contains(err.Error(), "volume uploads of the archive is not a volume of project shop") {
		t.Errorf("missing volume: %v", err)
	}
	p = testProject("shop", true, true)
	p.Services = p.Services[1:]
	if _, err := makePlan(p, m, Options{}); err == nil || !strings.Contains(err.Error(), "database service db") {
		t.Errorf("missing service: %v", err)
	}
}

func TestPlanHooks(t *testing.T) {
	p := testProject("shop", true, true)
	p.Services[0].Backup.RestoreHooks.BeforeStart = []project.Command{{"sh", "-c", "ANALYZE"}}
	p.Services[1].Backup.RestoreHooks.AfterStart = []project.Command{{"./migrate"}}
	pl, err := makePlan(p, testManifest(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := pl.checkHooks(); err != nil {
		t.Errorf("a database's before-start hook: %v", err)
	}
	if h := pl.hooks("after-start"); len(h) != 1 || h[0].service != "app" {
		t.Errorf("after-start hooks %+v", h)
	}
	p.Services[1].Backup.RestoreHooks.BeforeStart = []project.Command{{"true"}}
	pl, _ = makePlan(p, testManifest(), Options{})
	if err := pl.checkHooks(); err == nil || !strings.Contains(err.Error(), "after-start") {
		t.Errorf("a stopped service's before-start hook: %v", err)
	}
}

// rootOnlyDB is a PostgreSQL container whose image has no postgres user.
type rootOnlyDB struct{}

func (rootOnlyDB) ContainerList(context.Context, container.ListOptions) ([]container.Summary, error) {
	return nil, nil
}

func (rootOnlyDB) ContainerInspect(_ context.Context, id string) (container.InspectResponse, error) {
	return container.InspectResponse{ContainerJSONBase: &container.ContainerJSONBase{ID: id}, Config: &container.Config{Env: []string{"POSTGRES_PASSWORD=x"}}}, nil
}

func (rootOnlyDB) ImageInspect(context.Context, string, ...client.ImageInspectOption) (image.InspectResponse, error) {
	return image.InspectResponse{}, nil
}

func (rootOnlyDB) Exec(_ context.Context, _ string, o engine.ExecOptions) (int, error) {
	switch {
	case o.Cmd[0] == "id" && o.Cmd[1] == "-un":
		io.WriteString(o.Stdout, "root\n")
	case o.Cmd[0] == "id":
		return 1, nil
	case o.Cmd[0] == "psql" && strings.Contains(strings.Join(o.Cmd, " "), "server_version"):
		io.WriteString(o.Stdout, "15.18\n")
	case o.Cmd[0] == "psql" && strings.Contains(strings.Join(o.Cmd, " "), "rolsuper"):
		io.WriteString(o.Stdout, "true true\n")
	}
	return 0, nil
}

// What a server cannot do as it should reaches the plan's notes.
func TestPlanNotesALoadAsRoot(t *testing.T) {
	pl, err := makePlan(testProject("shop", true, true), testManifest(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := pl.connect(context.Background(), rootOnlyDB{}, rootOnlyDB{}, false, true); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, n := range pl.notes {
		found = found || strings.Contains(n, "service db: the container has no postgres user")
	}
	if !found {
		t.Errorf("notes %q", pl.notes)
	}
}

// The daemon's own service, which runs the restore, is never stopped.
func TestPlanLeavesTheExcludedServiceAlone(t *testing.T) {
	p := testProject("shop", true, true)
	p.Services = append(p.Services, &project.Service{Name: "backup", Image: "docker-backup/docker-backup",
		Containers: []project.Container{{ID: "backup1", Running: true}}})
	pl, err := makePlan(without(p, []string{"backup"}), testManifest(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	var stop []string
	for _, s := range pl.stopSet() {
		stop = append(stop, s.Name)
	}
	if strings.Join(stop, ",") != "app" {
		t.Fatalf("stops %v, want app alone", stop)
	}
	if len(p.Services) != 3 {
		t.Fatal("without changed the project it was given")
	}
	d := pl.describe("shop-1.tar.zst", "/safety/x.tar.zst")
	if strings.Join(d.Stop, ",") != "app" || d.SafetyBackup == "" || len(d.Volumes) != 1 || d.Databases[0].Dumps[0].Globals != true {
		t.Fatalf("plan event %+v", d)
	}
}

// On a standby, only the loaded database runs after the restore, even
// the app that ran before, and a project the restore creates is not
// started whole.
func TestStandbyPlanKeepsTheAppDown(t *testing.T) {
	for _, running := range []bool{true, false} {
		pl, err := makePlan(testProject("shop", running, true), testManifest(), Options{Standby: true})
		if err != nil {
			t.Fatal(err)
		}
		if !pl.wanted(project.Container{ID: "db1"}) || pl.wanted(project.Container{ID: "app1"}) {
			t.Errorf("running %v: wanted db %v, app %v; want the database only", running,
				pl.wanted(project.Container{ID: "db1"}), pl.wanted(project.Container{ID: "app1"}))
		}
		if !strings.Contains(strings.Join(pl.notes, "\n"), "standby") {
			t.Errorf("the plan does not say the app stays down: %q", pl.notes)
		}
	}
	pl, err := makePlan(testProject("shop", true, true), testManifest(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !pl.wanted(project.Container{ID: "app1"}) {
		t.Error("without Standby, the app that ran does not run again")
	}
}
