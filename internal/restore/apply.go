package restore

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"path"
	"strings"

	"golang.org/x/sync/errgroup"

	"github.com/docker-backup/docker-backup/internal/archive"
	"github.com/docker-backup/docker-backup/internal/backup"
	"github.com/docker-backup/docker-backup/internal/dbdump"
	"github.com/docker-backup/docker-backup/internal/engine"
)

// loader is a connected database server (dbdump.Server in production).
type loader interface {
	LoadGlobals(ctx context.Context, r io.Reader) error
	LoadDatabase(ctx context.Context, db string, r io.Reader) error
}

// volumeWriter replaces a volume's content (engine.Engine in production):
// its old content is set aside, the new extracted, then the old deleted
// (commit) or put back (revert).
type volumeWriter interface {
	PrepareReplace(ctx context.Context, images []string, place engine.Place) (engine.Replacement, error)
	ExtractIntoVolume(ctx context.Context, rep engine.Replacement, r io.Reader) error
	CommitReplace(ctx context.Context, rep engine.Replacement) error
	RevertReplace(ctx context.Context, rep engine.Replacement) error
}

// volumeTarget is an archived volume and the engine volume it goes into.
type volumeTarget struct {
	archive.Volume
	// Target is the engine's name of the volume to replace, or the host
	// path of a bind mount; Place is where it is written.
	Target string
	Place  engine.Place
	// Images may prepare it (the first that has the tools).
	Images []string
	// rep is the volume made ready for its new content, once prepared;
	// committed, its old content is gone.
	rep       engine.Replacement
	prepared  bool
	committed bool
}

// label names the target in progress lines as the plan does: a bind mount
// by its host path, a volume by its name.
func (t *volumeTarget) label() string {
	if t.Place.Path != "" {
		return "bind mount " + t.Place.Path
	}
	return "volume " + t.Name
}

// dbTarget is a database service and the dumps to load into it, in the
// archive's order (roles and users first).
type dbTarget struct {
	archive.Database
	Dumps  []archive.Dump
	server loader
	// objects lists and drops accounts and databases; before is what
	// existed before the restore, by kind, for the rollback.
	objects objecter
	before  map[string][]string
	// keepGoing (a test restore) loads every dump even when one fails,
	// recording each failure in failures by database ("" for the roles
	// and users) instead of failing the pass.
	keepGoing bool
	failures  map[string]error
}

// objecter lists and drops a server's accounts and databases
// (dbdump.Server in production).
type objecter interface {
	Objects(ctx context.Context, kind string) ([]string, error)
	Drop(ctx context.Context, kind, name string) error
}

// objectKinds are what a rollback removes when a failed restore added
// them: databases first, then the accounts that may own them.
var objectKinds = []string{"database", "account"}

// work is what one pass over an archive restores.
type work struct {
	volumes []*volumeTarget
	dbs     []*dbTarget
	// limits are those the archive was verified with.
	limits archive.Limits
	// keepSpecial writes setuid and setgid bits, capabilities, devices
	// and fifos as archived (plan.keepSpecial).
	keepSpecial bool
}

// errAborted closes the streams of loads that never started because
// another one failed.
var errAborted = errors.New("restore aborted")

// apply restores the volumes and databases of w from the archive in one
// pass: each entry is handed to its volume's or database's loader as it
// comes, and the loaders run concurrently (entries of two items interleave
// in the archive as they were written). The archive must have been
// verified: apply checks only the order of entries it relies on.
func apply(ctx context.Context, r io.Reader, m *archive.Manifest, w *work, vw volumeWriter, prog backup.Progress) error {
	ar, err := archive.OpenWith(r, w.limits)
	if err != nil {
		return err
	}
	defer ar.Close()
	// Made ready first, two at a time, so that the pass over the archive
	// never waits for it.
	eg, ectx := errgroup.WithContext(ctx)
	eg.SetLimit(2)
	for _, v := range w.volumes {
		eg.Go(func() error {
			rep, err := vw.PrepareReplace(ectx, v.Images, v.Place)
			if err != nil {
				return fmt.Errorf("clearing volume %s: %w", v.Target, err)
			}
			v.rep, v.prepared = rep, true
			return nil
		})
	}
	if err := eg.Wait(); err != nil {
		return err
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	g := &errgroup.Group{}
	d := &dispatcher{
		ctx: ctx, cancel: cancel, g: g, vw: vw, prog: prog,
		volTargets: map[string]*volumeTarget{}, vols: map[string]*volumeSink{},
		dumps: map[string]dumpRef{}, dbs: map[string]*dbSink{}, parts: map[string]int{},
		files: map[string]archive.File{}, buf: make([]byte, 128<<10), keepSpecial: w.keepSpecial,
	}
	for _, v := range w.volumes {
		d.volTargets[v.Name] = v
	}
	for _, db := range w.dbs {
		for i, dump := range db.Dumps {
			d.dumps[dump.Path] = dumpRef{db: db, index: i}
		}
	}
	for _, f := range m.Files {
		d.parts[f.Path] = f.Parts
		d.files[f.Path] = f
	}
	derr := d.run(ar)
	if derr == nil {
		derr = d.checkVolumes()
	}
	d.closeAll(derr)
	gerr := g.Wait()
	if errors.Is(derr, archive.ErrChecksum) || errors.Is(derr, archive.ErrInvalid) {
		// The archive is not what was verified: that is the cause of
		// whatever the loaders made of the stream cut short.
		return derr
	}
	if gerr != nil {
		// A loader's failure makes the dispatcher fail too, on a closed
		// pipe: the loader's error is the one that says what went wrong.
		return gerr
	}
	if derr == nil {
		derr = context.Cause(ctx)
	}
	return derr
}

type dumpRef struct {
	db    *dbTarget
	index int
}

type dispatcher struct {
	ctx        context.Context
	cancel     context.CancelCauseFunc
	g          *errgroup.Group
	vw         volumeWriter
	prog       backup.Progress
	volTargets map[string]*volumeTarget
	vols       map[string]*volumeSink
	dumps      map[string]dumpRef
	dbs        map[string]*dbSink
	parts      map[string]int
	files      map[string]archive.File
	// buf copies every entry: io.Copy would allocate one per file, and a
	// volume has thousands.
	buf []byte
	// keepSpecial: work.keepSpecial.
	keepSpecial bool
}

// The archive was verified before the restore, but it is read again to
// be applied, and could have changed in between: every dump's SHA-256 and
// every volume's tree digest are computed again as they are applied, and
// checked before the loader or the extraction sees the end of its stream,
// so that a mismatch fails it (and the restore rolls back).

type volumeSink struct {
	pw     *chunkPipe
	tw     *tar.Writer
	digest *archive.TreeDigest
}

type dbSink struct {
	streams chan *dumpStream
	cur     *dumpStream
	next    int // index of the dump expected next
}

type dumpStream struct {
	dump  archive.Dump
	p     *chunkPipe
	parts int
	got   int
	h     hash.Hash
	size  int64
}

func (d *dispatcher) run(ar *archive.Reader) error {
	for {
		if err := d.ctx.Err(); err != nil {
			return context.Cause(d.ctx)
		}
		hdr, err := ar.Next()
		if err == io.EOF {
			return d.finish()
		}
		if err != nil {
			return err
		}
		switch {
		case strings.HasPrefix(hdr.Name, archive.VolumesDir):
			err = d.volumeEntry(hdr, ar)
		case strings.HasPrefix(hdr.Name, archive.DatabasesDir):
			err = d.dumpEntry(hdr, ar)
		}
		if err != nil {
			return err
		}
	}
}

func (d *dispatcher) volumeEntry(hdr *tar.Header, r io.Reader) error {
	rest := strings.TrimPrefix(hdr.Name, archive.VolumesDir)
	name, rel, _ := strings.Cut(rest, "/")
	t := d.volTargets[name]
	if t == nil {
		return nil
	}
	s := d.vols[name]
	if s == nil {
		pr := newChunkPipe()
		s = &volumeSink{pw: pr, tw: tar.NewWriter(pr), digest: archive.NewTreeDigest()}
		d.vols[name] = s
		d.g.Go(func() error {
			counter := d.prog.Start(t.label())
			// Not a Closer: the HTTP client closes a request body it can,
			// and the drain below must still read the pipe.
			body := struct{ io.Reader }{counter.Reader(pr)}
			err := d.vw.ExtractIntoVolume(d.ctx, t.rep, body)
			if err == nil {
				_, err = io.Copy(io.Discard, pr)
			}
			counter.Done(err)
			if err != nil {
				err = fmt.Errorf("restoring volume %s into %s: %w", t.Name, t.Target, err)
				pr.CloseRead(err)
				d.cancel(err)
				return err
			}
			return nil
		})
	}
	extractAs := rel
	if t.Place.File {
		// The one file of a bind-mounted file, under the name it has
		// now. The archive was verified: nothing else is in its tree.
		if hdr.Typeflag != tar.TypeReg || strings.Contains(strings.TrimSuffix(rel, "/"), "/") {
			return fmt.Errorf("%w: bind-mounted file %s holds %s", archive.ErrInvalid, archive.Short(name), archive.Short(hdr.Name))
		}
		extractAs = path.Base(t.Place.Path)
	}
	out := &tar.Header{
		Typeflag: hdr.Typeflag, Name: engine.VolumeTarPrefix + extractAs, Linkname: hdr.Linkname,
		Mode: hdr.Mode, Uid: hdr.Uid, Gid: hdr.Gid, Size: hdr.Size,
		ModTime: hdr.ModTime, AccessTime: hdr.AccessTime, ChangeTime: hdr.ChangeTime,
		Devmajor: hdr.Devmajor, Devminor: hdr.Devminor, Format: tar.FormatPAX,
	}
	linkRel := ""
	if hdr.Typeflag == tar.TypeLink {
		prefix := archive.VolumesDir + name + "/"
		if !strings.HasPrefix(hdr.Linkname, prefix) {
			return fmt.Errorf("%w: hardlink %s leaves its volume", archive.ErrInvalid, archive.Short(hdr.Name))
		}
		linkRel = strings.TrimPrefix(hdr.Linkname, prefix)
		out.Linkname = engine.VolumeTarPrefix + linkRel
	}
	if !d.keepSpecial {
		switch hdr.Typeflag {
		case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
			// The plan refused an archive holding them: this one is
			// not the archive that was verified.
			return fmt.Errorf("%w: %s is a device or fifo node, which the verified archive did not hold: the archive was modified during the restore", archive.ErrChecksum, archive.Short(hdr.Name))
		case tar.TypeReg:
			// What the app's user could run as the file's owner.
			out.Mode &^= 0o6000
		}
	}
	for k, v := range hdr.PAXRecords {
		if k == "path" || k == "linkpath" || k == "size" {
			continue
		}
		if k == archive.CapabilityRecord && !d.keepSpecial {
			continue
		}
		if out.PAXRecords == nil {
			out.PAXRecords = map[string]string{}
		}
		out.PAXRecords[k] = v
	}
	if err := s.tw.WriteHeader(out); err != nil {
		return fmt.Errorf("restoring volume %s: %w", archive.Short(name), err)
	}
	sum := ""
	if out.Typeflag == tar.TypeReg {
		h := sha256.New()
		if _, err := io.CopyBuffer(io.MultiWriter(s.tw, h), r, d.buf); err != nil {
			return fmt.Errorf("restoring volume %s: %w", archive.Short(name), err)
		}
		sum = hex.EncodeToString(h.Sum(nil))
	}
	treeRel := strings.TrimSuffix(rel, "/")
	if treeRel == "" {
		treeRel = "."
	}
	s.digest.Add(archive.TreeEntryOf(treeRel, linkRel, hdr, sum))
	return nil
}

// checkVolumes compares each volume's tree as applied with the manifest,
// before its extraction sees the end of the stream.
func (d *dispatcher) checkVolumes() error {
	for name, s := range d.vols {
		v := d.volTargets[name]
		got := s.digest.Summary()
		if got.Entries != v.Entries || got.Bytes != v.Bytes || got.Digest != v.TreeSHA256 {
			return fmt.Errorf("%w: volume %s changed since the archive was verified (tree digest %s, the manifest lists %s): the archive was modified during the restore", archive.ErrChecksum, name, got.Digest, v.TreeSHA256)
		}
	}
	return nil
}

func (d *dispatcher) dumpEntry(hdr *tar.Header, r io.Reader) error {
	base, part, ok := archive.SplitPart(hdr.Name)
	if !ok {
		return nil
	}
	ref, ok := d.dumps[base]
	if !ok {
		return nil
	}
	db := ref.db
	s := d.dbs[db.Service]
	if s == nil {
		s = &dbSink{streams: make(chan *dumpStream, len(db.Dumps))}
		d.dbs[db.Service] = s
		d.g.Go(func() error { return d.load(db, s.streams) })
	}
	if part == 0 {
		// A service's dumps come one after the other, in the manifest's
		// order: the loader takes them in that order.
		if (s.cur != nil && s.cur.got < s.cur.parts) || ref.index != s.next {
			return fmt.Errorf("%w: dump %s is out of order", archive.ErrInvalid, archive.Short(base))
		}
		s.cur = &dumpStream{dump: db.Dumps[ref.index], p: newChunkPipe(), parts: d.parts[base], h: sha256.New()}
		s.next++
		s.streams <- s.cur
	} else if s.cur == nil || s.cur.dump.Path != base || part != s.cur.got {
		return fmt.Errorf("%w: part %s is out of order", archive.ErrInvalid, archive.Short(hdr.Name))
	}
	n, err := io.CopyBuffer(io.MultiWriter(s.cur.p, s.cur.h), r, d.buf)
	s.cur.size += n
	if err != nil {
		return err
	}
	s.cur.got++
	if s.cur.got == s.cur.parts {
		// The loader sees the end of its dump only once the dump is
		// known to be the one verified.
		f := d.files[base]
		if sum := hex.EncodeToString(s.cur.h.Sum(nil)); s.cur.size != f.Size || sum != f.SHA256 {
			err := fmt.Errorf("%w: %s changed since the archive was verified (sha256 %s, the manifest lists %s): the archive was modified during the restore", archive.ErrChecksum, base, sum, f.SHA256)
			s.cur.p.CloseWithError(err)
			return err
		}
		s.cur.p.Close()
	}
	return nil
}

// load loads one database service's dumps in order.
func (d *dispatcher) load(db *dbTarget, streams <-chan *dumpStream) error {
	var failed error
	for st := range streams {
		// After a failure here or elsewhere (a volume), no load starts:
		// the restore is being rolled back.
		if failed != nil || d.ctx.Err() != nil {
			st.p.CloseRead(errAborted)
			continue
		}
		label := db.Service + "/" + st.dump.Database
		if st.dump.Kind == "globals" {
			label = db.Service + " (" + st.dump.Kind + ")"
		}
		counter := d.prog.Start(label)
		rd := sqlOnly(db.Engine, st.dump, counter.Reader(st.p))
		var err error
		if st.dump.Kind == "globals" {
			err = db.server.LoadGlobals(d.ctx, rd)
		} else {
			err = db.server.LoadDatabase(d.ctx, st.dump.Database, rd)
		}
		if err == nil {
			// Whatever the tool did not read must not block the archive.
			_, err = io.Copy(io.Discard, st.p)
		}
		counter.Done(err)
		if err != nil && db.keepGoing && d.ctx.Err() == nil {
			if db.failures == nil {
				db.failures = map[string]error{}
			}
			key := st.dump.Database
			if st.dump.Kind == "globals" {
				key = ""
			}
			db.failures[key] = err
			// The rest of its stream must not hold up the others.
			_, _ = io.Copy(io.Discard, st.p)
			continue
		}
		if err != nil {
			st.p.CloseRead(err)
			failed = err
			d.cancel(err)
			continue
		}
	}
	return failed
}

// finish checks that every selected dump arrived whole.
func (d *dispatcher) finish() error {
	for path, ref := range d.dumps {
		s := d.dbs[ref.db.Service]
		if s == nil || s.next <= ref.index {
			return fmt.Errorf("%w: dump %s is missing", archive.ErrInvalid, path)
		}
	}
	for name := range d.volTargets {
		if d.vols[name] == nil {
			return fmt.Errorf("%w: volume %s is missing", archive.ErrInvalid, name)
		}
	}
	for _, s := range d.dbs {
		if s.cur != nil && s.cur.got < s.cur.parts {
			return fmt.Errorf("%w: dump %s is missing parts", archive.ErrInvalid, s.cur.dump.Path)
		}
	}
	return nil
}

// closeAll ends every stream: with err when the pass failed, so that the
// loaders stop instead of taking a partial stream for a whole one.
func (d *dispatcher) closeAll(err error) {
	for _, s := range d.vols {
		if err != nil {
			s.pw.CloseWithError(err)
			continue
		}
		if cerr := s.tw.Close(); cerr != nil {
			s.pw.CloseWithError(cerr)
			continue
		}
		s.pw.CloseWithError(nil)
	}
	for _, s := range d.dbs {
		if s.cur != nil {
			s.cur.p.CloseWithError(err)
		}
		close(s.streams)
	}
}

// sqlOnly passes a dump that goes to a database client through the
// client's check, so that whatever changed since the archive was
// verified, nothing reaches the client as one of its own commands.
func sqlOnly(engineName string, dump archive.Dump, r io.Reader) io.Reader {
	if d, ok := clientOf(engineName, dump); ok {
		return dbdump.FilterReader(d, dump.Path, r)
	}
	return r
}

// clientOf is the client a dump is loaded with, when one reads it as a
// script: psql for PostgreSQL's roles, mysql for every dump of MySQL and
// MariaDB. pg_restore sends a database's dump to the server as SQL.
func clientOf(engineName string, dump archive.Dump) (dbdump.Dialect, bool) {
	switch {
	case engineName == dbdump.Postgres && dump.Kind == "globals":
		return dbdump.PSQL, true
	case engineName == dbdump.MySQL:
		return dbdump.MySQLClient, true
	}
	return 0, false
}
