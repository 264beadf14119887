// Package project finds a compose project the way docker compose does
// (compose-go for the files, compose's labels for the containers) and maps
// services to their containers and volumes.
package project

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/template"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
)

// Options are compose's own project flags.
type Options struct {
	Files       []string
	Name        string
	ProjectDir  string
	EnvFiles    []string
	Profiles    []string
	WorkingDir  string // where the command runs; "" for the process's
	Environment []string
	// LabelsOnly finds the project by its containers' labels alone, with
	// no compose file even where one would be found: the backup daemon
	// names projects whose files it cannot see.
	LabelsOnly bool
}

// Project is a compose project and its containers.
type Project struct {
	Name        string
	WorkingDir  string
	ConfigFiles []string
	// Model is the resolved compose model; nil when the project was found
	// by its containers' labels alone.
	Model    *types.Project
	Services []*Service
	// Interpolated is what interpolation put into the model: nothing of
	// it may be written out (it may be a password from .env).
	Interpolated *Interpolated
}

// Interpolated records what interpolation substituted while the compose
// files were read: the variables' values, and the strings they made.
type Interpolated struct {
	mu sync.Mutex
	// Values are the variables' values; Results the strings holding them.
	Values, Results map[string]bool
}

func newInterpolated() *Interpolated {
	return &Interpolated{Values: map[string]bool{}, Results: map[string]bool{}}
}

// minContained is the shortest value looked for inside other strings:
// shorter ones ("1", "on") would take out half the model, and no secret
// is that short.
const minContained = 3

// Holds tells whether s came from interpolation, or holds a value that
// did (a command string split into words, say).
func (i *Interpolated) Holds(s string) bool {
	if i == nil {
		return false
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.Results[s] || i.Values[s] {
		return true
	}
	for v := range i.Values {
		if len(v) >= minContained && strings.Contains(s, v) {
			return true
		}
	}
	return false
}

// record hooks into compose-go's interpolation.
func (i *Interpolated) record(o *loader.Options) {
	if o.Interpolate == nil {
		return
	}
	opts := *o.Interpolate
	lookup, substitute := opts.LookupValue, opts.Substitute
	if substitute == nil {
		substitute = template.Substitute
	}
	opts.LookupValue = func(key string) (string, bool) {
		v, ok := lookup(key)
		if ok && v != "" {
			i.mu.Lock()
			i.Values[v] = true
			i.mu.Unlock()
		}
		return v, ok
	}
	opts.Substitute = func(s string, m template.Mapping) (string, error) {
		out, err := substitute(s, m)
		if err == nil && out != s {
			i.mu.Lock()
			i.Results[out] = true
			i.mu.Unlock()
		}
		return out, err
	}
	o.Interpolate = &opts
}

// Service is one service and what it runs.
type Service struct {
	Name       string
	Image      string
	Containers []Container
	Volumes    []Mount
	DependsOn  []string
	Backup     Extension
	// BackupErr is why the service's x-backup block is invalid, if it is.
	BackupErr error
}

// Container is one container of a service.
type Container struct {
	ID      string
	Name    string
	ImageID string
	Number  int
	Running bool
	State   string
}

// Mount is a named volume or bind mount of a service.
type Mount struct {
	// Key is the volume's key in the compose file; empty for bind mounts
	// and volumes found only on containers.
	Key string
	// Name is the engine's volume name, or the host path of a bind mount.
	Name     string
	Target   string
	Bind     bool
	External bool
	// Anonymous volumes have no name to restore them under: skipped.
	Anonymous bool
}

// Running reports whether any container of the service runs.
func (s *Service) Running() bool {
	for _, c := range s.Containers {
		if c.Running {
			return true
		}
	}
	return false
}

// Primary is the running container to exec into: the lowest-numbered one.
func (s *Service) Primary() (Container, bool) {
	for _, c := range s.Containers {
		if c.Running {
			return c, true
		}
	}
	return Container{}, false
}

// Service returns the named service.
func (p *Project) Service(name string) (*Service, error) {
	for _, s := range p.Services {
		if s.Name == name {
			return s, nil
		}
	}
	return nil, fmt.Errorf("%w %q in project %s", ErrUnknownService, name, p.Name)
}

// ContainerLister is what Load needs from the engine.
type ContainerLister interface {
	ContainerList(ctx context.Context, options container.ListOptions) ([]container.Summary, error)
}

// Load finds the project: from compose files when there are any (flags,
// COMPOSE_FILE, or compose.yaml in the folder or a parent), else from the
// running containers of the project named by -p or COMPOSE_PROJECT_NAME.
func Load(ctx context.Context, api ContainerLister, opts Options) (*Project, error) {
	interp := newInterpolated()
	var model *types.Project
	err := ErrNoProject
	if !opts.LabelsOnly {
		model, err = loadModel(ctx, opts, interp)
	}
	var p *Project
	switch {
	case err == nil:
		p = fromModel(model)
		p.Interpolated = interp
	case errors.Is(err, ErrNoProject):
		name := opts.Name
		if name == "" {
			name = envValue(opts.Environment, "COMPOSE_PROJECT_NAME")
		}
		if name == "" {
			return nil, fmt.Errorf("%w: no compose file here (compose.yaml, docker-compose.yml): run in the project's folder, give -f FILE, or name a running project with -p NAME", ErrNoProject)
		}
		p = &Project{Name: loader.NormalizeProjectName(name)}
	default:
		return nil, err
	}
	if err := attachContainers(ctx, api, p); err != nil {
		return nil, err
	}
	if p.Model == nil && len(p.Services) == 0 {
		return nil, fmt.Errorf("%w: no compose file here and no containers of a project named %q: check the name with docker compose ls -a", ErrNoProject, p.Name)
	}
	return p, nil
}

func envValue(env []string, key string) string {
	for i := len(env) - 1; i >= 0; i-- {
		if k, v, ok := strings.Cut(env[i], "="); ok && k == key {
			return v
		}
	}
	return ""
}

func loadModel(ctx context.Context, opts Options, interp *Interpolated) (*types.Project, error) {
	env := opts.Environment
	if env == nil {
		env = os.Environ()
	}
	wd := opts.WorkingDir
	if wd == "" {
		var err error
		if wd, err = os.Getwd(); err != nil {
			return nil, err
		}
	}
	files := make([]string, len(opts.Files))
	for i, f := range opts.Files {
		if f != "-" && !filepath.IsAbs(f) {
			f = filepath.Join(wd, f)
		}
		files[i] = f
	}
	if len(files) == 0 {
		// COMPOSE_FILE, like -f, is relative to where the command runs.
		if v := envValue(env, "COMPOSE_FILE"); v != "" {
			sep := envValue(env, "COMPOSE_PATH_SEPARATOR")
			if sep == "" {
				sep = string(os.PathListSeparator)
			}
			for _, f := range strings.Split(v, sep) {
				if f != "-" && !filepath.IsAbs(f) {
					f = filepath.Join(wd, f)
				}
				files = append(files, f)
			}
		}
	}
	envFiles := make([]string, len(opts.EnvFiles))
	for i, f := range opts.EnvFiles {
		if !filepath.IsAbs(f) {
			f = filepath.Join(wd, f)
		}
		envFiles[i] = f
	}
	projectDir := opts.ProjectDir
	if projectDir != "" && !filepath.IsAbs(projectDir) {
		projectDir = filepath.Join(wd, projectDir)
	}
	po, err := cli.NewProjectOptions(files,
		cli.WithEnv(env),
		cli.WithWorkingDirectory(projectDir),
		cli.WithConfigFileEnv,
		withDefaultConfigPathFrom(wd),
		cli.WithEnvFiles(envFiles...),
		cli.WithDotEnv,
		cli.WithDefaultProfiles(opts.Profiles...),
		cli.WithName(opts.Name),
		cli.WithLoadOptions(interp.record),
	)
	if err != nil {
		return nil, fmt.Errorf("reading the compose project: %w", err)
	}
	if len(po.ConfigPaths) == 0 {
		return nil, ErrNoProject
	}
	model, err := po.LoadProject(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading the compose project: %w", err)
	}
	return model, nil
}

// withDefaultConfigPathFrom looks for compose.yaml and friends from dir
// upwards, as docker compose does from its working directory.
func withDefaultConfigPathFrom(dir string) cli.ProjectOptionsFn {
	return func(o *cli.ProjectOptions) error {
		if len(o.ConfigPaths) > 0 {
			return nil
		}
		for d := dir; ; {
			for _, name := range cli.DefaultFileNames {
				f := filepath.Join(d, name)
				if _, err := os.Stat(f); err == nil {
					o.ConfigPaths = append(o.ConfigPaths, f)
					for _, ov := range cli.DefaultOverrideFileNames {
						ovf := filepath.Join(d, ov)
						if strings.HasPrefix(ov, strings.TrimSuffix(name, filepath.Ext(name))) {
							if _, err := os.Stat(ovf); err == nil {
								o.ConfigPaths = append(o.ConfigPaths, ovf)
								break
							}
						}
					}
					return nil
				}
			}
			parent := filepath.Dir(d)
			if parent == d {
				return nil
			}
			d = parent
		}
	}
}

func fromModel(m *types.Project) *Project {
	p := &Project{Name: m.Name, WorkingDir: m.WorkingDir, ConfigFiles: m.ComposeFiles, Model: m}
	order := serviceOrder(m)
	for _, name := range order {
		sc := m.Services[name]
		s := &Service{Name: name, Image: sc.Image}
		if sc.Image == "" {
			s.Image = m.Name + "-" + name // what compose names images it builds
		}
		for dep := range sc.DependsOn {
			s.DependsOn = append(s.DependsOn, dep)
		}
		sort.Strings(s.DependsOn)
		// An invalid extension is reported when the service is used.
		s.Backup, s.BackupErr = decodeExtension(sc.Extensions[ExtensionKey])
		for _, v := range sc.Volumes {
			switch v.Type {
			case types.VolumeTypeVolume:
				if v.Source == "" {
					s.Volumes = append(s.Volumes, Mount{Target: v.Target, Anonymous: true})
					continue
				}
				cfg := m.Volumes[v.Source]
				s.Volumes = append(s.Volumes, Mount{Key: v.Source, Name: cfg.Name, Target: v.Target, External: bool(cfg.External)})
			case types.VolumeTypeBind:
				s.Volumes = append(s.Volumes, Mount{Name: v.Source, Target: v.Target, Bind: true})
			}
		}
		p.Services = append(p.Services, s)
	}
	return p
}

// serviceOrder is the services in dependency order (dependencies first),
// ties by name, so every run does things in the same order.
func serviceOrder(m *types.Project) []string {
	deps := map[string][]string{}
	for name, sc := range m.Services {
		deps[name] = nil
		for d := range sc.DependsOn {
			deps[name] = append(deps[name], d)
		}
	}
	return dependencyOrder(deps)
}

// dependencyOrder sorts names so that each comes after what it depends on.
func dependencyOrder(deps map[string][]string) []string {
	names := make([]string, 0, len(deps))
	for n := range deps {
		names = append(names, n)
	}
	sort.Strings(names)
	var order []string
	seen := map[string]bool{}
	var visit func(string)
	visit = func(n string) {
		if seen[n] {
			return
		}
		seen[n] = true
		ds := append([]string(nil), deps[n]...)
		sort.Strings(ds)
		for _, d := range ds {
			if _, ok := deps[d]; ok {
				visit(d)
			}
		}
		order = append(order, n)
	}
	for _, n := range names {
		visit(n)
	}
	return order
}

var anonymousVolume = regexp.MustCompile(`^[0-9a-f]{64}$`)

// attachContainers finds the project's service containers by compose's
// labels (one-off `run` containers excluded), as compose itself does.
func attachContainers(ctx context.Context, api ContainerLister, p *Project) error {
	list, err := api.ContainerList(ctx, container.ListOptions{
		All: true,
		Filters: filters.NewArgs(
			filters.Arg("label", LabelProject+"="+p.Name),
			filters.Arg("label", LabelOneoff+"=False"),
		),
	})
	if err != nil {
		return fmt.Errorf("listing the containers of project %s: %w", p.Name, err)
	}
	sort.Slice(list, func(i, j int) bool {
		ni, _ := strconv.Atoi(list[i].Labels[LabelNumber])
		nj, _ := strconv.Atoi(list[j].Labels[LabelNumber])
		return ni < nj
	})
	byName := map[string]*Service{}
	for _, s := range p.Services {
		byName[s.Name] = s
	}
	for _, c := range list {
		svcName := c.Labels[LabelService]
		if svcName == "" {
			continue
		}
		s := byName[svcName]
		if s == nil {
			if p.Model != nil {
				continue // an orphan: no longer in the compose file
			}
			s = &Service{Name: svcName, Image: c.Image}
			for _, dep := range strings.Split(c.Labels[LabelDependsOn], ",") {
				if name, _, _ := strings.Cut(dep, ":"); name != "" {
					s.DependsOn = append(s.DependsOn, name)
				}
			}
			byName[svcName] = s
			p.Services = append(p.Services, s)
			if p.WorkingDir == "" {
				p.WorkingDir = c.Labels[LabelWorkingDir]
			}
		}
		n, _ := strconv.Atoi(c.Labels[LabelNumber])
		name := ""
		if len(c.Names) > 0 {
			name = strings.TrimPrefix(c.Names[0], "/")
		}
		s.Containers = append(s.Containers, Container{
			ID: c.ID, Name: name, ImageID: c.ImageID, Number: n,
			Running: c.State == "running", State: c.State,
		})
		if p.Model == nil {
			for _, m := range c.Mounts {
				switch {
				case m.Type == "volume" && !anonymousVolume.MatchString(m.Name):
					s.addMount(Mount{Name: m.Name, Target: m.Destination})
				case m.Type == "bind":
					s.addMount(Mount{Name: m.Source, Target: m.Destination, Bind: true})
				}
			}
		}
	}
	if p.Model == nil {
		sortByDependencies(p)
	}
	return nil
}

func (s *Service) addMount(m Mount) {
	for _, have := range s.Volumes {
		if have.Name == m.Name && have.Target == m.Target {
			return
		}
	}
	s.Volumes = append(s.Volumes, m)
}

// sortByDependencies orders services found by labels alone.
func sortByDependencies(p *Project) {
	deps := map[string][]string{}
	byName := map[string]*Service{}
	for _, s := range p.Services {
		deps[s.Name] = s.DependsOn
		byName[s.Name] = s
	}
	p.Services = p.Services[:0]
	for _, n := range dependencyOrder(deps) {
		p.Services = append(p.Services, byName[n])
	}
}

// Name is the project's name as docker compose finds it (-p,
// COMPOSE_PROJECT_NAME, name: in the files, or the folder's name), without
// the engine: commands on stored archives need no engine.
func Name(ctx context.Context, opts Options) (string, error) {
	if opts.Name != "" {
		return loader.NormalizeProjectName(opts.Name), nil
	}
	model, err := loadModel(ctx, opts, newInterpolated())
	if err != nil {
		if errors.Is(err, ErrNoProject) {
			env := opts.Environment
			if env == nil {
				env = os.Environ()
			}
			if name := envValue(env, "COMPOSE_PROJECT_NAME"); name != "" {
				return loader.NormalizeProjectName(name), nil
			}
			return "", fmt.Errorf("%w: no compose file here: run in the project's folder, give -f FILE, or name the project with --project NAME", ErrNoProject)
		}
		return "", err
	}
	return model.Name, nil
}

// Labelled finds how to load project name from its containers' labels,
// for a caller that has no compose file of its own (the backup daemon):
// from the compose files the labels name when every one of them can be
// read here, so that the config is archived too; else from the labels
// alone.
func Labelled(ctx context.Context, api ContainerLister, name string) (Options, error) {
	name = loader.NormalizeProjectName(name)
	list, err := api.ContainerList(ctx, container.ListOptions{
		All:     true,
		Filters: filters.NewArgs(filters.Arg("label", LabelProject+"="+name), filters.Arg("label", LabelOneoff+"=False")),
	})
	if err != nil {
		return Options{}, fmt.Errorf("listing the containers of project %s: %w", name, err)
	}
	if len(list) == 0 {
		return Options{}, fmt.Errorf("%w: no containers of a project named %q on this engine: check the name with docker compose ls -a", ErrNoProject, name)
	}
	labels := list[0].Labels
	var files []string
	for _, f := range strings.Split(labels[LabelConfigFiles], ",") {
		if f == "" {
			continue
		}
		if _, err := os.Stat(f); err != nil {
			files = nil
			break
		}
		files = append(files, f)
	}
	if len(files) == 0 {
		return Options{Name: name, LabelsOnly: true}, nil
	}
	dir := labels[LabelWorkingDir]
	return Options{Name: name, Files: files, ProjectDir: dir, WorkingDir: dir}, nil
}
