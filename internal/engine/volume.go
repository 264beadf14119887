package engine

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"sort"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/volume"
	"github.com/docker/docker/pkg/stdcopy"

	"github.com/docker-backup/docker-backup/internal/lock"
)

// HelperLabel marks the containers (and the volumes of throwaway
// servers) docker-backup creates to reach volumes and test restores.
const HelperLabel = "org.docker-backup.helper"

// HelperProjectLabel names the compose project a helper works for.
const HelperProjectLabel = "org.docker-backup.helper.project"

// HelperJobLabel names the run that made a helper: its lock on the
// engine carries the same (lock.JobLabel), so that once the run is known
// to be gone, whatever it left behind is found and removed, whichever
// host or container the next run works from.
const HelperJobLabel = lock.JobLabel

type jobKey struct{}

type job struct{ project, id string }

// WithJob makes the helpers created under ctx carry the project's name
// ("" for none) and the run's job ID.
func WithJob(ctx context.Context, project, id string) context.Context {
	return context.WithValue(ctx, jobKey{}, job{project: project, id: id})
}

// JobOf is the job ID WithJob set, or "".
func JobOf(ctx context.Context) string {
	j, _ := ctx.Value(jobKey{}).(job)
	return j.id
}

func helperLabels(ctx context.Context) map[string]string {
	labels := map[string]string{HelperLabel: "true"}
	j, _ := ctx.Value(jobKey{}).(job)
	if j.project != "" {
		labels[HelperProjectLabel] = j.project
	}
	if j.id != "" {
		labels[HelperJobLabel] = j.id
	}
	return labels
}

// Helper is a helper container or a throwaway server's volume left on the
// engine.
type Helper struct {
	ID      string
	Volume  bool
	Project string
	Job     string
}

// ListHelpers lists the helper containers and volumes on the engine.
func (e *Engine) ListHelpers(ctx context.Context) ([]Helper, error) {
	f := filters.NewArgs(filters.Arg("label", HelperLabel))
	list, err := e.api.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
	if err != nil {
		return nil, fmt.Errorf("cannot list the helper containers: %w", err)
	}
	var out []Helper
	for _, c := range list {
		out = append(out, Helper{ID: c.ID, Project: c.Labels[HelperProjectLabel], Job: c.Labels[HelperJobLabel]})
	}
	vols, err := e.api.VolumeList(ctx, volume.ListOptions{Filters: f})
	if err != nil {
		return nil, fmt.Errorf("cannot list the helper volumes: %w", err)
	}
	for _, v := range vols.Volumes {
		out = append(out, Helper{ID: v.Name, Volume: true, Project: v.Labels[HelperProjectLabel], Job: v.Labels[HelperJobLabel]})
	}
	return out, nil
}

// RemoveHelper removes a helper container, with its anonymous volumes,
// or a throwaway server's volume.
func (e *Engine) RemoveHelper(ctx context.Context, h Helper) error {
	var err error
	if h.Volume {
		err = e.api.VolumeRemove(ctx, h.ID, true)
	} else {
		err = e.api.ContainerRemove(ctx, h.ID, container.RemoveOptions{Force: true, RemoveVolumes: true})
	}
	if err != nil && !cerrdefs.IsNotFound(err) {
		kind, rm := "helper container", "docker rm -f"
		if h.Volume {
			kind, rm = "helper volume", "docker volume rm"
		}
		return fmt.Errorf("cannot remove %s %s, left by an interrupted run: %w (remove it with %s %s)", kind, shortID(h.ID), err, rm, shortID(h.ID))
	}
	return nil
}

func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// helperMount is where a helper container mounts the volume.
const helperMount = "/" + "docker-backup-volume"

// ReadVolume streams a volume's content as a tar (entries "./...") and calls
// fn with it, through a helper container from an image already present
// (nothing is pulled) with the volume mounted read-only, always removed:
// started to run the image's own tar when it has one (readWithTar), else
// created but never started and read with CopyFromContainer. The daemon
// holds that helper's lock while the stream is open, which is why this
// never runs on a user's container.
func (e *Engine) ReadVolume(ctx context.Context, image, volume string, fn func(io.Reader) error) error {
	return e.read(ctx, image, mount.Mount{
		Type: mount.TypeVolume, Source: volume, Target: helperMount, ReadOnly: true,
		// The image's content at the mount point must not be copied in.
		VolumeOptions: &mount.VolumeOptions{NoCopy: true},
	}, fn)
}

func (e *Engine) read(ctx context.Context, image string, m mount.Mount, fn func(io.Reader) error) error {
	return e.readPath(ctx, image, m, true, nil, fn)
}

// readPath reads the mount point's content (entries "./...") when
// content, else the mount point itself (one entry, "docker-backup-volume").
func (e *Engine) readPath(ctx context.Context, image string, m mount.Mount, content bool, exclude []string, fn func(io.Reader) error) error {
	err := e.readWithTar(ctx, image, m, content, exclude, fn)
	if !errors.Is(err, errNoTar) {
		return err
	}
	volume := m.Source
	id, err := e.createHelper(ctx, image, m, neverStarted, nil, false, false)
	if err != nil {
		return err
	}
	defer e.removeHelper(ctx, id)
	src := helperMount
	if content {
		src += "/."
	}
	rc, _, err := e.api.CopyFromContainer(ctx, id, src)
	if err != nil {
		return fmt.Errorf("cannot read volume %s: %w", volume, err)
	}
	defer rc.Close()
	stop := context.AfterFunc(ctx, func() { rc.Close() })
	defer stop()
	if err := fn(rc); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return err
	}
	return nil
}

// createHelper creates, without starting it, a helper of image running
// cmd as root, without network, with the volume mounted as m. An attached
// helper has its streams (stdin too with stdin) read by us and logs
// nothing; the others keep their output in the engine's log, for errors.
func (e *Engine) createHelper(ctx context.Context, image string, m mount.Mount, cmd, env []string, attached, stdin bool) (string, error) {
	cfg := &container.Config{
		Image:           image,
		Entrypoint:      cmd,
		Cmd:             []string{},
		Env:             env,
		User:            "0:0",
		Labels:          helperLabels(ctx),
		NetworkDisabled: true,
	}
	host := &container.HostConfig{NetworkMode: "none", Mounts: e.helperMounts(ctx, image, m)}
	if m.Type == mount.TypeBind && m.BindOptions != nil && m.BindOptions.CreateMountpoint && !strings.Contains(m.Source, ":") {
		// Engines before API 1.42 ignore CreateMountpoint; a bind given
		// the old way (-v) creates a missing folder on every one.
		host.Mounts = host.Mounts[1:]
		host.Binds = []string{m.Source + ":" + m.Target}
	}
	if attached {
		cfg.OpenStdin, cfg.StdinOnce, cfg.AttachStdin = stdin, stdin, stdin
		cfg.AttachStdout, cfg.AttachStderr = true, true
		host.LogConfig = container.LogConfig{Type: "none"}
	}
	resp, err := e.api.ContainerCreate(ctx, cfg, host, &network.NetworkingConfig{}, nil, "")
	if err != nil {
		return "", fmt.Errorf("%w for volume %s from image %s: %w", errCreateHelper, m.Source, image, err)
	}
	return resp.ID, nil
}

// errCreateHelper: the engine refused the helper (its mount, most
// often), whatever its image holds.
var errCreateHelper = errors.New("cannot create a helper container")

// neverStarted is the command of helpers that are only created: the
// engine wants one.
var neverStarted = []string{"/docker-backup-helper-is-never-started"}

// helperMounts is m, plus a tmpfs on every other path the image declares
// a VOLUME for: otherwise the engine creates an anonymous volume there for
// each helper, which a helper removed while the engine shuts down leaves
// behind (removing the container with RemoveVolumes is not enough then).
func (e *Engine) helperMounts(ctx context.Context, image string, m mount.Mount) []mount.Mount {
	mounts := []mount.Mount{m}
	img, err := e.api.ImageInspect(ctx, image)
	if err != nil || img.Config == nil {
		return mounts // ContainerCreate says what is wrong with the image
	}
	paths := make([]string, 0, len(img.Config.Volumes))
	for p := range img.Config.Volumes {
		if path.Clean(p) != path.Clean(m.Target) {
			paths = append(paths, p)
		}
	}
	sort.Strings(paths)
	for _, p := range paths {
		mounts = append(mounts, mount.Mount{Type: mount.TypeTmpfs, Target: p})
	}
	return mounts
}

// removeHelper runs even after a cancel: a helper left behind would hold
// the volume.
func (e *Engine) removeHelper(ctx context.Context, id string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	_ = e.api.ContainerRemove(ctx, id, container.RemoveOptions{Force: true, RemoveVolumes: true})
}

// ReadBind streams a bind-mounted host folder like ReadVolume, but for
// the folders exclude names (relative to it), which the image's tar does
// not read (its names are literal, as tar's patterns: the caller filters
// the stream too).
func (e *Engine) ReadBind(ctx context.Context, image, hostPath string, exclude []string, fn func(io.Reader) error) error {
	return e.readPath(ctx, image, bindMount(hostPath), true, exclude, fn)
}

// ReadBindFile streams a bind-mounted host file as a tar of that one file,
// named "docker-backup-volume".
func (e *Engine) ReadBindFile(ctx context.Context, image, hostPath string, fn func(io.Reader) error) error {
	return e.readPath(ctx, image, bindMount(hostPath), false, nil, fn)
}

func bindMount(hostPath string) mount.Mount {
	return mount.Mount{Type: mount.TypeBind, Source: hostPath, Target: helperMount, ReadOnly: true}
}

// ErrNoHostPath: a bind mount's host path does not exist.
var ErrNoHostPath = errors.New("the host path does not exist")

// StatBind tells what a bind mount's host path is (a folder, a file, a
// socket, a device...) as the engine's host sees it, through a helper of
// image that is created, never started, and removed: the plugin may run
// on another machine than the engine.
func (e *Engine) StatBind(ctx context.Context, image, hostPath string) (fs.FileMode, error) {
	id, err := e.createHelper(ctx, image, bindMount(hostPath), neverStarted, nil, false, false)
	if err != nil {
		if strings.Contains(err.Error(), "bind source path does not exist") {
			return 0, fmt.Errorf("%w: %s", ErrNoHostPath, hostPath)
		}
		return 0, err
	}
	defer e.removeHelper(ctx, id)
	st, err := e.api.ContainerStatPath(ctx, id, helperMount)
	if err != nil {
		return 0, fmt.Errorf("cannot read what %s is: %w", hostPath, err)
	}
	return st.Mode, nil
}

// emptyCmd empties a mounted volume without a shell: find is in nearly
// every image, a shell glob would miss dot files.
var emptyCmd = []string{"find", helperMount, "-mindepth", "1", "-delete"}

// VolumeTarPrefix starts the names of the entries WriteVolume takes: the
// volume's root is the entry VolumeTarPrefix itself. The stream is
// extracted at the helper's / rather than into the mount point, so that the
// root's own owner, mode and mtime are applied too.
const VolumeTarPrefix = "docker-backup-volume/"

// copyIntoVolume extracts the tar stream r (entries under VolumeTarPrefix)
// into a volume through a created, never started, helper container of
// image and CopyToContainer, keeping the tar's numeric owners, modes and
// mtimes. The helper is always removed.
func (e *Engine) copyIntoVolume(ctx context.Context, image string, place Place, r io.Reader) error {
	volume := place.String()
	id, err := e.createHelper(ctx, image, place.mount(), neverStarted, nil, false, false)
	if err != nil {
		return err
	}
	defer e.removeHelper(ctx, id)
	// Without CopyUIDGID the daemon keeps the tar's numeric owners.
	if err := e.api.CopyToContainer(ctx, id, "/", r, container.CopyToContainerOptions{}); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("cannot write volume %s: %w", volume, err)
	}
	return nil
}

func writeMount(volume string) mount.Mount {
	return mount.Mount{
		Type: mount.TypeVolume, Source: volume, Target: helperMount,
		VolumeOptions: &mount.VolumeOptions{NoCopy: true},
	}
}

// Place is where a restore writes: a volume, or a path on the engine's
// host that a service bind-mounts, a folder or a single file.
type Place struct {
	Volume string
	// Path is a bind mount's host path; File says it holds one file.
	Path string
	File bool
}

// VolumePlace is the place of an engine volume.
func VolumePlace(name string) Place { return Place{Volume: name} }

func (p Place) String() string {
	if p.Path != "" {
		return p.Path
	}
	return p.Volume
}

// mount is how a helper mounts the place to write it: a volume or a
// folder at the helper's mount point, created when missing; a file's
// folder, since a file bind-mounted by itself cannot be replaced (a
// mount point cannot be renamed or removed).
func (p Place) mount() mount.Mount {
	if p.Path == "" {
		return writeMount(p.Volume)
	}
	src := p.Path
	if p.File {
		src = path.Dir(p.Path)
	}
	return mount.Mount{Type: mount.TypeBind, Source: src, Target: helperMount, BindOptions: &mount.BindOptions{CreateMountpoint: true}}
}

// env is what the scripts need to know of the place: the file's name.
func (p Place) env(aside string) []string {
	env := []string{"ASIDE=" + aside}
	if p.File {
		env = append(env, "NAME="+path.Base(p.Path))
	}
	return env
}

// emptyVolume deletes everything in a volume with emptyCmd, run in a
// helper started from the first of images that has find (as root, without
// network), and returns that image. The helper is always removed.
func (e *Engine) emptyVolume(ctx context.Context, images []string, place Place) (string, error) {
	var errs []string
	volume := place.String()
	for _, img := range images {
		code, out, err := e.runCmd(ctx, img, place.mount(), emptyCmd, nil)
		if err != nil {
			if ctx.Err() != nil {
				return "", ctx.Err()
			}
			// No find in this image: the start fails; try the next one.
			errs = append(errs, fmt.Sprintf("%s: %v", img, err))
			continue
		}
		if code != 0 {
			return "", fmt.Errorf("cannot empty volume %s (find exited with %d): %s", volume, code, out)
		}
		return img, nil
	}
	return "", fmt.Errorf("cannot empty volume %s: no image of the project has find (%s)", volume, strings.Join(errs, "; "))
}

// runHelper starts a helper and waits for it, returning its exit code and
// the end of its output.
func (e *Engine) runHelper(ctx context.Context, id string) (int, string, error) {
	waitC, errC := e.api.ContainerWait(ctx, id, container.WaitConditionNextExit)
	if err := e.api.ContainerStart(ctx, id, container.StartOptions{}); err != nil {
		return -1, "", err
	}
	select {
	case res := <-waitC:
		out := ""
		if res.StatusCode != 0 {
			out = e.helperLogs(ctx, id)
		}
		return int(res.StatusCode), out, nil
	case err := <-errC:
		return -1, "", err
	}
}

func (e *Engine) helperLogs(ctx context.Context, id string) string {
	rc, err := e.api.ContainerLogs(ctx, id, container.LogsOptions{ShowStdout: true, ShowStderr: true, Tail: "20"})
	if err != nil {
		return "no output"
	}
	defer rc.Close()
	var b strings.Builder
	_, _ = stdcopy.StdCopy(&b, &b, io.LimitReader(rc, 64<<10))
	return strings.TrimSpace(b.String())
}

// Replacement is a volume made ready for its new content: its old
// content is set aside, in a folder at its root (Aside), or deleted when
// no image of the project could set it aside. Image is the helper image
// that prepared it, and has what the extraction needs. Set-aside content
// stays until CommitReplace deletes it, or RevertReplace puts it back:
// Revertible says the root's own owner, mode and mtime were kept too, so
// that putting it back is exact.
type Replacement struct {
	// Volume names the place, for messages.
	Volume     string
	Place      Place
	Image      string
	Aside      string
	Revertible bool
}

// ReplacedPrefix starts the name of the folder at a volume's root that holds
// its old content while a restore replaces it: the content in c/, the
// root's own metadata in root.tar. The restore deletes it, or moves the
// content back when it fails; one that was killed may leave it behind.
const ReplacedPrefix = ".docker-backup-replaced-"

// asideScript moves everything at the volume's root into $ASIDE/c, after
// keeping the root's owner, mode and mtime in $ASIDE/root.tar (GNU tar;
// without it the set-aside content can still be deleted, not put back
// exactly: exit code 5). Renames are instant
// where deleting first is not: on ext4 without a journal, files created
// soon after many were deleted each scan the deleted inodes
// (recently_deleted), and extracting 60,000 files into a volume just
// emptied took several times as long as into a fresh one. The check for
// tar fails here, before any content is read, when the image cannot do
// the rest.
const asideScript = `command -v tar >/dev/null 2>&1 || exit 3
cd ` + helperMount + ` || exit 1
root=ok
tar -c -f /.docker-backup-root.tar --no-recursion . 2>/dev/null || root=
mkdir -m 700 -- "$ASIDE" && mkdir -m 700 -- "$ASIDE/c" || exit 1
for f in * .[!.]* ..?*; do
  if [ "$f" != "$ASIDE" ] && { [ -e "$f" ] || [ -h "$f" ]; }; then mv -f -- "$f" "$ASIDE/c/" || exit 1; fi
done
[ -n "$root" ] || exit 5
cp /.docker-backup-root.tar "$ASIDE/root.tar" || exit 1`

// commitScript deletes the set-aside content. Deleting it changes the
// root's mtime, which the extraction has just set from the archive: a
// reference file outside the volume carries it over.
const commitScript = `ref=/.docker-backup-root-mtime
touch -m -r ` + helperMount + ` "$ref" && rm -rf -- ` + helperMount + `/"$ASIDE" && touch -m -r "$ref" ` + helperMount

// revertScript deletes what a failed restore extracted and moves the
// set-aside content back, then gives the root its owner, mode and mtime
// from before. Exit 4: nothing to revert to.
const revertScript = `cd ` + helperMount + ` || exit 1
[ -d "$ASIDE/c" ] && [ -f "$ASIDE/root.tar" ] || exit 4
cp "$ASIDE/root.tar" /.docker-backup-root.tar || exit 1
for f in * .[!.]* ..?*; do
  if [ "$f" != "$ASIDE" ] && { [ -e "$f" ] || [ -h "$f" ]; }; then rm -rf -- "$f" || exit 1; fi
done
for f in "$ASIDE"/c/* "$ASIDE"/c/.[!.]* "$ASIDE"/c/..?*; do
  if [ -e "$f" ] || [ -h "$f" ]; then mv -f -- "$f" . || exit 1; fi
done
rm -rf -- "$ASIDE" && tar -x -p -f /.docker-backup-root.tar -C ` + helperMount

// The scripts of a single file: it is set aside beside itself, in its
// folder, under the name $ASIDE (a missing file leaves nothing aside, and
// a revert then removes what was extracted). A folder the engine made
// where the file was missing when the container was created is set aside
// the same way.
const (
	asideFileScript = `cd ` + helperMount + ` || exit 1
if [ -e "$NAME" ] || [ -h "$NAME" ]; then mv -f -- "$NAME" "$ASIDE" || exit 1; fi`
	commitFileScript = `cd ` + helperMount + ` && rm -rf -- "$ASIDE"`
	revertFileScript = `cd ` + helperMount + ` || exit 1
rm -rf -- "$NAME" || exit 1
if [ -e "$ASIDE" ] || [ -h "$ASIDE" ]; then mv -f -- "$ASIDE" "$NAME" || exit 1; fi`
)

// script is the place's version of a replacement script.
func (p Place) script(dir, file string) []string {
	if p.File {
		return []string{"sh", "-c", file}
	}
	return []string{"sh", "-c", dir}
}

// PrepareReplace makes a place ready for ExtractIntoVolume: with a helper
// started from the first of images that has sh, mv and tar (as root,
// without network), its old content is set aside; when none has, a
// volume's or folder's is deleted with find (emptyVolume). The helper is
// always removed.
func (e *Engine) PrepareReplace(ctx context.Context, images []string, place Place) (Replacement, error) {
	aside := ReplacedPrefix + randomSuffix()
	volume := place.String()
	for _, img := range images {
		code, out, err := e.runCmd(ctx, img, place.mount(), place.script(asideScript, asideFileScript), place.env(aside))
		if err != nil {
			if ctx.Err() != nil {
				return Replacement{}, ctx.Err()
			}
			if errors.Is(err, errCreateHelper) {
				return Replacement{}, err
			}
			// No sh in this image, most likely: emptyVolume below says
			// what is wrong when no image can do even that.
			continue
		}
		switch code {
		case 0, 5:
			return Replacement{Volume: volume, Place: place, Image: img, Aside: aside, Revertible: code == 0}, nil
		case 3:
			continue // no tar: another image, or find -delete
		default:
			return Replacement{}, fmt.Errorf("cannot set aside the content of volume %s (exit code %d): %s", volume, code, out)
		}
	}
	if place.File {
		return Replacement{}, fmt.Errorf("cannot replace file %s: no image of the project has sh and mv", volume)
	}
	img, err := e.emptyVolume(ctx, images, place)
	if err != nil {
		return Replacement{}, err
	}
	return Replacement{Volume: volume, Place: place, Image: img}, nil
}

// CommitReplace deletes the content a replacement set aside, once the
// restore it belongs to has succeeded. It runs even after a cancel.
func (e *Engine) CommitReplace(ctx context.Context, rep Replacement) error {
	if rep.Aside == "" {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Hour)
	defer cancel()
	code, out, err := e.runCmd(ctx, rep.Image, rep.Place.mount(), rep.Place.script(commitScript, commitFileScript), rep.Place.env(rep.Aside))
	if err == nil && code != 0 {
		err = fmt.Errorf("exit code %d: %s", code, out)
	}
	if err != nil {
		return fmt.Errorf("cannot delete the old content of volume %s (folder %s at its root; delete it by hand): %w", rep.Volume, rep.Aside, err)
	}
	return nil
}

// ErrNotRevertible: the replacement kept nothing to put back (its old
// content was deleted, or the root's metadata could not be kept).
var ErrNotRevertible = errors.New("the old content was not set aside")

// RevertReplace puts a volume back as it was before PrepareReplace: what
// was extracted since is deleted, the set-aside content moved back, the
// root's owner, mode and mtime restored. Renames only: exact and quick,
// whatever the size. It runs even after a cancel.
func (e *Engine) RevertReplace(ctx context.Context, rep Replacement) error {
	if rep.Aside == "" || !rep.Revertible {
		return ErrNotRevertible
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Hour)
	defer cancel()
	code, out, err := e.runCmd(ctx, rep.Image, rep.Place.mount(), rep.Place.script(revertScript, revertFileScript), rep.Place.env(rep.Aside))
	switch {
	case err != nil:
	case code == 4:
		err = ErrNotRevertible
	case code != 0:
		err = fmt.Errorf("exit code %d: %s", code, out)
	}
	if err != nil {
		return fmt.Errorf("cannot put back the old content of volume %s: %w", rep.Volume, err)
	}
	return nil
}

// runCmd runs cmd in a helper of image (as root, without network),
// returning its exit code and the end of its output. err is set when the
// helper could not run (cmd's program is not in the image). The helper is
// always removed.
func (e *Engine) runCmd(ctx context.Context, image string, m mount.Mount, cmd, env []string) (int, string, error) {
	id, err := e.createHelper(ctx, image, m, cmd, env, false, false)
	if err != nil {
		return -1, "", err
	}
	defer e.removeHelper(ctx, id)
	return e.runHelper(ctx, id)
}

func randomSuffix() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// errNoTar: the helper's image has no tar; CopyToContainer is used instead.
var errNoTar = errors.New("no tar in the image")

// ExtractIntoVolume extracts the tar stream r (entries under
// VolumeTarPrefix) into a volume PrepareReplace made ready, like
// copyIntoVolume, but with the image's own tar, run in a started helper
// (as root, without network or logging) that reads r on its stdin: several
// times faster than the daemon's extraction for many files. The content
// set aside stays (CommitReplace, RevertReplace). Images without tar fall
// back to copyIntoVolume. The archive carries no owner names, so tar -p as root
// keeps the numeric owners; it also sets modes and mtimes, directories'
// after their content.
func (e *Engine) ExtractIntoVolume(ctx context.Context, rep Replacement, r io.Reader) error {
	err := e.extract(ctx, rep, r)
	if errors.Is(err, errNoTar) {
		return e.copyIntoVolume(ctx, rep.Image, rep.Place, r)
	}
	return err
}

func (e *Engine) extract(ctx context.Context, rep Replacement, r io.Reader) error {
	volume := rep.Volume
	cmd := []string{"tar", "-x", "-p", "-f", "-", "-C", "/"}
	h, err := e.startHelper(ctx, rep.Image, rep.Place.mount(), cmd, nil, true)
	if err != nil {
		return err
	}
	defer h.done()
	hj := h.hj
	out := make(chan string, 1)
	go func() {
		var b strings.Builder
		_, _ = stdcopy.StdCopy(io.Discard, &limitWriter{w: &b, n: 8 << 10}, hj.Reader)
		out <- strings.TrimSpace(b.String())
	}()
	_, copyErr := io.Copy(hj.Conn, r)
	_ = hj.CloseWrite()
	code, err := h.exitCode(ctx, volume)
	if err != nil {
		return err
	}
	stderr := <-out
	if code != 0 {
		return fmt.Errorf("cannot write volume %s: tar exited with %d: %s", volume, code, stderr)
	}
	// tar stops reading at the end-of-archive marker: writing what
	// follows may fail once it exited, with everything extracted.
	if copyErr != nil && ctx.Err() != nil {
		return ctx.Err()
	}
	return nil
}

// drainWriter writes to w until that fails, then discards.
type drainWriter struct {
	w   io.Writer
	err error
}

func (d *drainWriter) Write(p []byte) (int, error) {
	if d.err == nil {
		_, d.err = d.w.Write(p)
	}
	return len(p), nil
}

// limitWriter keeps the first n bytes written to it.
type limitWriter struct {
	w io.Writer
	n int
}

func (l *limitWriter) Write(p []byte) (int, error) {
	if l.n > 0 {
		k := min(len(p), l.n)
		_, _ = l.w.Write(p[:k])
		l.n -= k
	}
	return len(p), nil
}

// readWithTar streams a volume with the image's own tar, run in a started
// helper (as root, read-only, without network or logging) whose stdout is
// attached: for many files about twice as fast as the daemon's
// CopyFromContainer. It returns errNoTar, before calling fn, when the
// image has no tar.
func (e *Engine) readWithTar(ctx context.Context, image string, m mount.Mount, content bool, exclude []string, fn func(io.Reader) error) error {
	volume := m.Source
	cmd := []string{"tar", "-c", "-f", "-", "-C", helperMount}
	for _, x := range exclude {
		if !strings.ContainsAny(x, "*?[\\") && x != "." {
			cmd = append(cmd, "--exclude=./"+x)
		}
	}
	cmd = append(cmd, ".")
	if !content {
		cmd = []string{"tar", "-c", "-f", "-", "-C", "/", strings.TrimPrefix(helperMount, "/")}
	}
	h, err := e.startHelper(ctx, image, m, cmd, nil, false)
	if err != nil {
		return err
	}
	defer h.done()
	hj := h.hj
	pr, pw := io.Pipe()
	var stderr strings.Builder
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		// Once fn has read what it needs, the rest of stdout (the
		// record's padding) is discarded, and stderr still collected.
		_, err := stdcopy.StdCopy(&drainWriter{w: pw}, &limitWriter{w: &stderr, n: 8 << 10}, hj.Reader)
		pw.CloseWithError(err)
	}()
	fnErr := fn(pr)
	pr.Close()
	code, err := h.exitCode(ctx, volume)
	// tar's last words (its warnings) may still be on their way: read the
	// stream to its end before looking at them. Closing the connection
	// ends the read when tar is gone, or when it never exits.
	if err != nil || fnErr != nil {
		hj.Close()
	}
	select {
	case <-copied:
	case <-time.After(5 * time.Second):
		hj.Close()
		<-copied
	}
	hj.Close()
	if err != nil {
		return err
	}
	if fnErr != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fnErr
	}
	// GNU tar exits with 1 when a file changed while it was read (a live
	// volume): the archive is whole, each file as tar saw it. Anything
	// else (a file it could not read) fails the backup.
	if code != 0 && !(code == 1 && onlyChangedWarnings(stderr.String())) {
		return fmt.Errorf("cannot read volume %s: tar exited with %d: %s", volume, code, strings.TrimSpace(stderr.String()))
	}
	return nil
}

// onlyChangedWarnings tells whether tar's exit code 1 meant only that
// files changed while it read them: it says so for each. Exit 1 with
// nothing said, or with any other complaint, is a failure.
func onlyChangedWarnings(stderr string) bool {
	seen := false
	for _, l := range strings.Split(strings.TrimSpace(stderr), "\n") {
		if l == "" {
			continue
		}
		if !strings.Contains(l, "file changed as we read it") && !strings.Contains(l, "file removed before we read it") && !strings.Contains(l, "socket ignored") {
			return false
		}
		seen = true
	}
	return seen
}

// tarHelper is a started helper container running the image's tar, with
// its streams attached.
type tarHelper struct {
	hj    types.HijackedResponse
	waitC <-chan container.WaitResponse
	errC  <-chan error
	done  func()
}

// startHelper starts cmd (tar, or sh running tar) in a helper from image
// (as root, without network or logging, the volume mounted as m), attached
// to its output and, with stdin, its input. It returns errNoTar when the
// image lacks cmd's program. done closes the streams and removes the
// helper.
func (e *Engine) startHelper(ctx context.Context, image string, m mount.Mount, cmd, env []string, stdin bool) (*tarHelper, error) {
	volume := m.Source
	id, err := e.createHelper(ctx, image, m, cmd, env, true, stdin)
	if err != nil {
		return nil, err
	}
	hj, err := e.api.ContainerAttach(ctx, id, container.AttachOptions{Stream: true, Stdin: stdin, Stdout: true, Stderr: true})
	if err != nil {
		e.removeHelper(ctx, id)
		return nil, fmt.Errorf("cannot attach to the helper of volume %s: %w", volume, err)
	}
	stop := context.AfterFunc(ctx, hj.Close)
	h := &tarHelper{hj: hj, done: func() {
		stop()
		hj.Close()
		e.removeHelper(ctx, id)
	}}
	h.waitC, h.errC = e.api.ContainerWait(ctx, id, container.WaitConditionNextExit)
	if err := e.api.ContainerStart(ctx, id, container.StartOptions{}); err != nil {
		h.done()
		if strings.Contains(err.Error(), "executable file not found") || strings.Contains(err.Error(), "no such file or directory") {
			return nil, errNoTar
		}
		return nil, fmt.Errorf("cannot start the helper of volume %s: %w", volume, err)
	}
	return h, nil
}

// exitCode waits for tar to end.
func (h *tarHelper) exitCode(ctx context.Context, volume string) (int64, error) {
	select {
	case res := <-h.waitC:
		return res.StatusCode, nil
	case err := <-h.errC:
		if ctx.Err() != nil {
			return -1, ctx.Err()
		}
		return -1, fmt.Errorf("waiting for the helper of volume %s: %w", volume, err)
	}
}
