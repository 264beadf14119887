// Package storage is where archives are kept: a local folder or an
// S3-compatible bucket, behind one small interface. An archive being
// written is never visible under its name until it is committed, and an
// aborted one leaves nothing that could be mistaken for a backup.
package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/minio/minio-go/v7/pkg/s3utils"
)

// Backend is one place archives are kept: a folder, or a bucket and prefix.
// Names are plain file names (no "/"), relative to that place.
type Backend interface {
	// Create starts writing name. Nothing is visible under name until
	// Commit; Abort (or a failed Commit) leaves nothing behind. It fails
	// with ErrExist when name exists already.
	Create(ctx context.Context, name string) (Upload, error)
	// Open reads name from its start; OpenRange reads length bytes from
	// off (length < 0: to the end). Both fail with ErrNotExist.
	Open(ctx context.Context, name string) (io.ReadCloser, error)
	OpenRange(ctx context.Context, name string, off, length int64) (io.ReadCloser, error)
	Stat(ctx context.Context, name string) (Info, error)
	// List returns the committed objects, in no particular order.
	List(ctx context.Context) ([]Info, error)
	// Delete removes name; a name that does not exist is no error.
	Delete(ctx context.Context, name string) error
	// Location is where the backend is, for messages (no credentials).
	Location() string
}

// Upload is an object being written.
type Upload interface {
	io.Writer
	// Commit makes the object visible under its name, whole.
	Commit(ctx context.Context) error
	// Abort removes what was written; after Commit it does nothing.
	Abort(ctx context.Context) error
}

// Info describes one committed object.
type Info struct {
	Name    string    `json:"name"`
	Size    int64     `json:"size"`
	ModTime time.Time `json:"modTime"`
}

var (
	// ErrNotExist: no object of that name.
	ErrNotExist = fs.ErrNotExist
	// ErrExist: an object of that name exists already.
	ErrExist = fs.ErrExist
)

// kindError is an error whose message says it all and that errors.Is
// matches to one of the errors above, without repeating its text.
type kindError struct {
	kind error
	msg  string
}

func (e *kindError) Error() string        { return e.msg }
func (e *kindError) Is(target error) bool { return target == e.kind }

func errorOf(kind error, format string, a ...any) error {
	return &kindError{kind: kind, msg: fmt.Sprintf(format, a...)}
}

// ValidName checks an object name: a plain file name that is not hidden
// (dot-names are the local backend's partial files).
func ValidName(name string) error {
	switch {
	case name == "":
		return errors.New("an empty archive name")
	case strings.ContainsAny(name, "/\x00") || (filepath.Separator != '/' && strings.ContainsRune(name, filepath.Separator)):
		return fmt.Errorf("archive name %q holds a path separator", name)
	case strings.HasPrefix(name, "."):
		return fmt.Errorf("archive name %q starts with a dot", name)
	}
	return nil
}

// Location is a parsed -o/--to or ARCHIVE argument: a local path, file://
// or s3://bucket/prefix.
type Location struct {
	// Scheme is "file" or "s3".
	Scheme string
	// Dir is the folder (file) or the bucket's prefix without slashes at
	// either end (s3); Bucket is the bucket (s3).
	Dir    string
	Bucket string
	// Name is the object name when the location names one; "" for a
	// folder.
	Name string
	// Raw is what the user wrote.
	Raw string
}

func (l Location) String() string {
	if l.Scheme == "s3" {
		return "s3://" + path.Join(l.Bucket, l.Dir, l.Name)
	}
	return filepath.Join(l.Dir, l.Name)
}

// IsURL tells whether s is written as a URL (scheme://...), which Parse
// then requires to be of a known scheme.
func IsURL(s string) bool {
	i := strings.Index(s, "://")
	if i <= 0 {
		return false
	}
	for _, r := range s[:i] {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '+' || r == '-' || r == '.') {
			return false
		}
	}
	return true
}

// Kind says how Parse reads the last path element.
type Kind int

const (
	// Folder: the location is where archives are (ls, prune).
	Folder Kind = iota
	// Object: the location names one archive (restore, verify, inspect).
	Object
	// FolderOrObject: an existing folder, or a name ending in "/", or a
	// URL whose last element has no archive extension, is a folder; else
	// an object (create -o).
	FolderOrObject
)

// Parse reads a location. workDir resolves relative local paths. A URL of
// an unknown scheme is an error: never a local folder named "s3:".
func Parse(s, workDir string, kind Kind) (Location, error) {
	loc := Location{Raw: s}
	if !IsURL(s) {
		loc.Scheme = "file"
		return parseLocal(loc, s, workDir, kind)
	}
	// Errors show the URL without its user part: whatever else is wrong,
	// a secret written there must not reach a terminal or a log.
	shown := redactRaw(s)
	u, err := url.Parse(s)
	if err != nil {
		if shown != s {
			// The parser's own message may quote the user part.
			return loc, fmt.Errorf("%s is not a valid URL; %s", shown, noCredentials)
		}
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return loc, fmt.Errorf("%s is not a valid URL: %w", shown, err)
	}
	switch strings.ToLower(u.Scheme) {
	case "file":
		if u.Host != "" && u.Host != "localhost" {
			return loc, fmt.Errorf("%s: a file:// URL names a local path (file:///path): the host %q is not this one", shown, u.Host)
		}
		loc.Scheme = "file"
		p := u.Path
		if strings.HasSuffix(s, "/") && !strings.HasSuffix(p, "/") {
			p += "/"
		}
		return parseLocal(loc, p, workDir, kind)
	case "s3":
		loc.Scheme = "s3"
		if u.Host == "" {
			return loc, fmt.Errorf("%s names no bucket: write s3://BUCKET/PREFIX/", shown)
		}
		if u.User != nil {
			return loc, fmt.Errorf("%s: %s", redactURL(u), noCredentials)
		}
		if u.Port() != "" || strings.Contains(u.Host, ":") {
			// No bucket has a port: this is an endpoint, or a secret
			// holding "/" that ended the user part early.
			if shown != s {
				return loc, fmt.Errorf("%s: %s", shown, noCredentials)
			}
			return loc, fmt.Errorf("%s: %q is not a bucket name: write s3://BUCKET/PREFIX/, and give the endpoint with --s3-endpoint (or AWS_ENDPOINT_URL)", shown, u.Host)
		}
		if u.RawQuery != "" || u.Fragment != "" {
			return loc, fmt.Errorf("%s: an s3:// URL takes no query or fragment", shown)
		}
		if err := s3utils.CheckValidBucketName(u.Host); err != nil {
			return loc, fmt.Errorf("%s: %q is not a bucket name (%s): write s3://BUCKET/PREFIX/", shown, u.Host, strings.ToLower(err.Error()))
		}
		if strings.ContainsFunc(u.Path, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			return loc, fmt.Errorf("%s: the prefix holds a control character", shown)
		}
		loc.Bucket = u.Host
		p := strings.Trim(u.Path, "/")
		// The prefix is the objects' keys as written: segments that a
		// path would clean away, and ? or # (which a URL shows as
		// another part), would name other keys than the ones shown.
		if p != "" {
			for _, seg := range strings.Split(p, "/") {
				if seg == "" || seg == "." || seg == ".." {
					return loc, fmt.Errorf("%s: the prefix holds an empty, . or .. segment: write s3://BUCKET/PREFIX/ with plain folder names", shown)
				}
			}
		}
		if strings.ContainsAny(p, "?#") {
			return loc, fmt.Errorf("%s: the prefix holds ? or # (written %%3F, %%23): use other names", shown)
		}
		last := path.Base(p)
		object := false
		switch kind {
		case Object:
			object = p != "" && !strings.HasSuffix(u.Path, "/")
		case FolderOrObject:
			object = p != "" && !strings.HasSuffix(u.Path, "/") && IsArchiveName(last)
		}
		if object {
			loc.Name = last
			if dir := path.Dir(p); dir != "." {
				loc.Dir = dir
			}
		} else {
			loc.Dir = p
		}
		if kind == Object && loc.Name == "" {
			return loc, fmt.Errorf("%s names no archive: write s3://BUCKET/PREFIX/NAME (see docker backup ls)", shown)
		}
		if loc.Name != "" {
			if err := ValidName(loc.Name); err != nil {
				return loc, err
			}
		}
		return loc, nil
	default:
		return loc, fmt.Errorf("%s: unknown storage scheme %q: use a path, file:///path or s3://bucket/prefix", shown, u.Scheme)
	}
}

const noCredentials = "credentials do not go into the URL: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or their _FILE forms), or a profile"

// redactRaw is s, a URL as written, for messages: everything between
// "://" and the last "@" is replaced. It works on URLs that do not parse,
// and on a secret holding "/" (as AWS secret keys may), which ends the
// authority early: so any "@" counts, at the cost of hiding part of a
// path that holds one.
func redactRaw(s string) string {
	i := strings.Index(s, "://")
	if i < 0 {
		return s
	}
	at := strings.LastIndex(s[i+3:], "@")
	if at < 0 {
		return s
	}
	return s[:i+3] + "REDACTED" + s[i+3+at:]
}

func redactURL(u *url.URL) string {
	c := *u
	c.User = nil
	return c.String()
}

func parseLocal(loc Location, p, workDir string, kind Kind) (Location, error) {
	if p == "" {
		return loc, errors.New("an empty path")
	}
	if strings.ContainsRune(p, 0) {
		return loc, errors.New("the path holds a NUL byte")
	}
	isDir := strings.HasSuffix(p, "/") || strings.HasSuffix(p, string(filepath.Separator))
	if !filepath.IsAbs(p) {
		p = filepath.Join(workDir, p)
	}
	p = filepath.Clean(p)
	switch kind {
	case Folder:
		loc.Dir = p
		return loc, nil
	case FolderOrObject:
		if isDir || isExistingDir(p) {
			loc.Dir = p
			return loc, nil
		}
	}
	if isExistingDir(p) {
		return loc, fmt.Errorf("%s is a folder, not an archive", p)
	}
	loc.Dir, loc.Name = filepath.Split(p)
	loc.Dir = filepath.Clean(loc.Dir)
	return loc, nil
}

// archiveExts are the endings of the archives this tool writes.
var archiveExts = []string{".tar.zst", ".tar.gz", ".tar"}

// IsArchiveName tells whether name ends like an archive (encrypted or not).
func IsArchiveName(name string) bool {
	n := strings.TrimSuffix(name, ".age")
	for _, e := range archiveExts {
		if strings.HasSuffix(n, e) && len(n) > len(e) {
			return true
		}
	}
	return false
}

// Config is how to reach the backends that need more than a location.
type Config struct {
	S3 S3Config
}

// For opens the backend of loc.
func For(loc Location, cfg Config) (Backend, error) {
	switch loc.Scheme {
	case "file", "":
		return NewLocal(loc.Dir), nil
	case "s3":
		return NewS3(cfg.S3, loc.Bucket, loc.Dir)
	}
	return nil, fmt.Errorf("unknown storage scheme %q", loc.Scheme)
}
