package api

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/docker-backup/docker-backup/internal/backup"
	"github.com/docker-backup/docker-backup/internal/jobs"
	"github.com/docker-backup/docker-backup/internal/restore"
	"github.com/docker-backup/docker-backup/internal/sign"
)

// restoreParams are a restore's options, from the JSON body, the query
// or the form fields before the uploaded file.
type restoreParams struct {
	// Name is a stored archive; empty with an upload.
	Name    string `json:"name"`
	Project string `json:"project"`
	Force   bool   `json:"force"`
	// NoSafetyBackup: no safety backup, no rollback.
	NoSafetyBackup bool `json:"noSafetyBackup"`
	// Yes applies the plan without waiting for a confirmation.
	Yes bool `json:"yes"`
}

func (p *restoreParams) set(key, value string) error {
	b := func() (bool, error) {
		v, err := strconv.ParseBool(value)
		if err != nil {
			return false, fmt.Errorf("%s=%q: use true or false", key, value)
		}
		return v, nil
	}
	var err error
	switch key {
	case "name":
		p.Name = value
	case "project":
		p.Project = value
	case "force":
		p.Force, err = b()
	case "noSafetyBackup":
		p.NoSafetyBackup, err = b()
	case "yes":
		p.Yes, err = b()
	default:
		err = fmt.Errorf("unknown parameter %q", key)
	}
	return err
}

// startRestore restores a stored archive ({"name": ...}) or an uploaded
// one (the body, or a multipart file). An upload is streamed to disk and
// verified before the answer, and before the project's lock is taken: a
// bad one is refused with nothing stopped, a slow one keeps no backup
// out. The job then plans the restore under the lock, waits for its
// confirmation (unless yes) without it, and plans again under the lock
// the confirmation took: the same plan is applied, a changed one is shown
// and waits for a confirmation of its own.
func (s *Server) startRestore(w http.ResponseWriter, r *http.Request) {
	var p restoreParams
	for k, vs := range r.URL.Query() {
		if k == "filename" {
			continue
		}
		if err := p.set(k, vs[len(vs)-1]); err != nil {
			writeError(w, http.StatusBadRequest, "%v", err)
			return
		}
	}
	var upload io.Reader
	uploadName := r.URL.Query().Get("filename")
	// An upload's signature: a form field before the file, or this
	// header (the .sig file in base64) with a plain body.
	signature, ok := headerSignature(w, r)
	if !ok {
		return
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch ct {
	case "application/json":
		if !readJSON(w, r, &p) {
			return
		}
		if p.Name == "" {
			writeError(w, http.StatusBadRequest, "no archive: give {\"name\": ...} of a stored archive, or upload one as application/octet-stream or multipart/form-data")
			return
		}
	case "application/octet-stream":
		upload = r.Body
		p.Name = ""
	case "multipart/form-data":
		mr, err := r.MultipartReader()
		if err != nil {
			writeError(w, http.StatusBadRequest, "%v", err)
			return
		}
		for upload == nil {
			part, err := mr.NextPart()
			if err == io.EOF {
				writeError(w, http.StatusBadRequest, "the form holds no file: upload the archive as a file field (after the other fields)")
				return
			}
			if err != nil {
				writeError(w, http.StatusBadRequest, "reading the form: %v", err)
				return
			}
			if part.FileName() != "" {
				upload, uploadName, p.Name = part, part.FileName(), ""
				break
			}
			if part.FormName() == SignatureField {
				if signature, err = sign.Read(part, "the form's signature"); err != nil {
					writeError(w, http.StatusBadRequest, "%v", err)
					return
				}
				continue
			}
			v, err := io.ReadAll(io.LimitReader(part, 4096))
			if err != nil {
				writeError(w, http.StatusBadRequest, "reading the form: %v", err)
				return
			}
			if err := p.set(part.FormName(), string(v)); err != nil {
				writeError(w, http.StatusBadRequest, "%v", err)
				return
			}
		}
	default:
		writeError(w, http.StatusUnsupportedMediaType, "send application/json ({\"name\": ...}), application/octet-stream or multipart/form-data")
		return
	}
	if p.Name != "" && !archiveName(p.Name) {
		writeError(w, http.StatusNotFound, "%q is not an archive name", p.Name)
		return
	}
	project, ok := s.project(w, p.Project)
	if !ok {
		return
	}
	if p.Name != "" {
		if _, err := s.cfg.Store.Stat(r.Context(), p.Name); err != nil {
			storageError(w, p.Name, err)
			return
		}
		// A stored archive the trust list refuses is refused now, from
		// its signature alone, before the job downloads a byte of it.
		sig, err := restore.StoredSignature(r.Context(), s.cfg.Store, p.Name)
		if err != nil {
			storageError(w, p.Name, err)
			return
		}
		if _, err := s.cfg.Trust.Admit(sig); err != nil {
			s.log.Warn("restore refused", "archive", p.Name, "err", err)
			writeError(w, http.StatusUnprocessableEntity, "archive %s refused, nothing was changed: %v", p.Name, err)
			return
		}
		signature = sig
	} else if _, err := s.cfg.Trust.Admit(signature); err != nil {
		// An upload likewise, before a byte of it is read.
		s.log.Warn("upload refused", "err", err)
		writeError(w, http.StatusUnprocessableEntity, "the upload is refused, nothing was changed: %v", err)
		return
	}
	// A declared length over the limit is refused before a byte is read.
	if upload != nil && ct == "application/octet-stream" && s.cfg.MaxUpload > 0 && r.ContentLength > s.cfg.MaxUpload {
		writeError(w, http.StatusRequestEntityTooLarge, "%v (%d bytes): nothing was changed", restore.ErrTooLarge, s.cfg.MaxUpload)
		return
	}
	dir, err := s.jobDir()
	if err != nil {
		writeError(w, http.StatusInternalServerError, "%v", err)
		return
	}
	// An upload is received and verified before the project's lock is
	// taken: it needs none, and a slow client keeps no backup out.
	var fetched *restore.Fetched
	if upload != nil {
		name := path.Base(filepath.ToSlash(uploadName))
		if !archiveName(name) {
			name = "upload.tar"
		}
		fetched, err = restore.Receive(r.Context(), upload, name, dir, s.cfg.MaxUpload, restore.VerifyOptions{Identities: s.cfg.Identities, Limits: s.cfg.Limits, Trust: s.cfg.Trust, Signature: signature})
		if err != nil {
			os.RemoveAll(dir)
			code := http.StatusUnprocessableEntity
			switch cut := bodyCut(r); {
			case cut != nil:
				code, err = http.StatusRequestTimeout, cut
			case errors.Is(err, restore.ErrTooLarge):
				code = http.StatusRequestEntityTooLarge
			case r.Context().Err() != nil:
				code = http.StatusBadRequest
			}
			s.log.Warn("upload refused", "err", err)
			writeError(w, code, "%v", err)
			return
		}
	}
	locker, release, ok := s.lockProject(w, project)
	if !ok {
		os.RemoveAll(dir)
		return
	}
	j := s.cfg.Jobs.New(s.base, jobs.Restore, project, "api", func(ctx context.Context, j *jobs.Job) (any, error) {
		defer func() { release() }()
		defer os.RemoveAll(dir)
		sink := j.Sink()
		f := fetched
		if f == nil {
			sink.Messagef("downloading %s from %s, verifying it on the way", p.Name, s.cfg.Store.Location())
			var err error
			if f, err = restore.Fetch(ctx, s.cfg.Store, p.Name, dir, restore.VerifyOptions{Identities: s.cfg.Identities, Limits: s.cfg.Limits, Trust: s.cfg.Trust, Signature: signature}); err != nil {
				return nil, err
			}
		}
		pr, err := s.cfg.Service.PrepareRestore(ctx, RestoreRequest{Project: project, Path: f.Path, Verified: f, Force: p.Force, NoSafetyBackup: p.NoSafetyBackup}, locker, sink)
		if err != nil {
			return nil, err
		}
		defer pr.Close()
		for !p.Yes {
			// Nobody may confirm for a long while: the lock is given up
			// meanwhile, and the confirmation takes it again.
			pr.Release()
			release()
			c, err := s.awaitConfirmation(ctx, j, project)
			if err != nil {
				return nil, err
			}
			release = c.release
			changed, err := pr.Replan(ctx, c.locker)
			if err != nil {
				return nil, err
			}
			if !changed {
				break
			}
		}
		return pr.Apply(ctx)
	})
	s.accepted(w, j)
}

// SignatureField is the form field, before the file, that holds an
// uploaded archive's signature (the .sig file); SignatureHeader holds it
// in base64 with an application/octet-stream upload.
const (
	SignatureField  = "signature"
	SignatureHeader = "Backup-Signature"
)

// headerSignature reads SignatureHeader; ok is false once it answered a
// malformed one.
func headerSignature(w http.ResponseWriter, r *http.Request) (sig []byte, ok bool) {
	v := r.Header.Get(SignatureHeader)
	if v == "" {
		return nil, true
	}
	sig, err := base64.StdEncoding.DecodeString(strings.TrimSpace(v))
	if err != nil || len(sig) > sign.MaxSize {
		writeError(w, http.StatusBadRequest, "the %s header holds the archive's .sig file in base64 (base64 -w0 ARCHIVE.sig)", SignatureHeader)
		return nil, false
	}
	return sig, true
}

// jobDir is a new folder for one restore's archive, removed at its end.
func (s *Server) jobDir() (string, error) {
	base := filepath.Join(s.cfg.WorkDir, "restore")
	if err := os.MkdirAll(base, 0o700); err != nil {
		return "", fmt.Errorf("the work folder %s: %w", base, err)
	}
	return os.MkdirTemp(base, "job-")
}

// confirmation is a restore waiting for its confirmation: the request
// that confirms takes the project's lock and hands it over here.
type confirmation struct {
	project string
	locker  backup.Locker
	release func()
}

// awaitConfirmation waits for the job's confirmation and returns the
// lock the confirming request took.
func (s *Server) awaitConfirmation(ctx context.Context, j *jobs.Job, project string) (*confirmation, error) {
	c := &confirmation{project: project}
	s.mu.Lock()
	s.awaiting[j.ID] = c
	s.mu.Unlock()
	err := j.AwaitConfirmation(ctx, s.cfg.ConfirmTimeout)
	s.mu.Lock()
	delete(s.awaiting, j.ID)
	got := *c
	c.locker, c.release = nil, nil
	s.mu.Unlock()
	if err != nil {
		if got.release != nil {
			got.release()
		}
		return nil, err
	}
	if got.locker == nil {
		return nil, fmt.Errorf("the restore was confirmed without the lock of project %s: start it again", project)
	}
	return &got, nil
}

// confirmJob confirms a restore's plan. The restore gave up the project's
// lock while it waited: the lock is taken here, so that a client learns
// at once (409) when a backup or restore of the project runs; the restore
// then keeps waiting, to be confirmed again once it is over.
func (s *Server) confirmJob(w http.ResponseWriter, r *http.Request) {
	j, ok := s.job(w, r)
	if !ok {
		return
	}
	s.mu.Lock()
	c := s.awaiting[j.ID]
	s.mu.Unlock()
	if state := j.View(false).State; c == nil || state != jobs.Waiting {
		writeError(w, http.StatusConflict, "job %s: %v: it is %s", j.ID, jobs.ErrNotWaiting, state)
		return
	}
	locker, release, ok := s.lockProject(w, c.project, "; the restore keeps waiting: confirm again then")
	if !ok {
		return
	}
	s.mu.Lock()
	if s.awaiting[j.ID] != c || c.locker != nil {
		s.mu.Unlock()
		release()
		writeError(w, http.StatusConflict, "job %s: %v: it was confirmed, cancelled or timed out meanwhile", j.ID, jobs.ErrNotWaiting)
		return
	}
	c.locker, c.release = locker, release
	s.mu.Unlock()
	if err := j.Confirm(); err != nil {
		s.mu.Lock()
		c.locker, c.release = nil, nil
		s.mu.Unlock()
		release()
		writeError(w, http.StatusConflict, "job %s: %v", j.ID, err)
		return
	}
	writeJSON(w, http.StatusOK, j.View(false))
}
