package dbdump

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// errNoCredentials: none of the variables we know is set.
var errNoCredentials = errors.New("no credentials found")

// envLookup finds a variable in a container's environment.
func envLookup(env []string, key string) (string, bool) {
	for i := len(env) - 1; i >= 0; i-- {
		if k, v, ok := strings.Cut(env[i], "="); ok && k == key {
			return v, true
		}
	}
	return "", false
}

// secret returns the value of the first of keys that is set, directly or
// through its _FILE variant, whose file is read inside the container (it
// is usually a compose secret, absent from the host). ok is false when
// none is set.
func secret(ctx context.Context, x execer, t Target, keys ...string) (value string, ok bool, err error) {
	for _, k := range keys {
		if k == "" {
			continue
		}
		if v, set := envLookup(t.Env, k); set && v != "" {
			return v, true, nil
		}
		if path, set := envLookup(t.Env, k+"_FILE"); set && path != "" {
			out, err := capture(ctx, x, t.ContainerID, []string{"cat", "--", path}, nil)
			if err != nil {
				return "", false, fmt.Errorf("reading %s_FILE (%s) in the container of service %s: %w", k, path, t.Service, err)
			}
			// Entrypoints read these with $(< file), which drops trailing newlines.
			return strings.TrimRight(out, "\n"), true, nil
		}
	}
	return "", false, nil
}

// connectError says that a server refused us, and what to check: the
// credentials come from the container's environment, so a password
// changed in the server but not there (or the reverse) shows up here.
func connectError(server, service, user, passwordVar string, err error) error {
	if errors.Is(err, context.Canceled) {
		// Interrupted (Ctrl-C, SIGTERM): the password is not in question.
		return fmt.Errorf("connecting to %s in service %s: %w", server, service, err)
	}
	return fmt.Errorf("cannot connect to %s in service %s as %s: %w; check that %s (or %s_FILE) in the container's environment holds the server's password, or name the right variables with x-backup user-env and password-env",
		server, service, user, err, passwordVar, passwordVar)
}
