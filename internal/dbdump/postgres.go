package dbdump

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/docker-backup/docker-backup/internal/archive"
)

type postgres struct{}

func (postgres) Name() string { return Postgres }

func (postgres) DataDirs(env []string) []string {
	dirs := []string{"/var/lib/postgresql/data", "/var/lib/postgresql", "/bitnami/postgresql", "/home/postgres/pgdata"}
	if d, ok := envLookup(env, "PGDATA"); ok && d != "" {
		dirs = append(dirs, d)
	}
	return dirs
}

// pgCreds finds a superuser: pg_dumpall --globals-only reads every role.
func pgCreds(ctx context.Context, x execer, t Target) (user, password string, err error) {
	if t.UserEnv != "" {
		if user, _, err = secret(ctx, x, t, t.UserEnv); err != nil {
			return "", "", err
		}
	}
	if user == "" {
		// Bitnami's superuser is postgres, with its own password variable.
		if pw, ok, err := secret(ctx, x, t, "POSTGRESQL_POSTGRES_PASSWORD"); err != nil {
			return "", "", err
		} else if ok && t.PasswordEnv == "" {
			return "postgres", pw, nil
		}
		if user, _, err = secret(ctx, x, t, "POSTGRES_USER", "POSTGRESQL_USERNAME"); err != nil {
			return "", "", err
		}
	}
	if user == "" {
		user = "postgres"
	}
	password, _, err = secret(ctx, x, t, t.PasswordEnv, "POSTGRES_PASSWORD", "POSTGRESQL_PASSWORD")
	return user, password, err
}

// pgEnv finds the credentials and puts them where libpq reads them.
func pgEnv(ctx context.Context, x execer, t Target) (user string, env []string, err error) {
	user, password, err := pgCreds(ctx, x, t)
	if err != nil {
		return "", nil, err
	}
	env = []string{"PGUSER=" + user, "PGCONNECT_TIMEOUT=10"}
	if password != "" {
		env = append(env, "PGPASSWORD="+password)
	}
	return user, env, nil
}

func (postgres) Plan(ctx context.Context, x execer, t Target) (*Plan, error) {
	user, env, err := pgEnv(ctx, x, t)
	if err != nil {
		return nil, err
	}
	query := func(sql string) (string, error) {
		return capture(ctx, x, t.ContainerID, []string{"psql", "-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1", "-d", "postgres", "-c", sql}, env)
	}
	version, err := query("SHOW server_version")
	if err != nil {
		return nil, connectError("PostgreSQL", t.Service, user, "POSTGRES_PASSWORD", err)
	}
	tool, err := capture(ctx, x, t.ContainerID, []string{"pg_dump", "--version"}, nil)
	if err != nil {
		return nil, fmt.Errorf("pg_dump is not usable in service %s: %w", t.Service, err)
	}
	super, err := query("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
	if err != nil {
		return nil, fmt.Errorf("reading the privileges of user %s of service %s: %w", user, t.Service, err)
	}
	superuser := strings.TrimSpace(super) == "t"
	// A user that is not a superuser may read neither the roles nor,
	// most often, the others' tables: the databases it owns are dumped.
	list := "SELECT datname FROM pg_database WHERE datallowconn AND NOT datistemplate ORDER BY datname"
	if !superuser {
		list = "SELECT datname FROM pg_database WHERE datallowconn AND NOT datistemplate AND pg_get_userbyid(datdba) = current_user ORDER BY datname"
	}
	out, err := query(list)
	if err != nil {
		return nil, fmt.Errorf("listing the databases of service %s: %w", t.Service, err)
	}
	plan := &Plan{Engine: Postgres, Flavor: "PostgreSQL", Version: strings.TrimSpace(version)}
	dir := archive.DatabasesDir + t.Service + "/"
	id := t.ContainerID
	if superuser {
		if d, err := query("SHOW data_directory"); err == nil {
			plan.DataDir = strings.TrimSpace(d)
		}
		plan.Jobs = append(plan.Jobs, Job{
			Dump: archive.Dump{Path: dir + "globals.sql", Kind: "globals", Format: "sql", Tool: strings.TrimSpace(tool)},
			open: func(ctx context.Context) io.ReadCloser {
				return stream(ctx, x, id, [][]string{{"pg_dumpall", "--globals-only", "--no-password", "--database=postgres"}}, env)
			},
		})
	} else {
		plan.Notes = append(plan.Notes, fmt.Sprintf("service %s: user %s is not a superuser: the databases it owns are dumped, without the roles (set x-backup user-env/password-env for a superuser to back them up too)", t.Service, user))
	}
	for _, db := range lines(out) {
		cmd := []string{"pg_dump", "--format=custom", "--compress=0", "--no-password", "--dbname=" + pgDBName(db)}
		excl, err := pgExclusions(db, t.ExcludeTable, "--exclude-table=")
		if err != nil {
			return nil, err
		}
		exclData, err := pgExclusions(db, t.ExcludeTableData, "--exclude-table-data=")
		if err != nil {
			return nil, err
		}
		cmd = append(append(cmd, excl...), exclData...)
		plan.Jobs = append(plan.Jobs, Job{
			Dump: archive.Dump{Path: dir + safeFileName(db) + ".pgdump", Database: db, Kind: "database", Format: "pg_dump-custom", Tool: strings.TrimSpace(tool)},
			open: func(ctx context.Context) io.ReadCloser {
				return stream(ctx, x, id, [][]string{cmd}, env)
			},
		})
	}
	return plan, nil
}

// pgDBName is db for pg_dump's --dbname, which reads a value holding '=' or
// starting with a URI prefix as a connection string (other hosts, options):
// such names are passed as a quoted dbname= connection string.
func pgDBName(db string) string {
	if !strings.Contains(db, "=") && !strings.HasPrefix(db, "postgresql://") && !strings.HasPrefix(db, "postgres://") {
		return db
	}
	return "dbname='" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(db) + "'"
}

// pgExclusions turns db.schema.table globs into pg_dump options for db:
// pg_dump's own patterns use the same * and ? wildcards.
func pgExclusions(db string, patterns []string, flag string) ([]string, error) {
	var out []string
	for _, p := range patterns {
		parts, err := splitPattern(p, 3)
		if err != nil {
			return nil, err
		}
		if globMatch(parts[0], db) {
			out = append(out, flag+parts[1]+"."+parts[2])
		}
	}
	return out, nil
}
