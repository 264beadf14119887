package storage

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/minio/minio-go/v7/pkg/encrypt"

	"github.com/docker-backup/docker-backup/internal/memlimit"
)

// S3Config is how to reach an S3-compatible service, as the AWS tools are
// configured (the plugin fills it from AWS_* variables, files and flags).
type S3Config struct {
	// Endpoint is http(s)://host[:port]; "" for AWS itself.
	Endpoint string
	// Region: "" lets the client ask the bucket's location.
	Region string
	// AccessKeyID and SecretAccessKey (and SessionToken) are static
	// credentials; without them, the shared credentials and config files
	// of Profile ("" for AWS_PROFILE or default) are read.
	AccessKeyID, SecretAccessKey, SessionToken string
	Profile                                    string
	// CABundle is a PEM file of CAs to trust besides the system's.
	CABundle string
	// PathStyle forces path-style requests; they are used anyway for an
	// IP address or localhost, and virtual-host requests otherwise.
	PathStyle bool
	// StorageClass (STANDARD_IA, GLACIER_IR, ...) and server-side
	// encryption ("AES256", or "aws:kms" with SSEKMSKeyID) where asked.
	StorageClass string
	SSE          string
	SSEKMSKeyID  string
	// PartSize is the smallest multipart part (default 16 MiB); MaxParts
	// the provider's limit on parts (default 10,000; 1,000 on some).
	PartSize int64
	MaxParts int
}

const (
	// DefaultPartSize and DefaultMaxParts: see partPlan.
	DefaultPartSize = 16 << 20
	DefaultMaxParts = 10000
	// minPartSize and maxPartSize are S3's limits on a part.
	minPartSize = 5 << 20
	maxPartSize = 5 << 30
	// plannedSize is the archive size the part sizes are planned for.
	plannedSize = 500e9
)

// S3 keeps archives in a bucket, under a prefix.
type S3 struct {
	core   minio.Core
	bucket string
	prefix string // "" or "dir/"
	cfg    S3Config
	where  string
}

// NewS3 connects to bucket (no request is made yet) and keeps archives
// under dir.
func NewS3(cfg S3Config, bucket, dir string) (*S3, error) {
	if cfg.PartSize == 0 {
		cfg.PartSize = DefaultPartSize
	}
	if cfg.MaxParts == 0 {
		cfg.MaxParts = DefaultMaxParts
	}
	if cfg.PartSize < minPartSize || cfg.PartSize > maxPartSize {
		return nil, fmt.Errorf("the S3 part size %d is out of S3's limits (5 MiB to 5 GiB)", cfg.PartSize)
	}
	if cfg.MaxParts < 1 || cfg.MaxParts > 10000 {
		return nil, fmt.Errorf("the S3 part count limit %d is out of S3's limits (1 to 10,000)", cfg.MaxParts)
	}
	host, secure := "s3.amazonaws.com", true
	if cfg.Endpoint != "" {
		u, err := url.Parse(cfg.Endpoint)
		if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
			return nil, fmt.Errorf("the S3 endpoint %q is not an http:// or https:// URL (AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL or --s3-endpoint)", cfg.Endpoint)
		}
		if strings.Trim(u.Path, "/") != "" {
			return nil, fmt.Errorf("the S3 endpoint %s has a path: give the service's address only; the bucket goes into s3://BUCKET/", cfg.Endpoint)
		}
		host, secure = u.Host, u.Scheme == "https"
	}
	tr, err := minio.DefaultTransport(secure)
	if err != nil {
		return nil, err
	}
	if cfg.CABundle != "" {
		pem, err := os.ReadFile(cfg.CABundle)
		if err != nil {
			return nil, fmt.Errorf("reading the CA bundle (AWS_CA_BUNDLE): %w", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("the CA bundle %s holds no PEM certificate", cfg.CABundle)
		}
		if tr.TLSClientConfig == nil {
			tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
		}
		tr.TLSClientConfig.RootCAs = pool
	}
	var creds *credentials.Credentials
	switch {
	case cfg.AccessKeyID != "" && cfg.SecretAccessKey != "":
		creds = credentials.NewStaticV4(cfg.AccessKeyID, cfg.SecretAccessKey, cfg.SessionToken)
	case cfg.AccessKeyID != "" || cfg.SecretAccessKey != "":
		return nil, errors.New("S3 credentials need both an access key ID and a secret access key (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or their _FILE forms)")
	default:
		// Read now: a missing file or profile is a setup error, not a
		// failure to reach the service.
		creds = credentials.NewFileAWSCredentials("", cfg.Profile)
		if _, err := creds.GetWithContext(&credentials.CredContext{Client: &http.Client{Transport: tr}}); err != nil {
			return nil, fmt.Errorf("no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or their _FILE forms), or a profile in ~/.aws/credentials (AWS_PROFILE): %w", err)
		}
	}
	lookup := minio.BucketLookupDNS
	if cfg.PathStyle || isLocalHost(host) {
		lookup = minio.BucketLookupPath
	}
	c, err := minio.NewCore(host, &minio.Options{
		Creds: creds, Secure: secure, Transport: tr, Region: cfg.Region, BucketLookup: lookup,
	})
	if err != nil {
		return nil, fmt.Errorf("the S3 endpoint %s: %w", host, err)
	}
	dir = strings.Trim(dir, "/")
	s := &S3{core: *c, bucket: bucket, cfg: cfg, where: "s3://" + path.Join(bucket, dir)}
	if dir != "" {
		s.prefix = dir + "/"
	}
	return s, nil
}

func isLocalHost(hostport string) bool {
	h, _, err := net.SplitHostPort(hostport)
	if err != nil {
		h = hostport
	}
	h = strings.Trim(h, "[]")
	return h == "localhost" || strings.HasSuffix(h, ".localhost") || net.ParseIP(h) != nil
}

func (s *S3) Location() string { return s.where }

func (s *S3) key(name string) (string, error) {
	if err := ValidName(name); err != nil {
		return "", err
	}
	return s.prefix + name, nil
}

// wrap turns the service's errors into ones that say what to do.
func (s *S3) wrap(err error, name string) error {
	if err == nil {
		return nil
	}
	what := s.where
	if name != "" {
		what = s.where + "/" + name
	}
	r := minio.ToErrorResponse(err)
	switch r.Code {
	case "NoSuchKey", "NotFound":
		return errorOf(ErrNotExist, "%s does not exist: list what there is with docker backup ls %s", what, s.where)
	case "NoSuchBucket":
		return fmt.Errorf("the bucket %s does not exist: create it first, or check the endpoint and region", s.bucket)
	case "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken":
		return fmt.Errorf("%s: the storage refused the credentials (%s): check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or the profile), and the bucket's permissions", what, r.Code)
	}
	if r.StatusCode == http.StatusNotFound && name != "" {
		return errorOf(ErrNotExist, "%s does not exist", what)
	}
	if r.StatusCode == http.StatusForbidden {
		return fmt.Errorf("%s: access denied (HTTP 403): check the credentials and the bucket's permissions", what)
	}
	var ne net.Error
	var oe *net.OpError
	if errors.As(err, &oe) || errors.As(err, &ne) {
		return fmt.Errorf("%s: cannot reach the S3 endpoint (check AWS_ENDPOINT_URL or --s3-endpoint, and that the service answers): %w", what, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}

func (s *S3) Stat(ctx context.Context, name string) (Info, error) {
	key, err := s.key(name)
	if err != nil {
		return Info{}, err
	}
	oi, err := s.core.StatObject(ctx, s.bucket, key, minio.StatObjectOptions{})
	if err != nil {
		return Info{}, s.wrap(err, name)
	}
	return Info{Name: name, Size: oi.Size, ModTime: oi.LastModified}, nil
}

func (s *S3) Open(ctx context.Context, name string) (io.ReadCloser, error) {
	return s.OpenRange(ctx, name, 0, -1)
}

func (s *S3) OpenRange(ctx context.Context, name string, off, length int64) (io.ReadCloser, error) {
	key, err := s.key(name)
	if err != nil {
		return nil, err
	}
	if off < 0 {
		return nil, fmt.Errorf("a negative offset %d", off)
	}
	opts := minio.GetObjectOptions{}
	switch {
	case length == 0:
		// A zero-length range cannot be asked for: check the object is
		// there and read nothing.
		if _, err := s.Stat(ctx, name); err != nil {
			return nil, err
		}
		return io.NopCloser(strings.NewReader("")), nil
	case length > 0:
		err = opts.SetRange(off, off+length-1)
	case off > 0:
		err = opts.SetRange(off, 0)
	}
	if err != nil {
		return nil, err
	}
	body, _, _, err := s.core.GetObject(ctx, s.bucket, key, opts)
	if err != nil {
		if r := minio.ToErrorResponse(err); r.Code == "InvalidRange" {
			return io.NopCloser(strings.NewReader("")), nil
		}
		return nil, s.wrap(err, name)
	}
	return body, nil
}

func (s *S3) List(ctx context.Context) ([]Info, error) {
	var out []Info
	for oi := range s.core.Client.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: s.prefix}) {
		if oi.Err != nil {
			return nil, s.wrap(oi.Err, "")
		}
		name := strings.TrimPrefix(oi.Key, s.prefix)
		if name == "" || strings.Contains(name, "/") {
			continue
		}
		out = append(out, Info{Name: name, Size: oi.Size, ModTime: oi.LastModified})
	}
	return out, nil
}

func (s *S3) Delete(ctx context.Context, name string) error {
	key, err := s.key(name)
	if err != nil {
		return err
	}
	err = s.core.RemoveObject(ctx, s.bucket, key, minio.RemoveObjectOptions{})
	if r := minio.ToErrorResponse(err); r.Code == "NoSuchKey" {
		return nil
	}
	return s.wrap(err, name)
}

func (s *S3) putOptions() (minio.PutObjectOptions, error) {
	o := minio.PutObjectOptions{StorageClass: s.cfg.StorageClass, ContentType: "application/octet-stream"}
	switch strings.ToLower(s.cfg.SSE) {
	case "":
	case "aes256":
		o.ServerSideEncryption = encrypt.NewSSE()
	case "aws:kms":
		sse, err := encrypt.NewSSEKMS(s.cfg.SSEKMSKeyID, nil)
		if err != nil {
			return o, err
		}
		o.ServerSideEncryption = sse
	default:
		return o, fmt.Errorf("unknown S3 server-side encryption %q: use AES256 or aws:kms", s.cfg.SSE)
	}
	return o, nil
}

// Create starts a multipart upload: the object appears only when it is
// completed, and an aborted upload leaves nothing listed.
func (s *S3) Create(ctx context.Context, name string) (Upload, error) {
	key, err := s.key(name)
	if err != nil {
		return nil, err
	}
	opts, err := s.putOptions()
	if err != nil {
		return nil, err
	}
	// Also the first request: a missing bucket or wrong credentials fail
	// here, before any work is done.
	if _, err := s.Stat(ctx, name); err == nil {
		return nil, errorOf(ErrExist, "%s/%s already exists: choose another name", s.where, name)
	} else if !errors.Is(err, ErrNotExist) {
		return nil, err
	}
	id, err := s.core.NewMultipartUpload(ctx, s.bucket, key, opts)
	if err != nil {
		return nil, s.wrap(err, name)
	}
	plan := newPartPlan(s.cfg.PartSize, s.cfg.MaxParts)
	// Two parts in memory: the process's memory limit makes room for them.
	return &s3Upload{s: s, ctx: ctx, name: name, key: key, id: id, opts: opts, plan: plan, release: memlimit.Reserve(2 * plan.unit)}, nil
}

// partPlan sizes the parts of an upload whose size is not known: a part
// is held in memory until it is sent (two at a time: one filling, one on
// its way), so the part size is the memory it takes,
// and S3 allows a limited number of parts. Parts start small and grow
// twice, after a fifth and two fifths of the allowed parts, so that an
// archive of plannedSize (500 GB) fits: with 10,000 parts that is 16 MiB,
// then 32, then 64 MiB parts; with 1,000 parts 160, 320 and 640 MiB. Small
// and medium archives never get past the first size.
type partPlan struct {
	unit     int64
	maxParts int
}

func newPartPlan(partSize int64, maxParts int) partPlan {
	unit := int64(plannedSize / float64(3*maxParts))
	unit = (unit + (16<<20 - 1)) &^ (16<<20 - 1) // whole 16 MiB
	if partSize > unit {
		unit = partSize
	}
	return partPlan{unit: unit, maxParts: maxParts}
}

// size is the size of part n (1-based).
func (p partPlan) size(n int) int64 {
	step := 5 * (n - 1) / p.maxParts
	if step > 2 {
		step = 2
	}
	s := p.unit << step
	if s > maxPartSize {
		s = maxPartSize
	}
	return s
}

// s3Upload sends each part while the next one fills: two parts in memory,
// one being filled and one on its way (one, once parts have grown).
type s3Upload struct {
	s    *S3
	ctx  context.Context // Write has none: the upload's, from Create
	name string
	key  string
	id   string
	opts minio.PutObjectOptions
	plan partPlan

	mu       sync.Mutex
	buf      []byte          // the part being filled
	spare    []byte          // the buffer of the last part sent, for reuse
	sent     int             // parts handed to uploads, in flight included
	inflight chan partResult // the part on its way; nil when none
	parts    []minio.CompletePart
	err      error
	done     bool
	release  func() // gives back the memory limit's room for the parts
}

type partResult struct {
	n    int
	etag string
	err  error
	buf  []byte
}

func (u *s3Upload) Write(p []byte) (int, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.err != nil {
		return 0, u.err
	}
	if u.done {
		return 0, errors.New("write after the upload finished")
	}
	written := 0
	for len(p) > 0 {
		want := u.plan.size(u.sent + 1)
		if int64(cap(u.buf)) < want {
			// One allocation of the part's size: append's growth would
			// overshoot it.
			nb := make([]byte, len(u.buf), want)
			copy(nb, u.buf)
			u.buf = nb
		}
		room := int(want) - len(u.buf)
		n := min(room, len(p))
		u.buf = append(u.buf, p[:n]...)
		p = p[n:]
		written += n
		if int64(len(u.buf)) == want {
			if err := u.flush(); err != nil {
				u.err = err
				return written, err
			}
		}
	}
	return written, nil
}

// flush sends the buffer as the next part, once the previous one is
// through, and goes on with the previous part's buffer.
func (u *s3Upload) flush() error {
	if err := u.wait(); err != nil {
		return err
	}
	n := u.sent + 1
	if n > u.plan.maxParts {
		return fmt.Errorf("%s/%s: the archive outgrew the %d parts the storage allows (parts of up to %d MiB): raise --s3-part-size", u.s.where, u.name, u.plan.maxParts, u.plan.size(n)>>20)
	}
	buf := u.buf
	u.buf, u.spare = u.spare, nil
	u.sent = n
	ch := make(chan partResult, 1)
	u.inflight = ch
	go func() {
		part, err := u.s.core.PutObjectPart(u.ctx, u.s.bucket, u.key, u.id, n, bytes.NewReader(buf), int64(len(buf)), minio.PutObjectPartOptions{})
		ch <- partResult{n: n, etag: part.ETag, err: err, buf: buf[:0]}
	}()
	if u.plan.size(n+1) > u.plan.unit {
		// Grown parts (an archive past a fifth of the part limit) go one
		// at a time: the memory is one large part, not two.
		if err := u.wait(); err != nil {
			return err
		}
		u.buf, u.spare = u.spare, nil
	}
	return nil
}

// wait waits for the part on its way, if any, and records it.
func (u *s3Upload) wait() error {
	if u.inflight == nil {
		return nil
	}
	r := <-u.inflight
	u.inflight = nil
	u.spare = r.buf
	if r.err != nil {
		return fmt.Errorf("uploading part %d: %w", r.n, u.s.wrap(r.err, u.name))
	}
	u.parts = append(u.parts, minio.CompletePart{PartNumber: r.n, ETag: r.etag})
	return nil
}

func (u *s3Upload) Commit(ctx context.Context) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.done {
		return errors.New("the upload is already finished")
	}
	if u.err != nil {
		return errors.Join(u.err, u.abort(ctx))
	}
	// The last part, which may be small (or the only one, even empty).
	if len(u.buf) > 0 || u.sent == 0 {
		if err := u.flush(); err != nil {
			u.err = err
			return errors.Join(err, u.abort(ctx))
		}
	}
	if err := u.wait(); err != nil {
		u.err = err
		return errors.Join(err, u.abort(ctx))
	}
	if err := ctx.Err(); err != nil {
		return errors.Join(err, u.abort(ctx))
	}
	if _, err := u.s.core.CompleteMultipartUpload(ctx, u.s.bucket, u.key, u.id, u.parts, u.opts); err != nil {
		err = fmt.Errorf("completing the upload: %w", u.s.wrap(err, u.name))
		return errors.Join(err, u.abort(ctx))
	}
	u.done = true
	u.buf, u.spare = nil, nil
	u.release()
	return nil
}

func (u *s3Upload) Abort(ctx context.Context) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.done {
		return nil
	}
	return u.abort(ctx)
}

// abort aborts the multipart upload, also after a cancel: its parts would
// otherwise take space (though they are never listed as an object).
func (u *s3Upload) abort(ctx context.Context) error {
	u.done = true
	// No part may land after the abort: the one on its way ends first
	// (at once when the upload was cancelled).
	_ = u.wait()
	u.buf, u.spare = nil, nil
	u.release()
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err := u.s.core.AbortMultipartUpload(actx, u.s.bucket, u.key, u.id); err != nil {
		if r := minio.ToErrorResponse(err); r.Code == "NoSuchUpload" {
			return nil
		}
		return fmt.Errorf("nothing was committed, but the unfinished multipart upload %s of %s could not be aborted (%v): the bucket's lifecycle rule for incomplete multipart uploads removes it, or abort it with aws s3api abort-multipart-upload", u.id, u.key, err)
	}
	return nil
}
