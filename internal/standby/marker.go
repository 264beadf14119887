// Package standby keeps a warm standby host: it follows a storage where
// another host's backups arrive, restores each new complete archive into
// the local project with the app kept down, and promotes the project when
// the primary host is lost.
//
// What the standby applied, and whether the project was promoted, is
// recorded on the engine itself (as the project's lock is): a container
// that is created and never started, named after the project, holds two
// small files. Every copy of docker-backup that reaches the engine sees
// them: a restarted standby resumes where it was, and a standby left
// running after a promotion never restores over the promoted project.
// Each file has one writer under the project's lock: mode.json is
// written by promote (and by the first standby run), progress.json by
// whoever applies an archive.
package standby

import (
	"archive/tar"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"

	"github.com/docker-backup/docker-backup/internal/lock"
)

// Label marks a marker container; its value is the project.
const Label = "org.docker-backup.standby"

// MarkerName is the name of a project's marker container.
func MarkerName(project string) string { return "docker-backup-standby-" + project }

const (
	modeFile     = "mode.json"
	progressFile = "progress.json"
	// maxFile bounds what is read of a marker file: they are tiny.
	maxFile = 1 << 20
)

// Mode is where a project is in its life as a standby.
type Mode string

const (
	// ModeNone: the project was never a standby on this engine.
	ModeNone Mode = ""
	// ModeStandby: new archives are applied as they appear.
	ModeStandby Mode = "standby"
	// ModePromoting: promote has begun; no standby run applies anything.
	ModePromoting Mode = "promoting"
	// ModePromoted: the project runs as the primary; nothing is applied.
	ModePromoted Mode = "promoted"
)

// ModeState is mode.json.
type ModeState struct {
	Mode  Mode      `json:"mode"`
	Since time.Time `json:"since"`
	// Source is the storage followed (no credentials); SourceProject
	// and SourceHost the archives followed there: status and promote
	// follow them too unless told otherwise.
	Source        string `json:"source,omitempty"`
	SourceProject string `json:"sourceProject,omitempty"`
	SourceHost    string `json:"sourceHost,omitempty"`
}

// Archive is one archive as the standby knows it.
type Archive struct {
	Name      string    `json:"name"`
	Host      string    `json:"host,omitempty"`
	CreatedAt time.Time `json:"createdAt"`
}

// Applied is an archive restored into the project.
type Applied struct {
	Archive
	AppliedAt time.Time `json:"appliedAt"`
}

// Applying is a restore under way, or one that was interrupted: its
// process died before it could record the end.
type Applying struct {
	Archive
	Since time.Time `json:"since"`
}

// Progress is progress.json.
type Progress struct {
	Applied  *Applied  `json:"applied,omitempty"`
	Applying *Applying `json:"applying,omitempty"`
}

// State is what the engine records of a project's standby.
type State struct {
	ModeState
	Progress
}

// API is what the marker needs of the Engine API (client.APIClient).
type API interface {
	lock.ImageAPI
	lock.Creator
	lock.FileWriter
	ContainerInspect(ctx context.Context, id string) (container.InspectResponse, error)
	CopyFromContainer(ctx context.Context, id, srcPath string) (io.ReadCloser, container.PathStat, error)
}

// Marker reads and writes a project's state on the engine.
type Marker struct {
	API     API
	Project string
}

// Read returns the recorded state; the zero State when none is.
func (m *Marker) Read(ctx context.Context) (State, error) {
	var st State
	if _, err := m.API.ContainerInspect(ctx, MarkerName(m.Project)); err != nil {
		if cerrdefs.IsNotFound(err) {
			return st, nil
		}
		return st, fmt.Errorf("cannot read the standby state of project %s: %w", m.Project, err)
	}
	if err := m.read(ctx, modeFile, &st.ModeState); err != nil {
		return st, err
	}
	if err := m.read(ctx, progressFile, &st.Progress); err != nil {
		return st, err
	}
	return st, nil
}

func (m *Marker) read(ctx context.Context, name string, v any) error {
	rc, _, err := m.API.CopyFromContainer(ctx, MarkerName(m.Project), "/"+name)
	if err != nil {
		if cerrdefs.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("cannot read the standby state of project %s (%s): %w", m.Project, name, err)
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	if _, err := tr.Next(); err != nil {
		return fmt.Errorf("cannot read the standby state of project %s (%s): %w", m.Project, name, err)
	}
	data, err := io.ReadAll(io.LimitReader(tr, maxFile))
	if err != nil {
		return fmt.Errorf("cannot read the standby state of project %s (%s): %w", m.Project, name, err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("the standby state of project %s (%s in container %s) is damaged: %w", m.Project, name, MarkerName(m.Project), err)
	}
	return nil
}

// WriteMode records the project's mode.
func (m *Marker) WriteMode(ctx context.Context, s ModeState) error {
	return m.write(ctx, modeFile, s)
}

// WriteProgress records what was applied and what is being applied.
func (m *Marker) WriteProgress(ctx context.Context, p Progress) error {
	return m.write(ctx, progressFile, p)
}

func (m *Marker) write(ctx context.Context, name string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	if err := m.ensure(ctx); err != nil {
		return err
	}
	if err := lock.WriteFile(ctx, m.API, MarkerName(m.Project), name, data, time.Now()); err != nil {
		return fmt.Errorf("cannot record the standby state of project %s: %w", m.Project, err)
	}
	return nil
}

// ensure creates the marker container unless it exists: never started,
// without network, from the lock's empty image.
func (m *Marker) ensure(ctx context.Context) error {
	name := MarkerName(m.Project)
	if _, err := m.API.ContainerInspect(ctx, name); err == nil {
		return nil
	} else if !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("cannot read the standby state of project %s: %w", m.Project, err)
	}
	if err := lock.EnsureImage(ctx, m.API); err != nil {
		return err
	}
	_, err := lock.CreateInert(ctx, m.API, name, "standby-marker", map[string]string{Label: m.Project})
	if err != nil && !errors.Is(err, cerrdefs.ErrConflict) && !cerrdefs.IsConflict(err) {
		return fmt.Errorf("cannot record the standby state of project %s: %w", m.Project, err)
	}
	return nil
}
