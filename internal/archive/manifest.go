package archive

import (
	"strings"
	"time"
)

// Manifest describes an archive: what it holds, where it came from, and the
// size and SHA-256 of every entry. It never holds a credential.
type Manifest struct {
	FormatVersion int       `json:"formatVersion"`
	ToolVersion   string    `json:"toolVersion"`
	CreatedAt     time.Time `json:"createdAt"`
	// Cold is true when the project was stopped and database volumes were
	// copied raw (create --stop).
	Cold        bool        `json:"cold"`
	Compression Compression `json:"compression"`
	Project     Project     `json:"project"`
	Services    []Service   `json:"services"`
	Databases   []Database  `json:"databases,omitempty"`
	Volumes     []Volume    `json:"volumes,omitempty"`
	Files       []File      `json:"files"`
	Notes       []string    `json:"notes,omitempty"`
}

// Project is the compose project the archive was taken from.
type Project struct {
	Name        string   `json:"name"`
	WorkingDir  string   `json:"workingDir,omitempty"`
	ConfigFiles []string `json:"configFiles,omitempty"`
}

// Service is one compose service at backup time.
type Service struct {
	Name        string `json:"name"`
	Image       string `json:"image"`
	ImageID     string `json:"imageId,omitempty"`
	ImageDigest string `json:"imageDigest,omitempty"`
	Containers  int    `json:"containers"`
	Running     bool   `json:"running"`
}

// Database is one database service's dump.
type Database struct {
	Service string `json:"service"`
	// Engine is "postgres" or "mysql" (MySQL and MariaDB).
	Engine string `json:"engine"`
	// Flavor is the server's own name: "PostgreSQL", "MySQL", "MariaDB".
	Flavor  string `json:"flavor"`
	Version string `json:"version"`
	// Dumps are the files of this service, each a path in Files.
	Dumps []Dump `json:"dumps"`
	// Exports are create --export's files of this service, each a path
	// in Files under exports/.
	Exports          []Export `json:"exports,omitempty"`
	ExcludeTables    []string `json:"excludeTables,omitempty"`
	ExcludeTableData []string `json:"excludeTableData,omitempty"`
}

// Export is one database of a service as an SQLite file (create
// --export sqlite): tables, keys and rows, for any SQLite tool or for
// docker backup import into PostgreSQL or MySQL/MariaDB.
type Export struct {
	Path     string `json:"path"`
	Database string `json:"database"`
	Format   string `json:"format"`
	Tables   int    `json:"tables"`
	Rows     int64  `json:"rows"`
}

// Dump is one dump file of a database service.
type Dump struct {
	// Path of the logical file (its parts are Path.000000...).
	Path string `json:"path"`
	// Database is empty for server-wide dumps (roles, users and grants).
	Database string `json:"database,omitempty"`
	// Kind is "globals" (roles, users, grants) or "database".
	Kind string `json:"kind"`
	// Format: "pg_dump-custom", "sql".
	Format string `json:"format"`
	// Tool is the client that made the dump, with its version.
	Tool string `json:"tool"`
}

// KindFile marks a volume entry that is a bind-mounted file.
const KindFile = "file"

// Volume is one named volume's or bind mount's tree, stored under
// volumes/<Name>/.
type Volume struct {
	// Name is the volume's name in the compose file.
	Name string `json:"name"`
	// EngineName is the volume's name on the engine (project_name).
	EngineName string   `json:"engineName"`
	Services   []string `json:"services"`
	// Raw is true for a database's data volume copied while it was stopped.
	Raw bool `json:"raw,omitempty"`
	// Kind is KindFile for a bind mount of a single file, whose tree is
	// that one file; "" for a folder or a volume.
	Kind string `json:"kind,omitempty"`
	// Target is where the first of Services mounts a bind mount: a
	// restore finds the bind mount's host path in the compose file by it.
	Target string `json:"target,omitempty"`
	// Entries, Bytes and TreeSHA256 cover every tar entry under the volume's
	// prefix: see TreeDigest.
	Entries    int64  `json:"entries"`
	Bytes      int64  `json:"bytes"`
	TreeSHA256 string `json:"treeSha256"`
	// Special is what the tree holds of setuid and setgid files, devices
	// and fifos, and files with capabilities; nil for none. In a manifest
	// that Verify returned, it is what the tree was found to hold.
	Special *Special `json:"special,omitempty"`
}

// Bind is true for a bind mount, whose EngineName is its host path.
func (v Volume) Bind() bool { return strings.HasPrefix(v.EngineName, "/") }

// Type is the mount's type as docker inspect names it ("volume", "bind"),
// "bind (file)" for a bind-mounted file.
func (v Volume) Type() string {
	switch {
	case v.Kind == KindFile:
		return "bind (file)"
	case v.Bind():
		return "bind"
	}
	return "volume"
}

// File is one logical file: a compose file, the resolved model, or a dump
// (stored in parts).
type File struct {
	Path   string `json:"path"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
	// Parts is the number of NAME.NNNNNN parts; 0 for a plain entry.
	Parts int `json:"parts,omitempty"`
}
