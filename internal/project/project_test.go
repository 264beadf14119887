package project

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/container"
)

// fakeLister is a containerLister that answers with a fixed list, filtered
// by the label filters it receives, as the engine would.
type fakeLister struct {
	containers []container.Summary
	err        error
	calls      []container.ListOptions
}

func (f *fakeLister) ContainerList(_ context.Context, opts container.ListOptions) ([]container.Summary, error) {
	f.calls = append(f.calls, opts)
	if f.err != nil {
		return nil, f.err
	}
	var out []container.Summary
	for _, c := range f.containers {
		ok := true
		for _, l := range opts.Filters.Get("label") {
			k, v, hasValue := strings.Cut(l, "=")
			got, set := c.Labels[k]
			if !set || (hasValue && got != v) {
				ok = false
			}
		}
		if ok {
			out = append(out, c)
		}
	}
	return out, nil
}

// writeFiles creates files (path relative to dir → content) and returns dir.
func writeFiles(t *testing.T, dir string, files map[string]string) string {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// projectDir makes a temp folder named name holding files.
func projectDir(t *testing.T, name string, files map[string]string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), name)
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return writeFiles(t, dir, files)
}

func serviceNames(p *Project) []string {
	var out []string
	for _, s := range p.Services {
		out = append(out, s.Name)
	}
	return out
}

func mustService(t *testing.T, p *Project, name string) *Service {
	t.Helper()
	s, err := p.Service(name)
	if err != nil {
		t.Fatalf("service %s: %v (services: %v)", name, err, serviceNames(p))
	}
	return s
}

func composeLabels(project, service, number string) map[string]string {
	return map[string]string{
		LabelProject: project,
		LabelService: service,
		LabelOneoff:  "False",
		LabelNumber:  number,
	}
}

const simpleCompose = `
services:
  db:
    image: postgres:16
  web:
    image: nginx
    depends_on: [db]
`

func TestLoadProjectName(t *testing.T) {
	named := "name: from-file\n" + simpleCompose
	tests := []struct {
		desc    string
		compose string
		opts    Options
		want    string
	}{
		{desc: "folder name", compose: simpleCompose, want: "myfolder"},
		{desc: "name in the file", compose: named, want: "from-file"},
		{desc: "-p wins over name:", compose: named, opts: Options{Name: "flag"}, want: "flag"},
		{desc: "COMPOSE_PROJECT_NAME over the folder", compose: simpleCompose,
			opts: Options{Environment: []string{"COMPOSE_PROJECT_NAME=fromenv"}}, want: "fromenv"},
		{desc: "-p wins over COMPOSE_PROJECT_NAME", compose: simpleCompose,
			opts: Options{Name: "flag", Environment: []string{"COMPOSE_PROJECT_NAME=fromenv"}}, want: "flag"},
		{desc: "folder name normalized", compose: simpleCompose, want: "myfolder"},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			dir := projectDir(t, "MyFolder", map[string]string{"compose.yaml": tt.compose})
			opts := tt.opts
			opts.WorkingDir = dir
			if opts.Environment == nil {
				opts.Environment = []string{}
			}
			lister := &fakeLister{}
			p, err := Load(context.Background(), lister, opts)
			if err != nil {
				t.Fatal(err)
			}
			if p.Name != tt.want {
				t.Errorf("name = %q, want %q", p.Name, tt.want)
			}
			if p.Model == nil {
				t.Fatal("Model is nil")
			}
			if p.WorkingDir != dir {
				t.Errorf("WorkingDir = %q, want %q", p.WorkingDir, dir)
			}
			if want := []string{filepath.Join(dir, "compose.yaml")}; !reflect.DeepEqual(p.ConfigFiles, want) {
				t.Errorf("ConfigFiles = %v, want %v", p.ConfigFiles, want)
			}
			if len(lister.calls) != 1 {
				t.Fatalf("ContainerList called %d times", len(lister.calls))
			}
			if got := lister.calls[0].Filters.Get("label"); !contains(got, LabelProject+"="+tt.want) {
				t.Errorf("filters %v do not select project %s", got, tt.want)
			}
		})
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func TestLoadFindsComposeFileInParent(t *testing.T) {
	dir := projectDir(t, "parent", map[string]string{
		"compose.yaml":          simpleCompose,
		"compose.override.yaml": "services:\n  web:\n    image: nginx:override\n",
		"sub/deeper/.keep":      "",
	})
	p, err := Load(context.Background(), &fakeLister{}, Options{WorkingDir: filepath.Join(dir, "sub", "deeper"), Environment: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	if p.Name != "parent" || p.WorkingDir != dir {
		t.Errorf("name %q, dir %q; want parent, %s", p.Name, p.WorkingDir, dir)
	}
	if got := mustService(t, p, "web").Image; got != "nginx:override" {
		t.Errorf("override not applied: web image %q", got)
	}
	if len(p.ConfigFiles) != 2 {
		t.Errorf("ConfigFiles = %v, want compose.yaml and compose.override.yaml", p.ConfigFiles)
	}
}

func TestLoadFiles(t *testing.T) {
	base := `
services:
  db:
    image: postgres:15
    environment:
      A: base
  web:
    image: nginx
`
	override := `
services:
  db:
    image: postgres:16
    environment:
      B: override
  worker:
    image: myapp
`
	tests := []struct {
		desc string
		opts Options
	}{
		{desc: "-f twice", opts: Options{Files: []string{"base.yml", "override.yml"}, Environment: []string{}}},
		{desc: "-f absolute", opts: Options{Files: []string{"ABS/base.yml", "ABS/override.yml"}, Environment: []string{}}},
		{desc: "COMPOSE_FILE", opts: Options{Environment: []string{"COMPOSE_FILE=base.yml" + string(os.PathListSeparator) + "override.yml"}}},
		{desc: "COMPOSE_FILE with separator", opts: Options{Environment: []string{"COMPOSE_FILE=base.yml,override.yml", "COMPOSE_PATH_SEPARATOR=,"}}},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			dir := projectDir(t, "multi", map[string]string{
				"base.yml":     base,
				"override.yml": override,
				// Not read: files given explicitly win.
				"compose.yaml": "services:\n  wrong:\n    image: wrong\n",
			})
			opts := tt.opts
			opts.WorkingDir = dir
			for i, f := range opts.Files {
				opts.Files[i] = strings.Replace(f, "ABS", dir, 1)
			}
			p, err := Load(context.Background(), &fakeLister{}, opts)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := serviceNames(p), []string{"db", "web", "worker"}; !reflect.DeepEqual(got, want) {
				t.Fatalf("services = %v, want %v", got, want)
			}
			if img := mustService(t, p, "db").Image; img != "postgres:16" {
				t.Errorf("db image %q, want postgres:16 from the override", img)
			}
			env := p.Model.Services["db"].Environment
			if env["A"] == nil || *env["A"] != "base" || env["B"] == nil || *env["B"] != "override" {
				t.Errorf("environment not merged: %v", env)
			}
			want := []string{filepath.Join(dir, "base.yml"), filepath.Join(dir, "override.yml")}
			if !reflect.DeepEqual(p.ConfigFiles, want) {
				t.Errorf("ConfigFiles = %v, want %v", p.ConfigFiles, want)
			}
		})
	}
}

func TestLoadEnvFiles(t *testing.T) {
	compose := `
services:
  db:
    image: postgres:${PG_TAG:-latest}
`
	tests := []struct {
		desc  string
		files map[string]string
		opts  Options
		want  string
	}{
		{desc: "no .env", want: "postgres:latest"},
		{desc: ".env", files: map[string]string{".env": "PG_TAG=16\n"}, want: "postgres:16"},
		{desc: "environment wins over .env", files: map[string]string{".env": "PG_TAG=16\n"},
			opts: Options{Environment: []string{"PG_TAG=17"}}, want: "postgres:17"},
		{desc: "--env-file replaces .env", files: map[string]string{".env": "PG_TAG=16\n", "other.env": "PG_TAG=15\n"},
			opts: Options{EnvFiles: []string{"other.env"}}, want: "postgres:15"},
		{desc: "--env-file absolute", files: map[string]string{"conf/other.env": "PG_TAG=14\n"},
			opts: Options{EnvFiles: []string{"ABS/conf/other.env"}}, want: "postgres:14"},
		{desc: "later --env-file wins", files: map[string]string{"a.env": "PG_TAG=13\n", "b.env": "PG_TAG=12\n"},
			opts: Options{EnvFiles: []string{"a.env", "b.env"}}, want: "postgres:12"},
		{desc: "COMPOSE_PROJECT_NAME from .env", files: map[string]string{".env": "COMPOSE_PROJECT_NAME=dotenv\nPG_TAG=16\n"},
			want: "postgres:16"},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			files := map[string]string{"compose.yaml": compose}
			for k, v := range tt.files {
				files[k] = v
			}
			dir := projectDir(t, "envs", files)
			opts := tt.opts
			opts.WorkingDir = dir
			if opts.Environment == nil {
				opts.Environment = []string{}
			}
			for i, f := range opts.EnvFiles {
				opts.EnvFiles[i] = strings.Replace(f, "ABS", dir, 1)
			}
			p, err := Load(context.Background(), &fakeLister{}, opts)
			if err != nil {
				t.Fatal(err)
			}
			if img := mustService(t, p, "db").Image; img != tt.want {
				t.Errorf("image %q, want %q", img, tt.want)
			}
			if strings.Contains(tt.files[".env"], "COMPOSE_PROJECT_NAME=dotenv") && p.Name != "dotenv" {
				t.Errorf("name %q, want dotenv from .env", p.Name)
			}
		})
	}
}

func TestLoadEnvFileRelativeToWorkingDir(t *testing.T) {
	// The project folder and the folder the command runs in differ: a
	// relative --env-file is relative to where the command runs.
	root := t.TempDir()
	writeFiles(t, root, map[string]string{
		"proj/compose.yaml": "services:\n  db:\n    image: postgres:${PG_TAG}\n",
		"run/my.env":        "PG_TAG=16\n",
	})
	p, err := Load(context.Background(), &fakeLister{}, Options{
		WorkingDir:  filepath.Join(root, "run"),
		Files:       []string{"../proj/compose.yaml"},
		EnvFiles:    []string{"my.env"},
		Environment: []string{},
	})
	if err != nil {
		t.Fatal(err)
	}
	if img := mustService(t, p, "db").Image; img != "postgres:16" {
		t.Errorf("image %q, want postgres:16", img)
	}
	if p.Name != "proj" {
		t.Errorf("name %q, want proj", p.Name)
	}
}

func TestLoadProjectDirectory(t *testing.T) {
	root := t.TempDir()
	writeFiles(t, root, map[string]string{
		"files/compose.yaml": "services:\n  db:\n    image: postgres:${PG_TAG}\n    volumes: [./data:/data]\n",
		"app/.env":           "PG_TAG=16\n",
	})
	p, err := Load(context.Background(), &fakeLister{}, Options{
		WorkingDir:  root,
		Files:       []string{"files/compose.yaml"},
		ProjectDir:  "app",
		Environment: []string{},
	})
	if err != nil {
		t.Fatal(err)
	}
	app := filepath.Join(root, "app")
	if p.Name != "app" || p.WorkingDir != app {
		t.Errorf("name %q dir %q, want app %s", p.Name, p.WorkingDir, app)
	}
	db := mustService(t, p, "db")
	if db.Image != "postgres:16" {
		t.Errorf("image %q: .env of the project directory not read", db.Image)
	}
	if len(db.Volumes) != 1 || db.Volumes[0].Name != filepath.Join(app, "data") {
		t.Errorf("bind mount not relative to the project directory: %+v", db.Volumes)
	}
}

func TestLoadProfiles(t *testing.T) {
	compose := `
services:
  db:
    image: postgres:16
  debug:
    image: busybox
    profiles: [debug]
  tools:
    image: busybox
    profiles: [tools]
`
	tests := []struct {
		desc string
		opts Options
		want []string
	}{
		{desc: "none", want: []string{"db"}},
		{desc: "--profile", opts: Options{Profiles: []string{"debug"}}, want: []string{"db", "debug"}},
		{desc: "two profiles", opts: Options{Profiles: []string{"debug", "tools"}}, want: []string{"db", "debug", "tools"}},
		{desc: "COMPOSE_PROFILES", opts: Options{Environment: []string{"COMPOSE_PROFILES=tools,debug"}}, want: []string{"db", "debug", "tools"}},
		{desc: "--profile wins over COMPOSE_PROFILES", opts: Options{Profiles: []string{"tools"}, Environment: []string{"COMPOSE_PROFILES=debug"}}, want: []string{"db", "tools"}},
		{desc: "all", opts: Options{Profiles: []string{"*"}}, want: []string{"db", "debug", "tools"}},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			dir := projectDir(t, "profiles", map[string]string{"compose.yaml": compose})
			opts := tt.opts
			opts.WorkingDir = dir
			if opts.Environment == nil {
				opts.Environment = []string{}
			}
			p, err := Load(context.Background(), &fakeLister{}, opts)
			if err != nil {
				t.Fatal(err)
			}
			if got := serviceNames(p); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("services = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestLoadVolumes(t *testing.T) {
	compose := `
name: shop
services:
  db:
    image: postgres:16
    volumes:
      - pgdata:/var/lib/postgresql/data
      - ./init:/docker-entrypoint-initdb.d:ro
      - /var/lib/postgresql/extra
  app:
    image: myapp
    volumes:
      - type: volume
        source: uploads
        target: /uploads
      - shared:/shared
      - type: bind
        source: /srv/config
        target: /config
volumes:
  pgdata:
  uploads:
    name: custom-uploads
  shared:
    external: true
`
	dir := projectDir(t, "vols", map[string]string{"compose.yaml": compose})
	p, err := Load(context.Background(), &fakeLister{}, Options{WorkingDir: dir, Environment: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	wantDB := []Mount{
		{Key: "pgdata", Name: "shop_pgdata", Target: "/var/lib/postgresql/data"},
		{Name: filepath.Join(dir, "init"), Target: "/docker-entrypoint-initdb.d", Bind: true},
		{Target: "/var/lib/postgresql/extra", Anonymous: true},
	}
	if got := mustService(t, p, "db").Volumes; !reflect.DeepEqual(got, wantDB) {
		t.Errorf("db volumes:\n got %+v\nwant %+v", got, wantDB)
	}
	wantApp := []Mount{
		{Key: "uploads", Name: "custom-uploads", Target: "/uploads"},
		{Key: "shared", Name: "shared", Target: "/shared", External: true},
		{Name: "/srv/config", Target: "/config", Bind: true},
	}
	if got := mustService(t, p, "app").Volumes; !reflect.DeepEqual(got, wantApp) {
		t.Errorf("app volumes:\n got %+v\nwant %+v", got, wantApp)
	}
}

func TestLoadDependencyOrder(t *testing.T) {
	compose := `
services:
  web:
    image: nginx
    depends_on:
      api:
        condition: service_healthy
  api:
    image: myapp
    depends_on: [db, cache]
  worker:
    image: myapp
    depends_on: [db]
  db:
    image: postgres:16
  cache:
    image: redis:7
  admin:
    build: ./admin
`
	dir := projectDir(t, "order", map[string]string{"compose.yaml": compose})
	p, err := Load(context.Background(), &fakeLister{}, Options{WorkingDir: dir, Environment: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	// Dependencies first, ties by name.
	want := []string{"admin", "cache", "db", "api", "web", "worker"}
	if got := serviceNames(p); !reflect.DeepEqual(got, want) {
		t.Errorf("order = %v, want %v", got, want)
	}
	pos := map[string]int{}
	for i, s := range p.Services {
		pos[s.Name] = i
	}
	for _, s := range p.Services {
		for _, d := range s.DependsOn {
			if pos[d] > pos[s.Name] {
				t.Errorf("%s comes before its dependency %s", s.Name, d)
			}
		}
	}
	if got := mustService(t, p, "api").DependsOn; !reflect.DeepEqual(got, []string{"cache", "db"}) {
		t.Errorf("api depends on %v", got)
	}
	if got := mustService(t, p, "admin").Image; got != "order-admin" {
		t.Errorf("built image name %q, want order-admin", got)
	}
}

func TestLoadContainers(t *testing.T) {
	compose := `
services:
  db:
    image: postgres:16
    container_name: my-postgres
  web:
    image: nginx
    depends_on: [db]
  idle:
    image: busybox
`
	dir := projectDir(t, "shop", map[string]string{"compose.yaml": compose})
	withNames := func(c container.Summary, name string) container.Summary {
		c.Names = []string{"/" + name}
		return c
	}
	oneoff := composeLabels("shop", "web", "1")
	oneoff[LabelOneoff] = "True"
	lister := &fakeLister{containers: []container.Summary{
		withNames(container.Summary{ID: "web3", ImageID: "sha256:nginx", State: "running", Labels: composeLabels("shop", "web", "3")}, "shop-web-3"),
		withNames(container.Summary{ID: "web10", ImageID: "sha256:nginx", State: "exited", Labels: composeLabels("shop", "web", "10")}, "shop-web-10"),
		withNames(container.Summary{ID: "web1", ImageID: "sha256:nginx", State: "exited", Labels: composeLabels("shop", "web", "1")}, "shop-web-1"),
		withNames(container.Summary{ID: "web2", ImageID: "sha256:nginx", State: "running", Labels: composeLabels("shop", "web", "2")}, "shop-web-2"),
		withNames(container.Summary{ID: "run1", ImageID: "sha256:nginx", State: "running", Labels: oneoff}, "shop-web-run-abc"),
		withNames(container.Summary{ID: "pg", ImageID: "sha256:pg", State: "running", Labels: composeLabels("shop", "db", "1")}, "my-postgres"),
		withNames(container.Summary{ID: "orphan", State: "running", Labels: composeLabels("shop", "gone", "1")}, "shop-gone-1"),
		withNames(container.Summary{ID: "other", State: "running", Labels: composeLabels("other", "db", "1")}, "other-db-1"),
		{ID: "nolabels", State: "running", Labels: map[string]string{}},
	}}
	p, err := Load(context.Background(), lister, Options{WorkingDir: dir, Environment: []string{}})
	if err != nil {
		t.Fatal(err)
	}

	if len(lister.calls) != 1 {
		t.Fatalf("ContainerList called %d times", len(lister.calls))
	}
	call := lister.calls[0]
	if !call.All {
		t.Error("ContainerList without All: stopped containers are missed")
	}
	labels := call.Filters.Get("label")
	for _, want := range []string{LabelProject + "=shop", LabelOneoff + "=False"} {
		if !contains(labels, want) {
			t.Errorf("label filters %v lack %s", labels, want)
		}
	}

	if got := serviceNames(p); !reflect.DeepEqual(got, []string{"db", "idle", "web"}) {
		t.Errorf("services %v: orphans must not be added", got)
	}
	db := mustService(t, p, "db")
	if want := []Container{{ID: "pg", Name: "my-postgres", ImageID: "sha256:pg", Number: 1, Running: true, State: "running"}}; !reflect.DeepEqual(db.Containers, want) {
		t.Errorf("db containers %+v, want %+v", db.Containers, want)
	}
	web := mustService(t, p, "web")
	var ids []string
	for _, c := range web.Containers {
		ids = append(ids, c.ID)
	}
	if want := []string{"web1", "web2", "web3", "web10"}; !reflect.DeepEqual(ids, want) {
		t.Errorf("web containers %v, want %v (by container number, one-off excluded)", ids, want)
	}
	if !web.Running() {
		t.Error("web.Running() = false")
	}
	if c, ok := web.Primary(); !ok || c.ID != "web2" {
		t.Errorf("web.Primary() = %v %v, want the lowest-numbered running container web2", c.ID, ok)
	}
	idle := mustService(t, p, "idle")
	if idle.Running() {
		t.Error("idle.Running() = true without containers")
	}
	if _, ok := idle.Primary(); ok {
		t.Error("idle.Primary() found a container")
	}
	if web.Containers[0].Running || web.Containers[0].State != "exited" {
		t.Errorf("web1 state %+v", web.Containers[0])
	}
}

func TestLoadListError(t *testing.T) {
	dir := projectDir(t, "shop", map[string]string{"compose.yaml": simpleCompose})
	boom := errors.New("engine unreachable")
	_, err := Load(context.Background(), &fakeLister{err: boom}, Options{WorkingDir: dir, Environment: []string{}})
	if !errors.Is(err, boom) {
		t.Errorf("err = %v, want it to wrap %v", err, boom)
	}
}

func TestLoadByLabels(t *testing.T) {
	anon := strings.Repeat("ab", 32)
	dbLabels := composeLabels("legacy", "db", "1")
	dbLabels[LabelWorkingDir] = "/srv/legacy"
	webLabels := composeLabels("legacy", "web", "1")
	webLabels[LabelDependsOn] = "db:service_started:false,cache:service_healthy:true"
	web2Labels := composeLabels("legacy", "web", "2")
	web2Labels[LabelDependsOn] = webLabels[LabelDependsOn]
	cacheLabels := composeLabels("legacy", "cache", "1")
	lister := &fakeLister{containers: []container.Summary{
		{ID: "w2", Names: []string{"/legacy-web-2"}, Image: "nginx:1", State: "running", Labels: web2Labels,
			Mounts: []container.MountPoint{{Type: "volume", Name: "legacy_static", Destination: "/static"}}},
		{ID: "w1", Names: []string{"/legacy-web-1"}, Image: "nginx:1", State: "running", Labels: webLabels,
			Mounts: []container.MountPoint{
				{Type: "volume", Name: "legacy_static", Destination: "/static"},
				{Type: "bind", Source: "/srv/legacy/conf", Destination: "/etc/nginx/conf.d"},
			}},
		{ID: "d1", Names: []string{"/legacy-db-1"}, Image: "postgres:16", State: "exited", Labels: dbLabels,
			Mounts: []container.MountPoint{
				{Type: "volume", Name: "legacy_pgdata", Destination: "/var/lib/postgresql/data"},
				{Type: "volume", Name: anon, Destination: "/tmp/anon"},
				{Type: "tmpfs", Destination: "/run"},
			}},
		{ID: "c1", Names: []string{"/legacy-cache-1"}, Image: "redis:7", State: "running", Labels: cacheLabels},
	}}
	tests := []struct {
		desc string
		opts Options
	}{
		{desc: "-p", opts: Options{Name: "legacy"}},
		{desc: "COMPOSE_PROJECT_NAME", opts: Options{Environment: []string{"COMPOSE_PROJECT_NAME=legacy"}}},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			lister.calls = nil
			opts := tt.opts
			opts.WorkingDir = t.TempDir() // no compose file here
			if opts.Environment == nil {
				opts.Environment = []string{}
			}
			p, err := Load(context.Background(), lister, opts)
			if err != nil {
				t.Fatal(err)
			}
			if p.Name != "legacy" || p.Model != nil || p.WorkingDir != "/srv/legacy" {
				t.Errorf("name %q model %v dir %q", p.Name, p.Model != nil, p.WorkingDir)
			}
			if labels := lister.calls[0].Filters.Get("label"); !contains(labels, LabelProject+"=legacy") || !contains(labels, LabelOneoff+"=False") {
				t.Errorf("label filters %v", labels)
			}
			if got, want := serviceNames(p), []string{"cache", "db", "web"}; !reflect.DeepEqual(got, want) {
				t.Errorf("services %v, want %v", got, want)
			}
			web := mustService(t, p, "web")
			if web.Image != "nginx:1" || !reflect.DeepEqual(web.DependsOn, []string{"db", "cache"}) {
				t.Errorf("web image %q depends on %v", web.Image, web.DependsOn)
			}
			if len(web.Containers) != 2 || web.Containers[0].ID != "w1" || web.Containers[1].ID != "w2" {
				t.Errorf("web containers %+v", web.Containers)
			}
			wantWeb := []Mount{
				{Name: "legacy_static", Target: "/static"},
				{Name: "/srv/legacy/conf", Target: "/etc/nginx/conf.d", Bind: true},
			}
			if !reflect.DeepEqual(web.Volumes, wantWeb) {
				t.Errorf("web volumes %+v, want %+v (each once)", web.Volumes, wantWeb)
			}
			db := mustService(t, p, "db")
			if want := []Mount{{Name: "legacy_pgdata", Target: "/var/lib/postgresql/data"}}; !reflect.DeepEqual(db.Volumes, want) {
				t.Errorf("db volumes %+v, want %+v (anonymous volume skipped)", db.Volumes, want)
			}
			if db.Running() {
				t.Error("exited db reported running")
			}
			if len(db.DependsOn) != 0 {
				t.Errorf("db depends on %v", db.DependsOn)
			}
		})
	}
}

func TestLoadInvalidProjectName(t *testing.T) {
	// As docker compose: -p must already be a valid project name.
	_, err := Load(context.Background(), &fakeLister{}, Options{Name: "Legacy", WorkingDir: t.TempDir(), Environment: []string{}})
	if err == nil || !strings.Contains(err.Error(), "invalid project name") {
		t.Errorf("err = %v, want invalid project name", err)
	}
}

func TestLoadNoProject(t *testing.T) {
	tests := []struct {
		desc string
		opts Options
	}{
		{desc: "no file, no name"},
		{desc: "no file, no containers", opts: Options{Name: "ghost"}},
		{desc: "no file, no containers, COMPOSE_PROJECT_NAME", opts: Options{Environment: []string{"COMPOSE_PROJECT_NAME=ghost"}}},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			opts := tt.opts
			opts.WorkingDir = t.TempDir()
			if opts.Environment == nil {
				opts.Environment = []string{}
			}
			lister := &fakeLister{containers: []container.Summary{
				{ID: "x", State: "running", Labels: composeLabels("other", "db", "1")},
			}}
			p, err := Load(context.Background(), lister, opts)
			if !errors.Is(err, ErrNoProject) {
				t.Fatalf("Load = %v, %v; want ErrNoProject", p, err)
			}
		})
	}
}

func TestLoadInvalidComposeFile(t *testing.T) {
	dir := projectDir(t, "bad", map[string]string{"compose.yaml": "services:\n  db:\n    image: [not, a, string]\n"})
	_, err := Load(context.Background(), &fakeLister{}, Options{WorkingDir: dir, Environment: []string{}})
	if err == nil || errors.Is(err, ErrNoProject) {
		t.Errorf("err = %v, want a compose error", err)
	}
	_, err = Load(context.Background(), &fakeLister{}, Options{WorkingDir: dir, Files: []string{"missing.yaml"}, Environment: []string{}})
	if err == nil || errors.Is(err, ErrNoProject) {
		t.Errorf("missing -f file: err = %v, want an error", err)
	}
}

func TestServiceUnknown(t *testing.T) {
	dir := projectDir(t, "shop", map[string]string{"compose.yaml": simpleCompose})
	p, err := Load(context.Background(), &fakeLister{}, Options{WorkingDir: dir, Environment: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	s, err := p.Service("nope")
	if !errors.Is(err, ErrUnknownService) || s != nil {
		t.Errorf("Service(nope) = %v, %v; want ErrUnknownService", s, err)
	}
	if !strings.Contains(err.Error(), `"nope"`) || !strings.Contains(err.Error(), "shop") {
		t.Errorf("error %q names neither the service nor the project", err)
	}
}

func TestLoadExtension(t *testing.T) {
	compose := `
services:
  db:
    image: postgres:16
    x-backup:
      exclude-table: ["*.sessions"]
      exclude-table-data: [app.public.audit]
      user-env: APP_USER
      password-env: APP_PASSWORD
  cache:
    image: redis:7
    x-backup:
      include: true
      bind-mounts: true
  web:
    image: nginx
    x-backup:
      skip: true
  weird:
    image: myapp
    x-backup:
      engine: oracle
  typo:
    image: myapp
    x-backup:
      skip: "yes please"
  plain:
    image: myapp
`
	dir := projectDir(t, "ext", map[string]string{"compose.yaml": compose})
	p, err := Load(context.Background(), &fakeLister{}, Options{WorkingDir: dir, Environment: []string{}})
	if err != nil {
		t.Fatalf("an invalid x-backup must not fail Load: %v", err)
	}
	tests := []struct {
		service string
		want    Extension
		wantErr string
	}{
		{service: "db", want: Extension{ExcludeTable: []string{"*.sessions"}, ExcludeTableData: []string{"app.public.audit"}, UserEnv: "APP_USER", PasswordEnv: "APP_PASSWORD"}},
		{service: "cache", want: Extension{Include: true, BindMounts: true}},
		{service: "web", want: Extension{Skip: true}},
		{service: "plain", want: Extension{}},
		{service: "weird", wantErr: `invalid x-backup engine "oracle"`},
		{service: "typo", wantErr: "invalid x-backup"},
	}
	for _, tt := range tests {
		s := mustService(t, p, tt.service)
		if tt.wantErr != "" {
			if s.BackupErr == nil || !strings.Contains(s.BackupErr.Error(), tt.wantErr) {
				t.Errorf("%s: BackupErr = %v, want %q", tt.service, s.BackupErr, tt.wantErr)
			}
			continue
		}
		if s.BackupErr != nil {
			t.Errorf("%s: BackupErr = %v", tt.service, s.BackupErr)
		}
		if !reflect.DeepEqual(s.Backup, tt.want) {
			t.Errorf("%s: Backup = %+v, want %+v", tt.service, s.Backup, tt.want)
		}
	}
}

func TestDecodeExtension(t *testing.T) {
	tests := []struct {
		raw     any
		want    Extension
		wantErr bool
	}{
		{raw: nil, want: Extension{}},
		{raw: map[string]any{"engine": "postgres"}, want: Extension{Engine: "postgres"}},
		{raw: map[string]any{"engine": "mysql"}, want: Extension{Engine: "mysql"}},
		{raw: map[string]any{"engine": "none"}, want: Extension{Engine: "none"}},
		{raw: map[string]any{"engine": "mongodb"}, wantErr: true},
		{raw: map[string]any{"engine": "Postgres"}, wantErr: true},
		{raw: map[string]any{"exclude-table": "not-a-list"}, wantErr: true},
		{raw: "skip", wantErr: true},
	}
	for _, tt := range tests {
		got, err := decodeExtension(tt.raw)
		if (err != nil) != tt.wantErr {
			t.Errorf("decodeExtension(%v) error = %v, wantErr %v", tt.raw, err, tt.wantErr)
			continue
		}
		if !tt.wantErr && !reflect.DeepEqual(got, tt.want) {
			t.Errorf("decodeExtension(%v) = %+v, want %+v", tt.raw, got, tt.want)
		}
	}
}

func TestDependencyOrder(t *testing.T) {
	tests := []struct {
		deps map[string][]string
		want []string
	}{
		{deps: map[string][]string{}, want: nil},
		{deps: map[string][]string{"b": nil, "a": nil}, want: []string{"a", "b"}},
		{deps: map[string][]string{"a": {"c"}, "b": {"a"}, "c": nil}, want: []string{"c", "a", "b"}},
		// Unknown dependencies are ignored; cycles do not loop forever.
		{deps: map[string][]string{"a": {"missing"}}, want: []string{"a"}},
		{deps: map[string][]string{"a": {"b"}, "b": {"a"}}, want: []string{"b", "a"}},
	}
	for _, tt := range tests {
		if got := dependencyOrder(tt.deps); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("dependencyOrder(%v) = %v, want %v", tt.deps, got, tt.want)
		}
	}
}

func TestLoadEnvironment(t *testing.T) {
	t.Setenv("COMPOSE_PROJECT_NAME", "fromprocess")
	dir := projectDir(t, "folder", map[string]string{"compose.yaml": simpleCompose})
	// Options.Environment replaces the process's environment...
	p, err := Load(context.Background(), &fakeLister{}, Options{WorkingDir: dir, Environment: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	if p.Name != "folder" {
		t.Errorf("name %q: the process environment leaked in", p.Name)
	}
	// ...which is used when it is nil.
	p, err = Load(context.Background(), &fakeLister{}, Options{WorkingDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if p.Name != "fromprocess" {
		t.Errorf("name %q, want fromprocess from the process environment", p.Name)
	}
}

func TestLabelledReadsTheFilesItCanSee(t *testing.T) {
	dir := t.TempDir()
	compose := filepath.Join(dir, "compose.yaml")
	os.WriteFile(compose, []byte("services:\n  db:\n    image: postgres:15\n"), 0o644)
	ctr := func(files string) container.Summary {
		return container.Summary{ID: "c1", Labels: map[string]string{
			LabelProject: "shop", LabelService: "db", LabelOneoff: "False",
			LabelConfigFiles: files, LabelWorkingDir: dir,
		}}
	}
	// The files named by the labels are here (a daemon on the host).
	opts, err := Labelled(context.Background(), &fakeLister{containers: []container.Summary{ctr(compose)}}, "Shop")
	if err != nil {
		t.Fatal(err)
	}
	if opts.Name != "shop" || opts.LabelsOnly || len(opts.Files) != 1 || opts.Files[0] != compose || opts.ProjectDir != dir {
		t.Errorf("with the files: %+v", opts)
	}
	// One of them is not (a daemon in a container): the labels alone.
	opts, err = Labelled(context.Background(), &fakeLister{containers: []container.Summary{ctr(compose + "," + filepath.Join(dir, "override.yaml"))}}, "shop")
	if err != nil {
		t.Fatal(err)
	}
	if !opts.LabelsOnly || len(opts.Files) != 0 {
		t.Errorf("without every file: %+v", opts)
	}
	// LabelsOnly ignores a compose file where one would be found.
	p, err := Load(context.Background(), &fakeLister{containers: []container.Summary{ctr(compose)}}, Options{Name: "shop", LabelsOnly: true, WorkingDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if p.Model != nil || len(p.Services) != 1 {
		t.Errorf("labels only: model %v, services %d", p.Model != nil, len(p.Services))
	}
	if _, err := Labelled(context.Background(), &fakeLister{}, "gone"); !errors.Is(err, ErrNoProject) {
		t.Errorf("no containers: %v", err)
	}
}
