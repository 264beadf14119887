// Package dbdump dumps databases inside their own containers with the
// server's own client tools, so client and server versions always match.
// Credentials come from the container's environment (and the files its
// _FILE variables name, read inside the container) and reach the tools only
// through the exec's environment: never argv, logs or errors.
package dbdump

import (
	"context"
	"io"

	"github.com/docker-backup/docker-backup/internal/archive"
	"github.com/docker-backup/docker-backup/internal/engine"
)

// Engine names, as in the manifest and in x-backup's engine:.
const (
	Postgres = "postgres"
	MySQL    = "mysql"
)

// execer runs a command in a container (engine.Engine in production).
type execer interface {
	Exec(ctx context.Context, containerID string, opts engine.ExecOptions) (int, error)
}

// Target is a running database container and what the user told us of it.
type Target struct {
	Service     string
	ContainerID string
	// Env is the container's environment (its config), where credentials
	// or the names of files holding them are found.
	Env []string
	// UserEnv and PasswordEnv override the variables credentials are read from.
	UserEnv, PasswordEnv string
	// ExcludeTable and ExcludeTableData are globs over db.table (MySQL) or
	// db.schema.table (PostgreSQL).
	ExcludeTable, ExcludeTableData []string
}

// Plan is what will be dumped from one database service.
type Plan struct {
	Engine  string
	Flavor  string
	Version string
	Jobs    []Job
	Notes   []string
	// DataDir is where the server says it keeps its files, when it says.
	DataDir string
}

// Job is one dump: a file of the archive.
type Job struct {
	archive.Dump
	open func(ctx context.Context) io.ReadCloser
}

// Open starts the dump and streams it. A failed dump makes Read return an
// error carrying the tool's exit code and stderr.
func (j Job) Open(ctx context.Context) io.ReadCloser { return j.open(ctx) }

// Driver knows one database engine.
type Driver interface {
	Name() string
	// DataDirs are where the engine's images keep their data: volumes
	// mounted there are covered by the logical dump.
	DataDirs(env []string) []string
	// Plan connects, reads the server version and the databases, and
	// prepares the dumps.
	Plan(ctx context.Context, x execer, t Target) (*Plan, error)
}

// For returns the driver of an engine name.
func For(name string) Driver {
	switch name {
	case Postgres:
		return postgres{}
	case MySQL:
		return mysql{}
	}
	return nil
}
