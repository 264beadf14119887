package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"time"

	"github.com/docker-backup/docker-backup/internal/storage"
)

// ticketTTL is how long a download link works; it works once.
const ticketTTL = time.Minute

// ticket is a one-time download link: a browser's download cannot carry
// the bearer token, and the token never goes into a URL.
type ticket struct {
	name    string
	expires time.Time
}

// Link is a one-time download URL.
type Link struct {
	URL     string    `json:"url"`
	Expires time.Time `json:"expires"`
}

func (s *Server) link(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if !archiveName(name) {
		writeError(w, http.StatusNotFound, "%q is not an archive name", name)
		return
	}
	if _, err := s.cfg.Store.Stat(r.Context(), name); err != nil {
		storageError(w, name, err)
		return
	}
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	id := hex.EncodeToString(b)
	now := time.Now()
	s.mu.Lock()
	for k, t := range s.tickets {
		if now.After(t.expires) {
			delete(s.tickets, k)
		}
	}
	s.tickets[id] = ticket{name: name, expires: now.Add(ticketTTL)}
	s.mu.Unlock()
	writeJSON(w, http.StatusCreated, Link{URL: "/api/v1/downloads/" + id, Expires: now.Add(ticketTTL).UTC()})
}

func (s *Server) ticketDownload(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("ticket")
	s.mu.Lock()
	t, ok := s.tickets[id]
	delete(s.tickets, id)
	s.mu.Unlock()
	if !ok || time.Now().After(t.expires) {
		writeError(w, http.StatusNotFound, "no such download link, or it was used or expired: ask for another")
		return
	}
	s.serveArchive(w, r, t.name)
}

func (s *Server) download(w http.ResponseWriter, r *http.Request) {
	s.serveArchive(w, r, r.PathValue("name"))
}

func archiveName(name string) bool {
	return storage.ValidName(name) == nil && storage.IsArchiveName(name)
}

func storageError(w http.ResponseWriter, name string, err error) {
	if errors.Is(err, storage.ErrNotExist) {
		writeError(w, http.StatusNotFound, "no archive %s", name)
		return
	}
	writeError(w, http.StatusBadGateway, "reading %s from the storage: %v", name, err)
}

// serveArchive streams an archive from the storage, with its length, an
// ETag (its SHA-256 when the index records it) and ranges.
func (s *Server) serveArchive(w http.ResponseWriter, r *http.Request, name string) {
	if !archiveName(name) {
		writeError(w, http.StatusNotFound, "%q is not an archive name", name)
		return
	}
	ctx := r.Context()
	info, err := s.cfg.Store.Stat(ctx, name)
	if err != nil {
		storageError(w, name, err)
		return
	}
	etag := fmt.Sprintf(`W/"%d-%d"`, info.Size, info.ModTime.UnixNano())
	if ix, err := storage.ReadIndex(ctx, s.cfg.Store, name); err == nil && ix.SHA256 != "" && ix.Size == info.Size {
		etag = `"sha256-` + ix.SHA256 + `"`
	}
	h := w.Header()
	h.Set("ETag", etag)
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": name}))
	obj := &object{ctx: ctx, store: s.cfg.Store, name: name, size: info.Size}
	defer obj.Close()
	http.ServeContent(w, r, name, info.ModTime, obj)
}

// object reads a stored archive from wherever ServeContent seeks, opening
// the range only when it is read.
type object struct {
	ctx   context.Context
	store storage.Backend
	name  string
	size  int64
	off   int64
	rc    io.ReadCloser
}

func (o *object) Read(p []byte) (int, error) {
	if o.off >= o.size {
		return 0, io.EOF
	}
	if o.rc == nil {
		rc, err := o.store.OpenRange(o.ctx, o.name, o.off, -1)
		if err != nil {
			return 0, err
		}
		o.rc = rc
	}
	n, err := o.rc.Read(p)
	o.off += int64(n)
	return n, err
}

func (o *object) Seek(offset int64, whence int) (int64, error) {
	var to int64
	switch whence {
	case io.SeekStart:
		to = offset
	case io.SeekCurrent:
		to = o.off + offset
	case io.SeekEnd:
		to = o.size + offset
	}
	if to < 0 {
		return 0, errors.New("seek before the start")
	}
	if to != o.off && o.rc != nil {
		o.rc.Close()
		o.rc = nil
	}
	o.off = to
	return to, nil
}

func (o *object) Close() error {
	if o.rc != nil {
		return o.rc.Close()
	}
	return nil
}
