package restore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"slices"
	"sort"
	"strings"

	"github.com/docker-backup/docker-backup/internal/archive"
	"github.com/docker-backup/docker-backup/internal/backup"
	"github.com/docker-backup/docker-backup/internal/dbdump"
	"github.com/docker-backup/docker-backup/internal/engine"
	"github.com/docker-backup/docker-backup/internal/event"
	"github.com/docker-backup/docker-backup/internal/project"
	"github.com/docker-backup/docker-backup/internal/sign"
)

// plan is what a restore will do to a project.
type plan struct {
	p *project.Project
	m *archive.Manifest
	// signature is how m's archive was signed, as verified: Trusted
	// when by a key of the trust list.
	signature sign.Status
	// fresh: the project has no containers yet (a new host); it is
	// created with docker compose up --no-start.
	fresh   bool
	volumes []*volumeTarget
	dbs     []*dbTarget
	// loaded are the database services loaded from dumps: they run
	// during the restore, every other service is stopped.
	loaded map[string]bool
	// wasRunning are the containers running before the restore.
	wasRunning map[string]bool
	// standbyIDs, with Options.Standby only, are the containers that
	// run afterwards: the loaded database services'.
	standbyIDs map[string]bool
	notes      []string
	// keepSpecial: setuid and setgid bits, capabilities, devices and
	// fifos are written as archived (Options.PreserveSpecial, or an
	// archive signed by a trusted key).
	keepSpecial bool
}

// makePlan maps the archive's volumes and databases onto project p.
func makePlan(p *project.Project, m *archive.Manifest, opts Options) (*plan, error) {
	pl := &plan{p: p, m: m, loaded: map[string]bool{}, wasRunning: map[string]bool{}, fresh: true}
	for _, s := range p.Services {
		if s.BackupErr != nil {
			return nil, fmt.Errorf("service %s: %w", s.Name, s.BackupErr)
		}
		for _, c := range s.Containers {
			pl.fresh = false
			if c.Running {
				pl.wasRunning[c.ID] = true
			}
		}
	}
	selected, err := selectServices(p, m, opts.Services)
	if err != nil {
		return nil, err
	}
	wantDB := map[string]bool{}
	for _, d := range opts.Databases {
		wantDB[d] = false
	}
	for _, d := range m.Databases {
		if !selected(d.Service) {
			continue
		}
		s, err := p.Service(d.Service)
		if err != nil {
			return nil, fmt.Errorf("database service %s of the archive is not in project %s: restore with the compose file the backup was taken with", archive.Short(d.Service), p.Name)
		}
		if e := targetEngine(s); e != "" && e != d.Engine {
			return nil, fmt.Errorf("service %s holds a %s dump in the archive but runs %s (%s)", archive.Short(d.Service), archive.Short(d.Flavor), s.Image, e)
		}
		t := &dbTarget{Database: d}
		var globals []archive.Dump
		for _, dump := range d.Dumps {
			if dump.Kind == "globals" {
				globals = append(globals, dump)
				continue
			}
			if len(wantDB) > 0 {
				if _, ok := wantDB[dump.Database]; !ok {
					continue
				}
				wantDB[dump.Database] = true
			}
			t.Dumps = append(t.Dumps, dump)
		}
		if len(t.Dumps) == 0 {
			continue
		}
		// Roles and users first: the databases' owners and grants need them.
		t.Dumps = append(globals, t.Dumps...)
		pl.dbs = append(pl.dbs, t)
		pl.loaded[d.Service] = true
	}
	var missing []string
	for d, found := range wantDB {
		if !found {
			missing = append(missing, d)
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return nil, fmt.Errorf("no database %s in the archive: see the databases with docker backup inspect", strings.Join(missing, ", "))
	}
	if opts.Standby {
		pl.standbyIDs = map[string]bool{}
		for _, s := range p.Services {
			if pl.loaded[s.Name] {
				for _, c := range s.Containers {
					pl.standbyIDs[c.ID] = true
				}
			}
		}
		pl.notes = append(pl.notes, "standby: only the database services run afterwards; the rest starts when the host is promoted (docker backup promote)")
	}
	if len(opts.Databases) > 0 {
		if len(m.Volumes) > 0 {
			pl.notes = append(pl.notes, "volumes not restored: --database restores databases only")
		}
		return pl, nil
	}
	for _, v := range m.Volumes {
		if !anySelected(v.Services, selected) {
			continue
		}
		if v.Bind() {
			t, note, err := bindTargetFor(p, m, v, pl.fresh, opts)
			if err != nil {
				return nil, err
			}
			if note != "" {
				pl.notes = append(pl.notes, note)
				continue
			}
			pl.volumes = append(pl.volumes, t)
			continue
		}
		t, err := volumeTargetFor(p, v)
		if err != nil {
			return nil, err
		}
		pl.volumes = append(pl.volumes, t)
	}
	pl.keepSpecial = opts.PreserveSpecial || opts.trusted
	if err := pl.checkSpecial(); err != nil {
		return nil, err
	}
	return pl, nil
}

// ErrSpecialFiles: the archive holds device or fifo nodes, which a
// restore writes only when told to (errors.Is).
var ErrSpecialFiles = errors.New("the archive holds device or fifo nodes")

// checkSpecial notes, per volume, the setuid and setgid files and the
// files with capabilities (restored without them unless kept), and
// refuses devices and fifos unless kept. What it reads is what the
// verification found in the trees, whatever the manifest claims: a
// forged "cold" unlocks nothing.
func (pl *plan) checkSpecial() error {
	var refused []string
	for _, v := range pl.volumes {
		s := v.Special
		if s == nil {
			continue
		}
		what := v.label()
		eg := ""
		if len(s.Examples) > 0 {
			var names []string
			for _, e := range s.Examples {
				names = append(names, archive.Short(e))
			}
			eg = ", e.g. " + strings.Join(names, ", ")
		}
		if pl.keepSpecial {
			pl.notes = append(pl.notes, fmt.Sprintf("%s: %s restored as archived%s", what, specialCounts(s), eg))
			continue
		}
		if s.Devices > 0 {
			refused = append(refused, fmt.Sprintf("%s holds %s%s", what, specialCounts(s), eg))
			continue
		}
		var dropped []string
		if s.Setuid > 0 {
			dropped = append(dropped, fmt.Sprintf("%d setuid or setgid file(s) restored without those bits", s.Setuid))
		}
		if s.Capabilities > 0 {
			dropped = append(dropped, fmt.Sprintf("%d file(s) restored without their capabilities", s.Capabilities))
		}
		pl.notes = append(pl.notes, fmt.Sprintf("%s: %s%s; to keep them, restore an archive signed by a key given with --trust, or give --preserve-special", what, strings.Join(dropped, ", "), eg))
	}
	if len(refused) > 0 {
		return fmt.Errorf("%w: %s; a restore writes them only from an archive signed by a key given with --trust, or with --preserve-special: nothing was changed", ErrSpecialFiles, strings.Join(refused, "; "))
	}
	return nil
}

// specialCounts says what s counts: "1 device or fifo node, 2 setuid or
// setgid files".
func specialCounts(s *archive.Special) string {
	var parts []string
	add := func(n int64, one, many string) {
		switch {
		case n == 1:
			parts = append(parts, "1 "+one)
		case n > 1:
			parts = append(parts, fmt.Sprintf("%d %s", n, many))
		}
	}
	add(s.Devices, "device or fifo node", "device or fifo nodes")
	add(s.Setuid, "setuid or setgid file", "setuid or setgid files")
	add(s.Capabilities, "file with capabilities", "files with capabilities")
	return strings.Join(parts, ", ")
}

// bindTargetFor finds where a bind mount of the archive goes: the host
// path the project's compose file gives the same service's mount at the
// same place in the container (so that under another project folder,
// or on another host, it goes under the new folder), else its old path,
// moved along with the project folder. A path in the project folder is
// restored; another only with --include-bind-mounts, and a system path
// never. note says why one is not restored.
func bindTargetFor(p *project.Project, m *archive.Manifest, v archive.Volume, fresh bool, opts Options) (_ *volumeTarget, note string, _ error) {
	host := ""
	var users []*project.Service
	for _, s := range p.Services {
		if !slices.Contains(v.Services, s.Name) {
			continue
		}
		for _, mnt := range s.Volumes {
			if mnt.Bind && v.Target != "" && path.Clean(mnt.Target) == path.Clean(v.Target) {
				if host == "" {
					host = mnt.Name
				}
				users = append(users, s)
				break
			}
		}
	}
	if host == "" {
		host = v.EngineName
		if rel, ok := project.RelTo(m.Project.WorkingDir, v.EngineName); ok && p.WorkingDir != "" {
			host = path.Join(p.WorkingDir, rel)
		}
	}
	host = path.Clean(host)
	if sys, why := project.SystemPath(host, opts.DataRoot); sys {
		return nil, "", fmt.Errorf("bind mount %s of the archive would be written to %s: refused, %s; restore it with --service for the other services, or copy it by hand from %s%s/", archive.Short(v.Name), host, why, archive.VolumesDir, archive.Short(v.Name))
	}
	if p.Name != m.Project.Name && host == path.Clean(v.EngineName) {
		// A copy under another name, from the same folder, would write
		// into the original project's files.
		return nil, fmt.Sprintf("bind mount %s not restored: %s is project %s's own, the project the archive was taken of; restore the copy from another folder to have it there", archive.Short(v.Name), host, archive.Short(m.Project.Name)), nil
	}
	inProject := project.Within(p.WorkingDir, host) && path.Clean(p.WorkingDir) != host
	if !inProject && !opts.IncludeBindMounts {
		where := "is outside the project folder"
		if p.WorkingDir != "" && path.Clean(p.WorkingDir) == host {
			// Its compose files and .env would be replaced too.
			where = "is the project folder itself"
		}
		return nil, fmt.Sprintf("bind mount %s not restored: %s %s; give --include-bind-mounts to restore it there", archive.Short(v.Name), host, where), nil
	}
	// A bind mount that holds the archive, or the folder the safety
	// backup goes to, would have them set aside and deleted.
	for _, keep := range []string{opts.Archive, opts.SafetyDir} {
		if keep != "" && path.IsAbs(keep) && project.Within(host, keep) {
			return nil, "", fmt.Errorf("bind mount %s of the archive would be written to %s, which holds %s: refused; move the archive out of it first", archive.Short(v.Name), host, keep)
		}
	}
	t := &volumeTarget{Volume: v, Target: host, Place: engine.Place{Path: host, File: v.Kind == archive.KindFile}}
	t.Images = projectImages(p, users)
	// A project created by the restore has its containers, and so its
	// images, only once it is created: it is planned again then.
	if len(t.Images) == 0 && !fresh {
		return nil, "", fmt.Errorf("bind mount %s cannot be restored: project %s has no container whose image could write it (run docker compose create first)", archive.Short(v.Name), p.Name)
	}
	return t, "", nil
}

// projectImages are the images that may write a volume: its users'
// first, then any of the project's (the app's own may lack the tools).
func projectImages(p *project.Project, users []*project.Service) []string {
	var out []string
	seen := map[string]bool{}
	add := func(img string) {
		if img != "" && !seen[img] {
			seen[img] = true
			out = append(out, img)
		}
	}
	for _, s := range users {
		for _, c := range s.Containers {
			add(c.ImageID)
		}
	}
	for _, s := range p.Services {
		for _, c := range s.Containers {
			add(c.ImageID)
		}
	}
	return out
}

// selectServices turns --service names into a filter, checking each names
// a service of the archive.
func selectServices(p *project.Project, m *archive.Manifest, names []string) (func(string) bool, error) {
	if len(names) == 0 {
		return func(string) bool { return true }, nil
	}
	known := map[string]bool{}
	for _, s := range m.Services {
		known[s.Name] = true
	}
	want := map[string]bool{}
	for _, n := range names {
		if !known[n] {
			return nil, fmt.Errorf("%w %q in the archive of project %s", project.ErrUnknownService, n, archive.Short(m.Project.Name))
		}
		if _, err := p.Service(n); err != nil {
			return nil, fmt.Errorf("%w: see the services with docker compose config --services", err)
		}
		want[n] = true
	}
	return func(s string) bool { return want[s] }, nil
}

func anySelected(services []string, selected func(string) bool) bool {
	for _, s := range services {
		if selected(s) {
			return true
		}
	}
	return len(services) == 0 && selected("")
}

// targetEngine is the database engine the project's service runs, by its
// x-backup block or its image; "" when unknown.
func targetEngine(s *project.Service) string {
	if s.Backup.Engine != "" && s.Backup.Engine != "none" {
		return s.Backup.Engine
	}
	return dbdump.DetectByImage(s.Image)
}

// volumeTargetFor finds the engine volume an archived volume goes into: the
// project's volume of the same compose key, which under another project
// name (-p) is another volume.
func volumeTargetFor(p *project.Project, v archive.Volume) (*volumeTarget, error) {
	t := &volumeTarget{Volume: v}
	var users []*project.Service
	for _, s := range p.Services {
		for _, mnt := range s.Volumes {
			if mnt.Bind || mnt.Anonymous {
				continue
			}
			match := mnt.Key == v.Name
			if mnt.Key == "" { // found by labels alone
				match = mnt.Name == v.EngineName || mnt.Name == p.Name+"_"+v.Name
			}
			if match {
				t.Target = mnt.Name
				users = append(users, s)
				break
			}
		}
	}
	if t.Target == "" && p.Model != nil {
		if cfg, ok := p.Model.Volumes[v.Name]; ok {
			t.Target = cfg.Name
		}
	}
	if t.Target == "" {
		return nil, fmt.Errorf("volume %s of the archive is not a volume of project %s: restore with the compose file the backup was taken with", archive.Short(v.Name), p.Name)
	}
	t.Place = engine.VolumePlace(t.Target)
	t.Images = projectImages(p, users)
	return t, nil
}

// stopSet is the services stopped during the restore: every running
// service but the databases loaded from dumps.
func (pl *plan) stopSet() []*project.Service {
	var out []*project.Service
	for _, s := range pl.p.Services {
		if !pl.loaded[s.Name] && s.Running() {
			out = append(out, s)
		}
	}
	return out
}

// affected are the services whose data the restore replaces: the safety
// backup covers them.
func (pl *plan) affected() []string {
	set := map[string]bool{}
	for _, d := range pl.dbs {
		set[d.Service] = true
	}
	for _, v := range pl.volumes {
		for _, s := range v.Services {
			if _, err := pl.p.Service(s); err == nil {
				set[s] = true
			}
		}
	}
	var out []string
	for _, s := range pl.p.Services {
		if set[s.Name] {
			out = append(out, s.Name)
		}
	}
	return out
}

// describe is the plan as the event that shows it.
func (pl *plan) describe(archivePath string, safety string) *event.Plan {
	m := pl.m
	d := &event.Plan{Project: pl.p.Name, Archive: archivePath, Create: pl.fresh, SafetyBackup: safety, Notes: pl.notes,
		Stop: []string{}, Volumes: []event.PlanVolume{}, Databases: []event.PlanDatabase{}}
	d.From.Project, d.From.CreatedAt, d.From.ToolVersion, d.From.Cold = m.Project.Name, m.CreatedAt.UTC(), m.ToolVersion, m.Cold
	if s := pl.signature; s.Signed {
		d.From.Signature = &event.PlanSignature{Key: s.Key, Name: s.Name, Trusted: s.Trusted}
	}
	d.NoSafetyBackup = safety == "" && !pl.fresh
	for _, s := range pl.stopSet() {
		d.Stop = append(d.Stop, s.Name)
	}
	for _, v := range pl.volumes {
		pv := event.PlanVolume{Name: v.Name, Target: v.Target, Bytes: v.Bytes, Entries: v.Entries, Raw: v.Raw, Bind: v.Place.Path != "", File: v.Place.File}
		if s := v.Special; s != nil {
			pv.Special = &event.PlanSpecial{Setuid: s.Setuid, Devices: s.Devices, Capabilities: s.Capabilities, Kept: pl.keepSpecial}
		}
		d.Volumes = append(d.Volumes, pv)
	}
	sizes := map[string]int64{}
	for _, f := range m.Files {
		sizes[f.Path] = f.Size
	}
	for _, db := range pl.dbs {
		pd := event.PlanDatabase{Service: db.Service, Flavor: db.Flavor, Version: db.Version}
		for _, dump := range db.Dumps {
			pd.Dumps = append(pd.Dumps, event.PlanDump{Database: dump.Database, Globals: dump.Kind == "globals", Bytes: sizes[dump.Path]})
		}
		d.Databases = append(d.Databases, pd)
	}
	return d
}

// RenderPlan writes a plan for people.
func RenderPlan(w io.Writer, d *event.Plan) {
	fmt.Fprintf(w, "Restore plan for project %s from %s\n", d.Project, d.Archive)
	fmt.Fprintf(w, "  archive:    project %s, taken %s with docker-backup %s", d.From.Project, d.From.CreatedAt.UTC().Format("2006-01-02 15:04:05 UTC"), d.From.ToolVersion)
	if d.From.Cold {
		fmt.Fprint(w, " (cold)")
	}
	fmt.Fprintln(w)
	if s := d.From.Signature; s != nil {
		fmt.Fprintf(w, "  signature:  %s\n", sign.Status{Signed: true, Key: s.Key, Name: s.Name, Trusted: s.Trusted})
	}
	if d.Create {
		fmt.Fprintf(w, "  create:     project %s does not exist: docker compose up --no-start, then start it all\n", d.Project)
	}
	if len(d.Stop) > 0 {
		fmt.Fprintf(w, "  stop:       %s (started again afterwards)\n", strings.Join(d.Stop, ", "))
	}
	for _, v := range d.Volumes {
		raw := ""
		if v.Raw {
			raw = ", raw database files"
		}
		switch {
		case v.File:
			fmt.Fprintf(w, "  bind mount: file %s (%s): replaced\n", v.Target, backup.HumanBytes(v.Bytes))
		case v.Bind:
			fmt.Fprintf(w, "  bind mount: folder %s (%s, %d entries%s): replaced\n", v.Target, backup.HumanBytes(v.Bytes), v.Entries, raw)
		default:
			fmt.Fprintf(w, "  volume:     %s -> %s (%s, %d entries%s): replaced\n", v.Name, v.Target, backup.HumanBytes(v.Bytes), v.Entries, raw)
		}
	}
	for _, db := range d.Databases {
		var parts []string
		for _, dump := range db.Dumps {
			n := dump.Database
			if dump.Globals {
				n = "roles/users"
			}
			parts = append(parts, fmt.Sprintf("%s (%s)", n, backup.HumanBytes(dump.Bytes)))
		}
		fmt.Fprintf(w, "  database:   service %s, %s %s: %s replaced\n", db.Service, db.Flavor, db.Version, strings.Join(parts, ", "))
	}
	if d.SafetyBackup != "" {
		fmt.Fprintf(w, "  safety:     the current state is backed up first to %s\n", d.SafetyBackup)
	} else if d.NoSafetyBackup {
		fmt.Fprintln(w, "  safety:     no safety backup (--no-safety-backup): a failed restore cannot be rolled back")
	}
	for _, n := range d.Notes {
		fmt.Fprintf(w, "  note:       %s\n", n)
	}
}

// errNothing: the selection leaves nothing to restore.
var errNothing = errors.New("nothing to restore")

func (pl *plan) empty() bool { return len(pl.volumes) == 0 && len(pl.dbs) == 0 }

// nothing says why an empty plan is empty: the notes of what was left
// out (a bind mount outside the project folder) say what to give.
func (pl *plan) nothing() error {
	if len(pl.notes) > 0 {
		return fmt.Errorf("%w: %s", errNothing, strings.Join(pl.notes, "; "))
	}
	return fmt.Errorf("%w: the archive holds no volume or database of the selected services", errNothing)
}

// hooks returns the restore hooks of when ("before-start", "after-start")
// in dependency order.
func (pl *plan) hooks(when string) []hook {
	var out []hook
	for _, s := range pl.p.Services {
		h := s.Backup.RestoreHooks
		cmds := h.AfterStart
		if when == "before-start" {
			cmds = h.BeforeStart
		}
		for _, c := range cmds {
			out = append(out, hook{service: s.Name, when: when, cmd: c})
		}
	}
	return out
}

// checkHooks makes sure before-start hooks run in services that run then.
func (pl *plan) checkHooks() error {
	for _, h := range pl.hooks("before-start") {
		if !pl.loaded[h.service] {
			return fmt.Errorf("service %s has a before-start restore hook, but only the database services being loaded run before the others start: make it an after-start hook", h.service)
		}
	}
	return nil
}

// connect connects to each loaded database service's server and checks it
// can load the dumps. Services that are not running are skipped unless all.
func (pl *plan) connect(ctx context.Context, api dockerAPI, x execer, force bool, all bool) error {
	for _, d := range pl.dbs {
		if d.server != nil {
			continue
		}
		s, _ := pl.p.Service(d.Service)
		c, ok := s.Primary()
		if !ok {
			if all {
				return fmt.Errorf("database service %s is not running", d.Service)
			}
			continue
		}
		srv, err := connectDB(ctx, api, x, s, c.ID, d.Engine)
		if err != nil {
			return err
		}
		if err := dbdump.CheckCompatible(d.Service, d.Flavor, d.Version, srv.Flavor, srv.Version); err != nil {
			if errors.Is(err, dbdump.ErrFlavor) && force {
				pl.notes = append(pl.notes, "loading anyway (--force): "+err.Error())
			} else if errors.Is(err, dbdump.ErrFlavor) {
				return fmt.Errorf("%w: such a dump may not load; use --force to try anyway", err)
			} else {
				return err
			}
		}
		if !srv.Admin {
			if err := d.limitTo(ctx, srv); err != nil {
				return err
			}
			pl.notes = append(pl.notes, fmt.Sprintf("service %s: restored as user %s, which may not manage accounts: users and grants are left alone (name an administrator's credentials with x-backup user-env and password-env to restore them too)", d.Service, srv.User))
		}
		d.server = srv
		d.objects = srv
		pl.notes = append(pl.notes, srv.Notes...)
	}
	return nil
}

// snapshot records the accounts and databases of every loaded server.
func (pl *plan) snapshot(ctx context.Context) error {
	for _, d := range pl.dbs {
		d.before = map[string][]string{}
		for _, kind := range objectKinds {
			names, err := d.objects.Objects(ctx, kind)
			if err != nil {
				return err
			}
			d.before[kind] = names
		}
	}
	return nil
}

// dropAdded removes the accounts and databases that exist now but did not
// before the restore (pl's snapshot), using the servers of back.
func dropAdded(ctx context.Context, pl, back *plan) error {
	for _, d := range pl.dbs {
		if d.before == nil {
			continue
		}
		obj := d.objects
		for _, b := range back.dbs {
			if b.Service == d.Service && b.objects != nil {
				obj = b.objects
			}
		}
		for _, kind := range objectKinds {
			now, err := obj.Objects(ctx, kind)
			if err != nil {
				return err
			}
			had := map[string]bool{}
			for _, n := range d.before[kind] {
				had[n] = true
			}
			for _, n := range now {
				if !had[n] {
					if err := obj.Drop(ctx, kind, n); err != nil {
						return err
					}
				}
			}
		}
	}
	return nil
}

// bindPaths are the host paths of the bind mounts the restore writes:
// the safety backup must hold them too.
func (pl *plan) bindPaths() []string {
	var out []string
	for _, v := range pl.volumes {
		if v.Place.Path != "" {
			out = append(out, v.Place.Path)
		}
	}
	return out
}

// replaceChecker tells whether a server's user may drop and create a
// database (dbdump.Server in production).
type replaceChecker interface {
	CanReplace(ctx context.Context, db string) error
}

// limitTo narrows a database service's restore to what a user that is
// not an administrator may do: its databases, not the accounts. A
// database it may not replace fails the plan, before anything changes.
func (d *dbTarget) limitTo(ctx context.Context, srv replaceChecker) error {
	kept := d.Dumps[:0:0]
	var refused []error
	var allowed []string
	for _, dump := range d.Dumps {
		if dump.Kind == "globals" {
			continue
		}
		if err := srv.CanReplace(ctx, dump.Database); err != nil {
			refused = append(refused, err)
			continue
		}
		kept = append(kept, dump)
		allowed = append(allowed, "--database "+dump.Database)
	}
	if len(refused) > 0 {
		err := refused[0]
		for _, e := range refused[1:] {
			err = fmt.Errorf("%w; %s", err, e.Error())
		}
		if len(allowed) > 0 {
			// What the user may restore is worth saying: often the
			// application's own database is all that is wanted.
			return fmt.Errorf("%w: nothing was changed; to restore only what this user may, give %s", err, strings.Join(allowed, " "))
		}
		return fmt.Errorf("%w: nothing was changed", err)
	}
	d.Dumps = kept
	return nil
}
