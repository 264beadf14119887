package plugin

import (
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/urfave/cli/v2"
	"github.com/xrash/smetrics"
)

// envPrefix starts the variables of the daemon's flags: the way the
// images of the peers are configured, in a compose file's environment:.
const envPrefix = "BACKUP_"

// envName is a flag's variable: BACKUP_ and the flag's name in capitals,
// dashes as underscores (--keep-daily: BACKUP_KEEP_DAILY).
func envName(flag string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// withEnv gives every flag its variable, renamed where rename says so;
// urfave reads it when the flag is not given and shows it in --help.
func withEnv(flags []cli.Flag, rename map[string]string) []cli.Flag {
	for _, f := range flags {
		name := f.Names()[0]
		v := envName(name)
		if r, ok := rename[name]; ok {
			v = r
		}
		switch f := f.(type) {
		case *cli.StringFlag:
			f.EnvVars = []string{v}
		case *cli.StringSliceFlag:
			f.EnvVars = []string{v}
		case *cli.BoolFlag:
			f.EnvVars = []string{v}
		case *cli.IntFlag:
			f.EnvVars = []string{v}
		case *cli.DurationFlag:
			f.EnvVars = []string{v}
		default:
			panic(fmt.Sprintf("withEnv: flag %s of type %T", name, f))
		}
	}
	return flags
}

// flagEnv is the variable withEnv gave the flag named name.
func flagEnv(flags []cli.Flag, name string) string {
	for _, f := range flags {
		if f.Names()[0] != name {
			continue
		}
		if e, ok := f.(interface{ GetEnvVars() []string }); ok && len(e.GetEnvVars()) > 0 {
			return e.GetEnvVars()[0]
		}
	}
	return ""
}

// checkEnv refuses variables with the prefix that no flag reads: a typo
// (BACKUP_KEEP_DAYLY) would otherwise be ignored until the archives it
// should have kept are gone. extra are the other known names (_FILE
// forms).
func checkEnv(flags []cli.Flag, environ []string, helpName string, extra ...string) error {
	known := map[string]bool{}
	for _, f := range flags {
		if e, ok := f.(interface{ GetEnvVars() []string }); ok {
			for _, v := range e.GetEnvVars() {
				known[v] = true
			}
		}
	}
	for _, v := range extra {
		known[v] = true
	}
	var unknown []string
	for _, kv := range environ {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, envPrefix) && !known[k] {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	sort.Strings(unknown)
	hint := ""
	if len(unknown) == 1 {
		if s := closest(unknown[0], known); s != "" {
			hint = fmt.Sprintf(" (did you mean %s?)", s)
		}
	}
	return fmt.Errorf("unknown setting %s%s: see '%s --help' for the variables it reads", strings.Join(unknown, ", "), hint, helpName)
}

// closest is the known name nearest to s, if it is near enough to be a
// typo.
func closest(s string, known map[string]bool) string {
	best, bestD := "", 4
	for k := range known {
		if d := smetrics.WagnerFischer(s, k, 1, 1, 1); d < bestD || d == bestD && k < best {
			best, bestD = k, d
		}
	}
	return best
}

// secretSetting is a secret-bearing flag's value: the flag, its variable,
// or the content of the file its _FILE variable names (a docker or
// compose secret), one value per line. Both the variable and its _FILE
// form set is an error.
func secretSetting(c *cli.Context, flag, env string) ([]string, error) {
	fileVar := env + "_FILE"
	file := os.Getenv(fileVar)
	if file != "" && os.Getenv(env) != "" {
		return nil, fmt.Errorf("both %s and %s are set: keep one", env, fileVar)
	}
	if c.IsSet(flag) || file == "" {
		return c.StringSlice(flag), nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", fileVar, err)
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			out = append(out, line)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s names %s, which is empty", fileVar, file)
	}
	return out, nil
}
