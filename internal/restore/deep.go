package restore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/docker-backup/docker-backup/internal/archive"
	"github.com/docker-backup/docker-backup/internal/backup"
	"github.com/docker-backup/docker-backup/internal/dbdump"
	"github.com/docker-backup/docker-backup/internal/engine"
)

// DeepResult is what the test restore of one database gave.
type DeepResult struct {
	Service  string              `json:"service"`
	Database string              `json:"database"`
	OK       bool                `json:"ok"`
	Error    string              `json:"error,omitempty"`
	Tables   []dbdump.TableCount `json:"tables,omitempty"`
	Rows     int64               `json:"rows"`
}

// RolesAndUsers stands for a service's roles and users in a DeepResult
// that reports they did not load.
const RolesAndUsers = "(roles and users)"

// deepEngine is what a test restore needs of the engine.
type deepEngine interface {
	Exec(ctx context.Context, containerID string, opts engine.ExecOptions) (int, error)
	Throwaway(ctx context.Context, image string, env []string, dataDir string) (string, func(), error)
}

// deepReadyTimeout bounds the start of a throwaway server.
const deepReadyTimeout = 3 * time.Minute

// DeepVerify test-restores every database of a verified archive, one
// database service at a time, into a throwaway server started from the
// image of the original service (no network, a temporary volume, both
// removed afterwards), then counts every table's rows. open gives the
// archive's plaintext from its start, once per service. A dump that does
// not load is a failed result, not an error; the error is for what keeps
// the test from running at all (an image that is not present).
//
// lim are the limits the archive was verified with.
func DeepVerify(ctx context.Context, eng deepEngine, m *archive.Manifest, open func() (io.Reader, error), prog backup.Progress, lim archive.Limits) ([]DeepResult, error) {
	var out []DeepResult
	for _, d := range m.Databases {
		res, err := deepOne(ctx, eng, m, d, open, prog, lim)
		if err != nil {
			return out, err
		}
		out = append(out, res...)
	}
	return out, nil
}

func deepOne(ctx context.Context, eng deepEngine, m *archive.Manifest, d archive.Database, open func() (io.Reader, error), prog backup.Progress, lim archive.Limits) ([]DeepResult, error) {
	image := ""
	for _, s := range m.Services {
		if s.Name == d.Service {
			image = s.ImageID
			if image == "" {
				image = s.Image
			}
		}
	}
	driver := dbdump.For(d.Engine)
	if image == "" || driver == nil {
		return nil, fmt.Errorf("the archive does not say which %s image service %s ran", d.Engine, d.Service)
	}
	// A password only this throwaway server knows, in its environment.
	buf := make([]byte, 18)
	if _, err := rand.Read(buf); err != nil {
		return nil, err
	}
	pw := hex.EncodeToString(buf)
	env := []string{"POSTGRES_PASSWORD=" + pw}
	if d.Engine == dbdump.MySQL {
		env = []string{"MARIADB_ROOT_PASSWORD=" + pw, "MYSQL_ROOT_PASSWORD=" + pw}
	}
	id, remove, err := eng.Throwaway(ctx, image, env, driver.DataDirs(nil)[0])
	if err != nil {
		return nil, fmt.Errorf("service %s: %w (the image of the backup must be present: docker pull it)", d.Service, err)
	}
	defer remove()
	failed := func(err error) []DeepResult {
		var res []DeepResult
		for _, dump := range d.Dumps {
			if dump.Kind == "database" {
				res = append(res, DeepResult{Service: d.Service, Database: dump.Database, Error: err.Error()})
			}
		}
		return res
	}
	wctx, cancel := context.WithTimeout(ctx, deepReadyTimeout)
	defer cancel()
	if err := dbdump.WaitListening(wctx, eng, d.Engine, id); err != nil {
		return failed(err), nil
	}
	t := dbdump.Target{Service: d.Service, ContainerID: id, Env: env}
	if d.Engine == dbdump.MySQL {
		// The users dump may give root the archive's password: load as an
		// account of our own, which no archive has.
		if err := addVerifyUser(wctx, eng, id, pw); err != nil {
			return failed(err), nil
		}
		t.Env = append(t.Env, verifyUserEnv+"="+verifyUser, verifyPasswordEnv+"="+pw)
		t.UserEnv, t.PasswordEnv = verifyUserEnv, verifyPasswordEnv
	}
	var srv *dbdump.Server
	for {
		if srv, err = dbdump.Connect(wctx, eng, d.Engine, t); err == nil || wctx.Err() != nil {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	if err != nil {
		return failed(err), nil
	}
	r, err := open()
	if err != nil {
		return nil, err
	}
	// Each database on its own: one that does not load does not hide
	// whether the others do.
	target := &dbTarget{Database: d, Dumps: d.Dumps, server: srv, keepGoing: true}
	if err := apply(ctx, r, m, &work{dbs: []*dbTarget{target}, limits: lim}, nil, prog); err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return failed(err), nil
	}
	var res []DeepResult
	if err := target.failures[""]; err != nil {
		res = append(res, DeepResult{Service: d.Service, Database: RolesAndUsers, Error: err.Error()})
	}
	for _, dump := range d.Dumps {
		if dump.Kind != "database" {
			continue
		}
		if err := target.failures[dump.Database]; err != nil {
			res = append(res, DeepResult{Service: d.Service, Database: dump.Database, Error: err.Error()})
			continue
		}
		r := DeepResult{Service: d.Service, Database: dump.Database, OK: true}
		if r.Tables, err = srv.Tables(ctx, dump.Database); err != nil {
			r.OK, r.Error = false, err.Error()
		}
		for _, tc := range r.Tables {
			r.Rows += tc.Rows
		}
		res = append(res, r)
	}
	return res, nil
}

// The account a MySQL/MariaDB test restore loads as, and the variables
// (of the Target, not of any process) its credentials are read from.
const (
	verifyUser        = "docker_backup_verify"
	verifyUserEnv     = "DOCKER_BACKUP_VERIFY_USER"
	verifyPasswordEnv = "DOCKER_BACKUP_VERIFY_PASSWORD"
)

// addVerifyUser creates the test restore's own administrator, as root. The
// SQL, which holds the password, goes through stdin, never argv.
func addVerifyUser(ctx context.Context, x deepEngine, id, pw string) error {
	user := dbdump.MySQLLiteral(verifyUser) + "@'localhost'"
	sql := dbdump.MySQLSession + fmt.Sprintf("CREATE USER %s IDENTIFIED BY %s; GRANT ALL PRIVILEGES ON *.* TO %s WITH GRANT OPTION; GRANT PROXY ON ''@'%%' TO %s WITH GRANT OPTION;\n",
		user, dbdump.MySQLLiteral(pw), user, user)
	cmd := []string{"sh", "-c", `exec "$(command -v mariadb || command -v mysql)" --user=root`}
	var stderr strings.Builder
	for {
		code, err := x.Exec(ctx, id, engine.ExecOptions{Cmd: cmd, Env: []string{"MYSQL_PWD=" + pw}, Stdin: strings.NewReader(sql), Stderr: &stderr})
		if err == nil && code == 0 {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("creating the test restore's account: %s", strings.TrimSpace(stderr.String()))
		}
		stderr.Reset()
		time.Sleep(500 * time.Millisecond)
	}
}
