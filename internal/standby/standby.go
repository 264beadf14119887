package standby

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/docker-backup/docker-backup/internal/storage"
)

// Hooks are what an Applier calls back while it holds the project's lock.
type Hooks struct {
	// Locked runs once the lock is held, before anything changes: an
	// error refuses the restore, with nothing changed.
	Locked func(ctx context.Context) error
	// Done runs after the restore succeeded, the lock still held.
	Done func(ctx context.Context) error
	// Verified, when set, runs once the archive is verified, with the
	// time its manifest (which a signature covers) says it was taken, and
	// before anything changes: an error refuses the restore.
	Verified func(createdAt time.Time) error
}

// Applier restores archives into the project and starts it (Restorer in
// production).
type Applier interface {
	// Apply downloads archive name, verifies it and restores it with the
	// app kept down. intact tells, on error, that the project is as it
	// was before (nothing was changed, or the rollback put it back).
	Apply(ctx context.Context, name string, h Hooks) (intact bool, err error)
	// Start takes the project's lock, runs locked, starts every service
	// and runs done, the lock still held.
	Start(ctx context.Context, locked, done func(ctx context.Context) error) error
}

// Sentinel errors; test with errors.Is.
var (
	// ErrPromoted: the project was promoted (or is being promoted) on
	// this engine: no standby run restores into it any more.
	ErrPromoted = errors.New("the project was promoted")
	// ErrNotItsIndex: the archive's own time is not the one its index
	// (by which it was chosen as the newest) gives.
	ErrNotItsIndex = errors.New("the archive is not the one its index describes")
	// errCurrent: another run applied the archive (or a newer one) while
	// this one waited for the lock.
	errCurrent = errors.New("already applied")
)

// Follower follows a storage and applies new archives to the project.
type Follower struct {
	// Project is the local project; Source the project whose archives
	// are followed ("" for Project); Host, when set, keeps only the
	// archives of that host (the engine's name the index records).
	Project, Source, Host string
	Store                 storage.Backend
	Marker                *Marker
	Applier               Applier
	Log                   *slog.Logger
	// Metrics, nil for none.
	Metrics *Metrics
	// Now is the clock; nil for time.Now.
	Now func() time.Time
}

func (f *Follower) now() time.Time {
	if f.Now != nil {
		return f.Now().UTC()
	}
	return time.Now().UTC()
}

func (f *Follower) log() *slog.Logger {
	if f.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return f.Log
}

// follows is the mode state that records what f follows, since when.
func (f *Follower) follows(since time.Time) ModeState {
	return ModeState{Mode: ModeStandby, Since: since, Source: f.Store.Location(), SourceProject: f.source(), SourceHost: f.Host}
}

// adopt follows what the standby recorded, where f was not told.
func (f *Follower) adopt(st State) {
	if f.Source == "" {
		f.Source = st.SourceProject
	}
	if f.Host == "" {
		f.Host = st.SourceHost
	}
}

func (f *Follower) source() string {
	if f.Source != "" {
		return f.Source
	}
	return f.Project
}

// Newest is the newest complete archive of the followed project: indexed
// by this tool (written whole, then committed), not a safety backup, of
// Host when set. Nil when there is none.
func (f *Follower) Newest(ctx context.Context) (*Archive, error) {
	entries, _, err := storage.Catalog(ctx, f.Store)
	if err != nil {
		return nil, fmt.Errorf("cannot list %s: %w", f.Store.Location(), err)
	}
	for _, e := range entries {
		ix := e.Index
		if ix == nil || ix.Safety || ix.Project != f.source() || (f.Host != "" && ix.Host != f.Host) {
			continue
		}
		// Catalog is newest first.
		return &Archive{Name: e.Name, Host: ix.Host, CreatedAt: ix.CreatedAt.UTC()}, nil
	}
	return nil, nil
}

// Outcome is what one poll did.
type Outcome struct {
	// Applied is the archive restored; nil when there was nothing new.
	Applied *Applied
	// Why says why nothing was applied.
	Why string
}

// needed tells whether a is to be applied over st: it is newer than what
// was applied, or a restore was interrupted (then the newest archive, if
// not older than the last applied one, is applied again). An archive
// older than the applied one is never applied, however late it appears.
func needed(st State, a *Archive) bool {
	if st.Applied == nil {
		return true
	}
	if a.CreatedAt.After(st.Applied.CreatedAt) {
		return true
	}
	return st.Applying != nil && a.CreatedAt.Equal(st.Applied.CreatedAt)
}

// Poll applies the newest archive if it is new. It does nothing once the
// project is promoted.
func (f *Follower) Poll(ctx context.Context) (Outcome, error) {
	st, err := f.Marker.Read(ctx)
	if err != nil {
		return Outcome{}, err
	}
	f.Metrics.state(st)
	switch st.Mode {
	case ModePromoting, ModePromoted:
		return Outcome{Why: fmt.Sprintf("project %s was promoted (%s): standby does nothing", f.Project, st.Since.Format(time.RFC3339))}, nil
	case ModeNone:
		if err := f.Marker.WriteMode(ctx, f.follows(f.now())); err != nil {
			return Outcome{}, err
		}
	default:
		// Started again to follow something else: status and promote
		// follow that from now on.
		if ms := f.follows(st.Since); ms != st.ModeState {
			if err := f.Marker.WriteMode(ctx, ms); err != nil {
				return Outcome{}, err
			}
		}
	}
	newest, err := f.Newest(ctx)
	if err != nil {
		return Outcome{}, err
	}
	f.Metrics.available(newest)
	if newest == nil {
		return Outcome{Why: fmt.Sprintf("no archive of project %s in %s yet", f.source(), f.Store.Location())}, nil
	}
	if !needed(st, newest) {
		return Outcome{Why: "up to date with " + st.Applied.Name}, nil
	}
	if st.Applying != nil {
		f.log().Warn("the restore of an earlier run was interrupted: applying the newest archive again", "interrupted", st.Applying.Name, "since", st.Applying.Since)
	}
	a, err := f.apply(ctx, newest, ModeStandby)
	if errors.Is(err, errCurrent) {
		return Outcome{Why: "up to date: another run applied it"}, nil
	}
	if err != nil {
		return Outcome{}, err
	}
	return Outcome{Applied: a}, nil
}

// apply restores a, if the project's mode is still mode once the lock is
// held and nothing newer was applied meanwhile, and records it.
func (f *Follower) apply(ctx context.Context, a *Archive, mode Mode) (*Applied, error) {
	var applying *Applying
	var applied *Applied
	h := Hooks{
		// The listing's time is the index's, which anyone who can write
		// the storage can write: an older archive under a newer index
		// would pass for new. The archive's own time must be the same.
		Verified: func(createdAt time.Time) error {
			if !createdAt.Equal(a.CreatedAt) {
				return fmt.Errorf("%w: archive %s says it was taken %s, its index %s: it is not the archive its index describes (an older archive put back under a newer index?); nothing was restored", ErrNotItsIndex, a.Name, createdAt.UTC().Format(time.RFC3339), a.CreatedAt.Format(time.RFC3339))
			}
			return nil
		},
		Locked: func(ctx context.Context) error {
			st, err := f.Marker.Read(ctx)
			if err != nil {
				return err
			}
			if st.Mode != mode {
				return fmt.Errorf("%w (%s): nothing was restored", ErrPromoted, st.Since.Format(time.RFC3339))
			}
			if !needed(st, a) {
				return errCurrent
			}
			applying = &Applying{Archive: *a, Since: f.now()}
			return f.Marker.WriteProgress(ctx, Progress{Applied: st.Applied, Applying: applying})
		},
		Done: func(ctx context.Context) error {
			applied = &Applied{Archive: *a, AppliedAt: f.now()}
			if err := f.Marker.WriteProgress(ctx, Progress{Applied: applied}); err != nil {
				return fmt.Errorf("%s was restored, but %w", a.Name, err)
			}
			return nil
		},
	}
	f.log().Info("applying archive", "archive", a.Name, "createdAt", a.CreatedAt)
	intact, err := f.Applier.Apply(ctx, a.Name, h)
	if err != nil {
		if intact && applying != nil {
			f.clearApplying(ctx, applying)
		}
		return nil, err
	}
	f.Metrics.applied(applied)
	return applied, nil
}

// clearApplying records that the failed restore left the project as it
// was, unless another run has begun one since.
func (f *Follower) clearApplying(ctx context.Context, mine *Applying) {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	st, err := f.Marker.Read(cctx)
	if err == nil && st.Applying != nil && *st.Applying == *mine {
		err = f.Marker.WriteProgress(cctx, Progress{Applied: st.Applied})
	}
	if err != nil {
		f.log().Warn("could not record that the failed restore left the project as it was", "err", err)
	}
}

// PromoteOptions say how to promote.
type PromoteOptions struct {
	// NoCatchUp starts the project with what it holds, without applying
	// the newest archive first.
	NoCatchUp bool
	// Force starts it even though a restore was interrupted halfway.
	Force bool
}

// Promoted is what promote did.
type Promoted struct {
	Project string `json:"project"`
	// Already: the project had been promoted before (Since).
	Already bool      `json:"already,omitempty"`
	Since   time.Time `json:"since"`
	// Applied is the archive the project holds; CaughtUp tells that
	// promote applied it.
	Applied  *Applied `json:"applied,omitempty"`
	CaughtUp bool     `json:"caughtUp,omitempty"`
}

// Promote ends the standby: applies the newest archive unless NoCatchUp,
// starts the whole project, and records the promotion, after which no
// standby run touches the project.
func (f *Follower) Promote(ctx context.Context, opts PromoteOptions) (*Promoted, error) {
	st, err := f.Marker.Read(ctx)
	if err != nil {
		return nil, err
	}
	f.adopt(st)
	res := &Promoted{Project: f.Project, Applied: st.Applied}
	if st.Mode == ModePromoted {
		res.Already, res.Since = true, st.Since
		return res, nil
	}
	// From here on, standby runs refuse to restore (they check under the
	// lock); one under way is waited for by the lock below.
	if st.Mode != ModePromoting {
		ms := st.ModeState
		ms.Mode, ms.Since = ModePromoting, f.now()
		if err := f.Marker.WriteMode(ctx, ms); err != nil {
			return nil, err
		}
	}
	if !opts.NoCatchUp && f.Store != nil {
		newest, err := f.Newest(ctx)
		if err != nil {
			return nil, fmt.Errorf("catching up: %w; to start the project with what it holds, use --no-catch-up", err)
		}
		if newest != nil && needed(st, newest) {
			a, err := f.apply(ctx, newest, ModePromoting)
			switch {
			case errors.Is(err, errCurrent):
			case err != nil:
				return nil, fmt.Errorf("catching up with %s: %w; the project is marked as being promoted, no standby run will touch it: run promote again, or promote --no-catch-up to start it with what it holds", newest.Name, err)
			default:
				res.Applied, res.CaughtUp = a, true
			}
		}
	}
	locked := func(ctx context.Context) error {
		st, err := f.Marker.Read(ctx)
		if err != nil {
			return err
		}
		if st.Applying != nil && !opts.Force {
			return fmt.Errorf("the restore of %s that began at %s was interrupted halfway: the data may be incomplete; promote without --no-catch-up to apply the newest archive, or with --force to start the project as it is", st.Applying.Name, st.Applying.Since.Format(time.RFC3339))
		}
		res.Applied = st.Applied
		return nil
	}
	done := func(ctx context.Context) error {
		res.Since = f.now()
		ms := st.ModeState
		ms.Mode, ms.Since = ModePromoted, res.Since
		return f.Marker.WriteMode(ctx, ms)
	}
	if err := f.Applier.Start(ctx, locked, done); err != nil {
		return nil, fmt.Errorf("promoting project %s: %w", f.Project, err)
	}
	f.Metrics.state(State{ModeState: ModeState{Mode: ModePromoted}})
	return res, nil
}

// Status is what standby --status shows.
type Status struct {
	Project string    `json:"project"`
	Mode    Mode      `json:"mode"`
	Since   time.Time `json:"since,omitzero"`
	Source  string    `json:"source,omitempty"`
	// SourceProject and SourceHost are the archives followed there.
	SourceProject string   `json:"sourceProject,omitempty"`
	SourceHost    string   `json:"sourceHost,omitempty"`
	Applied       *Applied `json:"applied,omitempty"`
	// Applying is a restore under way, or interrupted.
	Applying *Applying `json:"applying,omitempty"`
	// Newest is the newest archive in the storage, when it was read.
	Newest *Archive `json:"newest,omitempty"`
	// AppliedAge is how old the applied data is: what a failover now
	// would lose at most, plus what was written since the newest backup.
	AppliedAgeSeconds float64 `json:"appliedAgeSeconds,omitempty"`
	NewestAgeSeconds  float64 `json:"newestAgeSeconds,omitempty"`
	// LagSeconds is how far the applied archive is behind the newest
	// (before the first is applied: the newest one's age).
	LagSeconds float64 `json:"lagSeconds"`
}

// Status reads the state, and the storage when there is one.
func (f *Follower) Status(ctx context.Context) (*Status, error) {
	st, err := f.Marker.Read(ctx)
	if err != nil {
		return nil, err
	}
	f.adopt(st)
	now := f.now()
	s := &Status{Project: f.Project, Mode: st.Mode, Since: st.Since, Source: st.Source, SourceProject: f.source(), SourceHost: f.Host, Applied: st.Applied, Applying: st.Applying}
	if st.Applied != nil {
		s.AppliedAgeSeconds = now.Sub(st.Applied.CreatedAt).Seconds()
	}
	if f.Store != nil {
		if s.Newest, err = f.Newest(ctx); err != nil {
			return nil, err
		}
	}
	if s.Newest != nil {
		s.NewestAgeSeconds = now.Sub(s.Newest.CreatedAt).Seconds()
		s.LagSeconds = lag(st.Applied, s.Newest, now)
	}
	return s, nil
}

// lag is how far applied is behind newest, in seconds; before anything
// was applied, the newest archive's age.
func lag(applied *Applied, newest *Archive, now time.Time) float64 {
	if applied == nil {
		return now.Sub(newest.CreatedAt).Seconds()
	}
	if d := newest.CreatedAt.Sub(applied.CreatedAt); d > 0 {
		return d.Seconds()
	}
	return 0
}
