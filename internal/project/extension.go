package project

import (
	"encoding/json"
	"fmt"
)

// ExtensionKey is the compose extension that tunes backups per service.
const ExtensionKey = "x-backup"

// Extension is a service's `x-backup:` block.
type Extension struct {
	// Engine forces the database engine ("postgres", "mysql") or "none".
	Engine string `json:"engine,omitempty"`
	// Skip leaves the service's databases and volumes out.
	Skip bool `json:"skip,omitempty"`
	// Include backs up a service that is skipped by default (e.g. Redis).
	Include          bool     `json:"include,omitempty"`
	ExcludeTable     []string `json:"exclude-table,omitempty"`
	ExcludeTableData []string `json:"exclude-table-data,omitempty"`
	// Names of the container's environment variables holding credentials;
	// their _FILE variants are read too.
	UserEnv     string `json:"user-env,omitempty"`
	PasswordEnv string `json:"password-env,omitempty"`
	// BindMounts includes the service's bind mounts.
	BindMounts bool `json:"bind-mounts,omitempty"`
}

func decodeExtension(raw any) (Extension, error) {
	var ext Extension
	if raw == nil {
		return ext, nil
	}
	b, err := json.Marshal(raw)
	if err != nil {
		return ext, err
	}
	if err := json.Unmarshal(b, &ext); err != nil {
		return ext, fmt.Errorf("invalid %s: %w", ExtensionKey, err)
	}
	switch ext.Engine {
	case "", "postgres", "mysql", "none":
	default:
		return ext, fmt.Errorf("invalid %s engine %q: use postgres, mysql or none", ExtensionKey, ext.Engine)
	}
	return ext, nil
}
