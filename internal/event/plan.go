package event

import "time"

// Plan is what a restore will do, shown before anything changes.
type Plan struct {
	// Project is the target project; Archive the archive's path.
	Project string `json:"project"`
	Archive string `json:"archive"`
	// From describes the archive: its project, time and writer.
	From struct {
		Project     string    `json:"project"`
		CreatedAt   time.Time `json:"createdAt"`
		ToolVersion string    `json:"toolVersion"`
		Cold        bool      `json:"cold,omitempty"`
		// Signature is the archive's, as verified; nil when unsigned.
		Signature *PlanSignature `json:"signature,omitempty"`
	} `json:"from"`
	// Create: the project does not exist yet and is created first.
	Create bool `json:"create,omitempty"`
	// Stop are the services stopped during the restore and started
	// again afterwards.
	Stop      []string       `json:"stop"`
	Volumes   []PlanVolume   `json:"volumes"`
	Databases []PlanDatabase `json:"databases"`
	// SafetyBackup is where the current state is backed up first; ""
	// with none (NoSafetyBackup, or a project created by the restore).
	SafetyBackup   string   `json:"safetyBackup,omitempty"`
	NoSafetyBackup bool     `json:"noSafetyBackup,omitempty"`
	Notes          []string `json:"notes,omitempty"`
}

// PlanSignature is how the archive is signed: by the key of fingerprint
// Key (SHA256:...), named Name in the trust list; Trusted when the trust
// list holds it (false: no trust list was given).
type PlanSignature struct {
	Key     string `json:"key"`
	Name    string `json:"name,omitempty"`
	Trusted bool   `json:"trusted"`
}

// PlanVolume is a volume the restore replaces.
type PlanVolume struct {
	Name    string `json:"name"`
	Target  string `json:"target"`
	Bytes   int64  `json:"bytes"`
	Entries int64  `json:"entries"`
	// Raw: the volume holds a database's files, copied cold.
	Raw bool `json:"raw,omitempty"`
	// Bind: Target is a host path that a service bind-mounts; File: a
	// single file.
	Bind bool `json:"bind,omitempty"`
	File bool `json:"file,omitempty"`
	// Special is what the volume holds of setuid and setgid files,
	// devices and fifos, and files with capabilities; nil for none.
	Special *PlanSpecial `json:"special,omitempty"`
}

// PlanSpecial counts a volume's special files; Kept: they are written as
// archived, else the bits and capabilities are dropped (and devices
// refused).
type PlanSpecial struct {
	Setuid       int64 `json:"setuid,omitempty"`
	Devices      int64 `json:"devices,omitempty"`
	Capabilities int64 `json:"capabilities,omitempty"`
	Kept         bool  `json:"kept"`
}

// PlanDatabase is a database service the restore reloads.
type PlanDatabase struct {
	Service string     `json:"service"`
	Flavor  string     `json:"flavor"`
	Version string     `json:"version"`
	Dumps   []PlanDump `json:"dumps"`
}

// PlanDump is one dump loaded: a database, or the roles and users
// (Globals).
type PlanDump struct {
	Database string `json:"database,omitempty"`
	Globals  bool   `json:"globals,omitempty"`
	Bytes    int64  `json:"bytes"`
}
