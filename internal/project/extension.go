package project

import (
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"
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
	// DataDir is where a database service keeps its files, when neither
	// its image nor its server says: never copied raw while it runs.
	DataDir string `json:"data-dir,omitempty"`
	// RestoreHooks run in this service's container after a restore.
	RestoreHooks RestoreHooks `json:"restore-hooks,omitempty"`
}

// RestoreHooks are commands run in a service once the data is back:
// before-start ones before the stopped services start again (the service
// must be running then, e.g. a database), after-start ones once everything
// runs (e.g. the app's schema migrations).
type RestoreHooks struct {
	BeforeStart []Command `json:"before-start,omitempty"`
	AfterStart  []Command `json:"after-start,omitempty"`
}

// Command is a hook's command: a string runs with sh -c, a list runs as is,
// like compose's command:.
type Command []string

func (c *Command) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		if strings.TrimSpace(s) == "" {
			return fmt.Errorf("empty hook command")
		}
		*c = Command{"sh", "-c", s}
		return nil
	}
	var list []string
	if err := json.Unmarshal(b, &list); err != nil {
		return fmt.Errorf("a hook command is a string or a list of strings")
	}
	if len(list) == 0 {
		return fmt.Errorf("empty hook command")
	}
	*c = list
	return nil
}

func decodeExtension(raw any) (Extension, error) {
	var ext Extension
	if raw == nil {
		return ext, nil
	}
	if err := unknownKeys(raw, reflect.TypeOf(ext), ""); err != nil {
		return ext, err
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

// unknownKeys refuses keys of raw (a decoded YAML mapping) that t, a struct
// with json tags, does not have, recursing into nested structs: a misspelt
// key silently ignored would back up what the user meant to leave out, or
// skip a hook they rely on.
func unknownKeys(raw any, t reflect.Type, prefix string) error {
	m, ok := raw.(map[string]any)
	if !ok {
		return nil // the decoder says what is wrong with the type
	}
	fields := map[string]reflect.Type{}
	var known []string
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" || name == "-" {
			continue
		}
		fields[name] = f.Type
		known = append(known, name)
	}
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		ft, ok := fields[k]
		if !ok {
			return fmt.Errorf("invalid %s: unknown key %s; the known keys are %s", ExtensionKey, quoteKey(prefix+k), strings.Join(known, ", "))
		}
		if ft.Kind() == reflect.Struct {
			if err := unknownKeys(m[k], ft, prefix+k+"."); err != nil {
				return err
			}
		}
	}
	return nil
}

// maxQuotedKey bounds how much of an unknown key an error repeats: enough
// to spot a typo, never a whole file.
const maxQuotedKey = 128

// quoteKey quotes a key for an error message, cut to maxQuotedKey bytes.
func quoteKey(k string) string {
	if len(k) <= maxQuotedKey {
		return fmt.Sprintf("%q", k)
	}
	return fmt.Sprintf("%q... (%d bytes)", strings.ToValidUTF8(k[:maxQuotedKey], ""), len(k))
}
