package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/docker-backup/docker-backup/internal/backup"
	"github.com/docker-backup/docker-backup/internal/event"
	"github.com/docker-backup/docker-backup/internal/jobs"
	"github.com/docker-backup/docker-backup/internal/lock"
	"github.com/docker-backup/docker-backup/internal/retention"
	"github.com/docker-backup/docker-backup/internal/storage"
)

// JobSummary is the last job of a kind, as /status shows it.
type JobSummary struct {
	ID            string     `json:"id"`
	Project       string     `json:"project"`
	State         jobs.State `json:"state"`
	Succeeded     bool       `json:"succeeded"`
	StatusMessage string     `json:"statusMessage"`
	StartDate     time.Time  `json:"startDate"`
	EndDate       *time.Time `json:"endDate,omitempty"`
}

// Status is GET /status.
type Status struct {
	Running  bool        `json:"running"`
	Backup   *JobSummary `json:"backup"`
	Restore  *JobSummary `json:"restore"`
	Projects []string    `json:"projects"`
	Schedule Schedule    `json:"schedule"`
	Healthy  bool        `json:"healthy"`
	Health   string      `json:"health,omitempty"`
	Version  string      `json:"version"`
}

func summary(j *jobs.Job) *JobSummary {
	if j == nil {
		return nil
	}
	v := j.View(true)
	sum := &JobSummary{ID: v.ID, Project: v.Project, State: v.State, Succeeded: v.State == jobs.Succeeded, StartDate: v.StartDate, EndDate: v.EndDate}
	sum.StatusMessage = v.Error
	for i := len(v.Events) - 1; i >= 0 && sum.StatusMessage == ""; i-- {
		sum.StatusMessage = v.Events[i].Message
	}
	return sum
}

func (s *Server) status(w http.ResponseWriter, r *http.Request) {
	st := Status{
		Running:  s.cfg.Jobs.Running(),
		Backup:   summary(s.cfg.Jobs.Last(jobs.Backup)),
		Restore:  summary(s.cfg.Jobs.Last(jobs.Restore)),
		Projects: s.cfg.Service.Projects(),
		Schedule: s.cfg.Service.Schedule(),
		Healthy:  true,
		Version:  s.cfg.Version,
	}
	if err := s.cfg.Service.Health(); err != nil {
		st.Healthy, st.Health = false, err.Error()
	}
	writeJSON(w, http.StatusOK, st)
}

// Accepted is the answer to a request that started a job.
type Accepted struct {
	ID       string `json:"id"`
	Location string `json:"location"`
	Events   string `json:"events"`
}

func (s *Server) accepted(w http.ResponseWriter, j *jobs.Job) {
	loc := "/api/v1/jobs/" + j.ID
	w.Header().Set("Location", loc)
	writeJSON(w, http.StatusAccepted, Accepted{ID: j.ID, Location: loc, Events: loc + "/events"})
}

// lockProject takes the project's lock for a job, answering 409 when a
// backup or restore of it runs (hint ends that answer's first sentence).
// The lock lives as long as the daemon, not the request; release is safe
// to call twice.
func (s *Server) lockProject(w http.ResponseWriter, project string, hint ...string) (backup.Locker, func(), bool) {
	locked, release, err := s.cfg.Service.Lock(s.base, project)
	if err != nil {
		if errors.Is(err, lock.ErrLocked) {
			writeError(w, http.StatusConflict, "a backup or restore of project %s runs: try again when it is over%s (%v)", project, strings.Join(hint, ""), err)
			return nil, nil, false
		}
		writeError(w, http.StatusServiceUnavailable, "cannot take the lock of project %s: %v", project, err)
		return nil, nil, false
	}
	var once sync.Once
	rel := func() { once.Do(release) }
	// The job's work runs under its own context (a client may cancel
	// it) and ends as well when the lock is lost.
	locker := func(ctx context.Context, _ string) (context.Context, func(), error) {
		merged, cancel := context.WithCancelCause(locked)
		stop := context.AfterFunc(ctx, func() { cancel(context.Cause(ctx)) })
		return merged, func() { stop(); cancel(nil); rel() }, nil
	}
	return locker, rel, true
}

func (s *Server) startBackup(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Project string `json:"project"`
	}
	if !readJSON(w, r, &req) {
		return
	}
	project, ok := s.project(w, req.Project)
	if !ok {
		return
	}
	locker, release, ok := s.lockProject(w, project)
	if !ok {
		return
	}
	j := s.cfg.Jobs.New(s.base, jobs.Backup, project, "api", func(ctx context.Context, j *jobs.Job) (any, error) {
		defer release()
		return s.cfg.Service.Backup(ctx, project, locker, j.Sink())
	})
	s.accepted(w, j)
}

func (s *Server) listBackups(w http.ResponseWriter, r *http.Request) {
	list, err := storage.Listing(r.Context(), s.cfg.Store, r.URL.Query().Get("project"))
	if err != nil {
		writeError(w, http.StatusBadGateway, "listing %s: %v", s.cfg.Store.Location(), err)
		return
	}
	writeJSON(w, http.StatusOK, list)
}

func (s *Server) deleteBackup(w http.ResponseWriter, r *http.Request) {
	err := retention.Delete(r.Context(), s.cfg.Store, r.PathValue("name"))
	switch {
	case err == nil:
		w.WriteHeader(http.StatusNoContent)
	case errors.Is(err, storage.ErrNotExist):
		writeError(w, http.StatusNotFound, "%v", err)
	case errors.Is(err, retention.ErrNewest), errors.Is(err, retention.ErrForeign):
		writeError(w, http.StatusConflict, "%v", err)
	default:
		writeError(w, http.StatusBadGateway, "%v", err)
	}
}

func (s *Server) job(w http.ResponseWriter, r *http.Request) (*jobs.Job, bool) {
	j, ok := s.cfg.Jobs.Get(r.PathValue("id"))
	if !ok {
		writeError(w, http.StatusNotFound, "no job %s (jobs are kept in memory: the newest 50)", r.PathValue("id"))
	}
	return j, ok
}

func (s *Server) listJobs(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.cfg.Jobs.List())
}

func (s *Server) getJob(w http.ResponseWriter, r *http.Request) {
	if j, ok := s.job(w, r); ok {
		writeJSON(w, http.StatusOK, j.View(true))
	}
}

func (s *Server) cancelJob(w http.ResponseWriter, r *http.Request) {
	j, ok := s.job(w, r)
	if !ok {
		return
	}
	select {
	case <-j.Done():
		writeError(w, http.StatusConflict, "job %s is over", j.ID)
		return
	default:
	}
	j.Cancel()
	writeJSON(w, http.StatusAccepted, j.View(false))
}

// jobEvents streams a job's events as server-sent events: those so far
// (after Last-Event-ID, to resume), then each as it comes, until the end.
func (s *Server) jobEvents(w http.ResponseWriter, r *http.Request) {
	j, ok := s.job(w, r)
	if !ok {
		return
	}
	after, _ := strconv.Atoi(r.Header.Get("Last-Event-ID"))
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("X-Accel-Buffering", "no") // nginx: do not hold the stream back
	w.WriteHeader(http.StatusOK)
	_ = rc.Flush()
	for {
		ctx, cancel := context.WithTimeout(r.Context(), 15*time.Second)
		evs, ended, err := j.Next(ctx, after)
		cancel()
		if r.Context().Err() != nil {
			return
		}
		if err != nil {
			// A comment line keeps proxies from closing an idle stream.
			if _, err := io.WriteString(w, ": keep-alive\n\n"); err != nil {
				return
			}
			_ = rc.Flush()
			continue
		}
		for _, e := range evs {
			if err := writeEvent(w, e); err != nil {
				return
			}
			after = e.Seq
		}
		_ = rc.Flush()
		if ended {
			return
		}
	}
}

func writeEvent(w io.Writer, e event.Event) error {
	data, err := json.Marshal(e)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "id: %d\nevent: %s\ndata: %s\n\n", e.Seq, e.Type, data)
	return err
}
