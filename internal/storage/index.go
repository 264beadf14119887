package storage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
)

// IndexSuffix ends the name of an archive's index: <archive>.index.json.
const IndexSuffix = ".index.json"

// indexKind marks the indexes this tool writes.
const indexKind = "docker-backup/index"

// maxIndexSize bounds what is read of an index: it is small, and a huge
// object under that name is not ours.
const maxIndexSize = 16 << 20

// Index is what listing and pruning need of an archive, kept beside it so
// that neither reads whole archives. It is written after the archive is
// committed: an archive without one is foreign (another tool's, or its
// writer died right after the commit) and is never pruned.
type Index struct {
	Kind        string       `json:"kind"`
	Version     int          `json:"version"`
	Archive     string       `json:"archive"`
	Project     string       `json:"project"`
	Host        string       `json:"host,omitempty"`
	CreatedAt   time.Time    `json:"createdAt"`
	Size        int64        `json:"size"`
	SHA256      string       `json:"sha256"`
	Encrypted   bool         `json:"encrypted"`
	Compression string       `json:"compression"`
	Cold        bool         `json:"cold,omitempty"`
	ToolVersion string       `json:"toolVersion"`
	Safety      bool         `json:"safetyBackup,omitempty"`
	Entries     []IndexEntry `json:"entries"`

	// Signature is the archive's signature (the armored NAME.sig), a
	// second copy of it; "" for an unsigned archive.
	Signature string `json:"signature,omitempty"`
}

// IndexEntry is one dump, volume or file of the archive.
type IndexEntry struct {
	Kind string `json:"kind"`
	Name string `json:"name"`
	Size int64  `json:"size"`
}

// WriteIndex writes ix beside its archive, committed like an archive.
func WriteIndex(ctx context.Context, b Backend, ix Index) error {
	ix.Kind, ix.Version = indexKind, 1
	data, err := json.MarshalIndent(ix, "", "  ")
	if err != nil {
		return err
	}
	name := ix.Archive + IndexSuffix
	// A stale index of a deleted archive of the same name goes first.
	if err := b.Delete(ctx, name); err != nil {
		return err
	}
	up, err := b.Create(ctx, name)
	if err != nil {
		return err
	}
	if _, err := up.Write(append(data, '\n')); err != nil {
		return errors.Join(err, up.Abort(ctx))
	}
	return up.Commit(ctx)
}

// ReadIndex reads the index of archive.
func ReadIndex(ctx context.Context, b Backend, archive string) (*Index, error) {
	r, err := b.Open(ctx, archive+IndexSuffix)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	data, err := io.ReadAll(io.LimitReader(r, maxIndexSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxIndexSize {
		return nil, fmt.Errorf("%s%s is too large to be an index", archive, IndexSuffix)
	}
	var ix Index
	if err := json.Unmarshal(data, &ix); err != nil {
		return nil, fmt.Errorf("%s%s is not an index: %w", archive, IndexSuffix, err)
	}
	if ix.Kind != indexKind || ix.Archive != archive {
		return nil, fmt.Errorf("%s%s is not this archive's index", archive, IndexSuffix)
	}
	return &ix, nil
}

// Entry is one archive found in a storage: Index is nil for a foreign one
// (Why says why).
type Entry struct {
	Info
	Index *Index
	Why   string
}

// Time is when the backup was taken, or the object's time when foreign.
func (e Entry) Time() time.Time {
	if e.Index != nil {
		return e.Index.CreatedAt
	}
	return e.ModTime
}

// Catalog lists the archives in b, newest first, with their indexes, and
// the names of indexes whose archive is gone.
func Catalog(ctx context.Context, b Backend) (entries []Entry, orphans []string, err error) {
	infos, err := b.List(ctx)
	if err != nil {
		return nil, nil, err
	}
	names := map[string]Info{}
	for _, in := range infos {
		names[in.Name] = in
	}
	for _, in := range infos {
		if IsArchiveName(in.Name) {
			entries = append(entries, Entry{Info: in})
		} else if a, ok := strings.CutSuffix(in.Name, IndexSuffix); ok && IsArchiveName(a) {
			if _, ok := names[a]; !ok {
				orphans = append(orphans, in.Name)
			}
		}
	}
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for i := range entries {
		e := &entries[i]
		if _, ok := names[e.Name+IndexSuffix]; !ok {
			e.Why = "no index"
			continue
		}
		g.Go(func() error {
			ix, err := ReadIndex(gctx, b, e.Name)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case errors.Is(err, ErrNotExist):
				e.Why = "no index"
			case err != nil && gctx.Err() != nil:
				return err
			case err != nil:
				e.Why = err.Error()
			case ix.Size != e.Size:
				// Replaced or truncated after it was written.
				e.Why = fmt.Sprintf("its size (%d) is not the one its index records (%d)", e.Size, ix.Size)
			default:
				e.Index = ix
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, nil, err
	}
	sort.SliceStable(entries, func(i, j int) bool {
		ti, tj := entries[i].Time(), entries[j].Time()
		if !ti.Equal(tj) {
			return ti.After(tj)
		}
		return entries[i].Name > entries[j].Name
	})
	sort.Strings(orphans)
	return entries, orphans, nil
}

// Listed is one archive as ls --json and the API show it.
type Listed struct {
	Name         string    `json:"name"`
	Project      string    `json:"project,omitempty"`
	Host         string    `json:"host,omitempty"`
	CreatedAt    time.Time `json:"createdAt"`
	Size         int64     `json:"size"`
	Encrypted    bool      `json:"encrypted"`
	SafetyBackup bool      `json:"safetyBackup,omitempty"`
	Foreign      bool      `json:"foreign,omitempty"`
	Why          string    `json:"why,omitempty"`
	ToolVersion  string    `json:"toolVersion,omitempty"`

	// Signed: its index holds a signature (not checked by a listing).
	Signed bool `json:"signed,omitempty"`
}

// Listing is the archives in b, newest first: those of project only,
// unless it is "". Never nil, so that JSON shows [] for none.
func Listing(ctx context.Context, b Backend, project string) ([]Listed, error) {
	entries, _, err := Catalog(ctx, b)
	if err != nil {
		return nil, err
	}
	out := []Listed{}
	for _, e := range entries {
		l := Listed{Name: e.Name, CreatedAt: e.Time().UTC(), Size: e.Size, Foreign: e.Index == nil, Why: e.Why}
		if ix := e.Index; ix != nil {
			l.Project, l.Host, l.Encrypted, l.SafetyBackup, l.ToolVersion = ix.Project, ix.Host, ix.Encrypted, ix.Safety, ix.ToolVersion
			l.Signed = ix.Signature != ""
		} else {
			l.Encrypted = strings.HasSuffix(e.Name, ".age")
		}
		if project != "" && l.Project != project {
			continue
		}
		out = append(out, l)
	}
	return out, nil
}
