package dbdump

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestEnvLookup(t *testing.T) {
	env := []string{"A=1", "B=", "C=x=y", "A=2", "NOEQUALS"}
	tests := []struct {
		key   string
		want  string
		found bool
	}{
		{"A", "2", true}, // the last one wins, as in docker's env
		{"B", "", true},
		{"C", "x=y", true},
		{"D", "", false},
		{"NOEQUALS", "", false},
	}
	for _, tt := range tests {
		if v, ok := envLookup(env, tt.key); v != tt.want || ok != tt.found {
			t.Errorf("envLookup(%s) = %q %v, want %q %v", tt.key, v, ok, tt.want, tt.found)
		}
	}
}

func TestSecret(t *testing.T) {
	files := map[string]string{
		"/run/secrets/pw":      "s3cret\n\n",
		"/run/secrets/spaces":  "  padded  \n",
		"/run/secrets/crlf":    "line\n",
		"/run/secrets/empty":   "",
		"/run/secrets/nonl":    "abc",
		"/run/secrets/-dashed": "dash",
	}
	tests := []struct {
		desc    string
		env     []string
		keys    []string
		want    string
		ok      bool
		wantErr string
	}{
		{desc: "plain", env: []string{"PW=plain"}, keys: []string{"PW"}, want: "plain", ok: true},
		{desc: "file, trailing newlines dropped", env: []string{"PW_FILE=/run/secrets/pw"}, keys: []string{"PW"}, want: "s3cret", ok: true},
		{desc: "file keeps spaces", env: []string{"PW_FILE=/run/secrets/spaces"}, keys: []string{"PW"}, want: "  padded  ", ok: true},
		{desc: "file without newline", env: []string{"PW_FILE=/run/secrets/nonl"}, keys: []string{"PW"}, want: "abc", ok: true},
		{desc: "empty file", env: []string{"PW_FILE=/run/secrets/empty"}, keys: []string{"PW"}, want: "", ok: true},
		{desc: "path starting with a dash", env: []string{"PW_FILE=/run/secrets/-dashed"}, keys: []string{"PW"}, want: "dash", ok: true},
		{desc: "value wins over file", env: []string{"PW=plain", "PW_FILE=/run/secrets/pw"}, keys: []string{"PW"}, want: "plain", ok: true},
		{desc: "empty value: file", env: []string{"PW=", "PW_FILE=/run/secrets/pw"}, keys: []string{"PW"}, want: "s3cret", ok: true},
		{desc: "first key wins", env: []string{"B=b", "A=a"}, keys: []string{"A", "B"}, want: "a", ok: true},
		{desc: "first key's file wins over second key", env: []string{"B=b", "A_FILE=/run/secrets/pw"}, keys: []string{"A", "B"}, want: "s3cret", ok: true},
		{desc: "empty keys skipped", env: []string{"B=b"}, keys: []string{"", "B"}, want: "b", ok: true},
		{desc: "unset", env: []string{"OTHER=1"}, keys: []string{"PW"}, ok: false},
		{desc: "missing file", env: []string{"PW_FILE=/run/secrets/nope"}, keys: []string{"PW"}, wantErr: "PW_FILE"},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			x := &fakeExec{handler: catFiles(files, nil)}
			v, ok, err := secret(context.Background(), x, Target{Service: "db", ContainerID: "c1", Env: tt.env}, tt.keys...)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), "service db") {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if v != tt.want || ok != tt.ok {
				t.Errorf("secret = %q %v, want %q %v", v, ok, tt.want, tt.ok)
			}
			for _, c := range x.recorded() {
				if c.id != "c1" || c.cmd[0] != "cat" || c.cmd[1] != "--" || len(c.env) != 0 {
					t.Errorf("unexpected exec %+v", c)
				}
			}
		})
	}
}

func TestMySQLCreds(t *testing.T) {
	files := map[string]string{"/run/secrets/root": "rootpw\n", "/run/secrets/app": "apppw\n", "/run/secrets/user": "fileuser\n"}
	tests := []struct {
		desc           string
		t              Target
		user, password string
		note           bool
		wantErr        error
	}{
		{desc: "MYSQL_ROOT_PASSWORD", t: Target{Env: []string{"MYSQL_ROOT_PASSWORD=r"}}, user: "root", password: "r"},
		{desc: "MARIADB_ROOT_PASSWORD", t: Target{Env: []string{"MARIADB_ROOT_PASSWORD=m"}}, user: "root", password: "m"},
		{desc: "MARIADB_ wins over MYSQL_", t: Target{Env: []string{"MYSQL_ROOT_PASSWORD=r", "MARIADB_ROOT_PASSWORD=m"}}, user: "root", password: "m"},
		{desc: "MARIADB_..._FILE wins over MYSQL_", t: Target{Env: []string{"MYSQL_ROOT_PASSWORD=r", "MARIADB_ROOT_PASSWORD_FILE=/run/secrets/root"}}, user: "root", password: "rootpw"},
		{desc: "MYSQL_ROOT_PASSWORD_FILE", t: Target{Env: []string{"MYSQL_ROOT_PASSWORD_FILE=/run/secrets/root"}}, user: "root", password: "rootpw"},
		{desc: "root wins over the app user", t: Target{Env: []string{"MYSQL_USER=app", "MYSQL_PASSWORD=app-pw", "MYSQL_ROOT_PASSWORD=r"}}, user: "root", password: "r"},
		{desc: "MYSQL_ALLOW_EMPTY_PASSWORD", t: Target{Env: []string{"MYSQL_ALLOW_EMPTY_PASSWORD=yes", "MYSQL_USER=app", "MYSQL_PASSWORD=app-pw"}}, user: "root", password: ""},
		{desc: "MARIADB_ALLOW_EMPTY_ROOT_PASSWORD", t: Target{Env: []string{"MARIADB_ALLOW_EMPTY_ROOT_PASSWORD=1"}}, user: "root", password: ""},
		{desc: "bitnami ALLOW_EMPTY_PASSWORD", t: Target{Env: []string{"ALLOW_EMPTY_PASSWORD=yes"}}, user: "root", password: ""},
		{desc: "allow empty =no is not", t: Target{Env: []string{"MYSQL_ALLOW_EMPTY_PASSWORD=no", "MYSQL_USER=app", "MYSQL_PASSWORD=app-pw"}}, user: "app", password: "app-pw", note: true},
		{desc: "allow empty =0 is not", t: Target{Env: []string{"MARIADB_ALLOW_EMPTY_ROOT_PASSWORD=0"}}, wantErr: errNoCredentials},
		{desc: "fallback to MARIADB_USER", t: Target{Env: []string{"MARIADB_USER=app", "MARIADB_PASSWORD=app-pw"}}, user: "app", password: "app-pw", note: true},
		{desc: "fallback to MYSQL_USER, password file", t: Target{Env: []string{"MYSQL_USER=app", "MYSQL_PASSWORD_FILE=/run/secrets/app"}}, user: "app", password: "apppw", note: true},
		{desc: "MARIADB_USER wins over MYSQL_USER", t: Target{Env: []string{"MYSQL_USER=my", "MARIADB_USER=maria", "MARIADB_PASSWORD=app-pw"}}, user: "maria", password: "app-pw", note: true},
		{desc: "user-env and password-env", t: Target{Env: []string{"DB_USER=backup", "DB_PASS=b", "MYSQL_ROOT_PASSWORD=r"}, UserEnv: "DB_USER", PasswordEnv: "DB_PASS"}, user: "backup", password: "b"},
		{desc: "user-env from a file", t: Target{Env: []string{"DB_USER_FILE=/run/secrets/user", "DB_PASS_FILE=/run/secrets/app"}, UserEnv: "DB_USER", PasswordEnv: "DB_PASS"}, user: "fileuser", password: "apppw"},
		{desc: "password-env only: root", t: Target{Env: []string{"DB_PASS=b"}, PasswordEnv: "DB_PASS"}, user: "root", password: "b"},
		{desc: "nothing", t: Target{Env: []string{"PATH=/usr/bin"}}, wantErr: errNoCredentials},
		{desc: "empty root password is not set", t: Target{Env: []string{"MYSQL_ROOT_PASSWORD="}}, wantErr: errNoCredentials},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			x := &fakeExec{handler: catFiles(files, nil)}
			tt.t.Service = "db"
			user, pw, note, err := mysqlCreds(context.Background(), x, tt.t)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				if !strings.Contains(err.Error(), "service db") || !strings.Contains(err.Error(), "MYSQL_ROOT_PASSWORD") {
					t.Errorf("unhelpful error %q", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if user != tt.user || pw != tt.password {
				t.Errorf("creds = %q %q, want %q %q", user, pw, tt.user, tt.password)
			}
			if (note != "") != tt.note {
				t.Errorf("note = %q, want one: %v", note, tt.note)
			}
			if note != "" && (!strings.Contains(note, tt.user) || strings.Contains(note, tt.password)) {
				t.Errorf("note %q should name the user and never the password", note)
			}
		})
	}
}

func TestMySQLCredsFileError(t *testing.T) {
	x := &fakeExec{handler: func(cmd, env []string) reply {
		return reply{code: 1, stderr: "cat: /run/secrets/root: Permission denied"}
	}}
	_, _, _, err := mysqlCreds(context.Background(), x, Target{Service: "db", Env: []string{"MYSQL_ROOT_PASSWORD_FILE=/run/secrets/root"}})
	if err == nil || !strings.Contains(err.Error(), "Permission denied") || !strings.Contains(err.Error(), "MYSQL_ROOT_PASSWORD_FILE") {
		t.Errorf("err = %v", err)
	}
}

func TestPgCreds(t *testing.T) {
	files := map[string]string{"/run/secrets/pg": "pgpw\n", "/run/secrets/user": "admin\n"}
	tests := []struct {
		desc           string
		t              Target
		user, password string
	}{
		{desc: "defaults", t: Target{}, user: "postgres", password: ""},
		{desc: "official image", t: Target{Env: []string{"POSTGRES_USER=app", "POSTGRES_PASSWORD=p"}}, user: "app", password: "p"},
		{desc: "password only", t: Target{Env: []string{"POSTGRES_PASSWORD=p"}}, user: "postgres", password: "p"},
		{desc: "password file", t: Target{Env: []string{"POSTGRES_PASSWORD_FILE=/run/secrets/pg"}}, user: "postgres", password: "pgpw"},
		{desc: "user file", t: Target{Env: []string{"POSTGRES_USER_FILE=/run/secrets/user", "POSTGRES_PASSWORD=p"}}, user: "admin", password: "p"},
		{desc: "bitnami app user", t: Target{Env: []string{"POSTGRESQL_USERNAME=app", "POSTGRESQL_PASSWORD=p"}}, user: "app", password: "p"},
		{desc: "bitnami superuser", t: Target{Env: []string{"POSTGRESQL_USERNAME=app", "POSTGRESQL_PASSWORD=p", "POSTGRESQL_POSTGRES_PASSWORD=su"}}, user: "postgres", password: "su"},
		{desc: "user-env/password-env", t: Target{Env: []string{"POSTGRES_USER=app", "POSTGRES_PASSWORD=p", "SU=boss", "SUPW=x"}, UserEnv: "SU", PasswordEnv: "SUPW"}, user: "boss", password: "x"},
		{desc: "password-env with default user", t: Target{Env: []string{"POSTGRES_USER=app", "SUPW=x"}, PasswordEnv: "SUPW"}, user: "app", password: "x"},
		{desc: "password-env falls back to POSTGRES_PASSWORD", t: Target{Env: []string{"POSTGRES_PASSWORD=p"}, PasswordEnv: "MISSING"}, user: "postgres", password: "p"},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			x := &fakeExec{handler: catFiles(files, nil)}
			tt.t.Service = "db"
			user, pw, err := pgCreds(context.Background(), x, tt.t)
			if err != nil {
				t.Fatal(err)
			}
			if user != tt.user || pw != tt.password {
				t.Errorf("creds = %q %q, want %q %q", user, pw, tt.user, tt.password)
			}
		})
	}
}

// A refusal points at the password; an interrupt (Ctrl-C during the
// connection) does not, and still wraps the cancel.
func TestConnectErrorOfAnInterrupt(t *testing.T) {
	refused := connectError("PostgreSQL", "db", "postgres", "POSTGRES_PASSWORD", errors.New("password authentication failed"))
	if !strings.Contains(refused.Error(), "check that POSTGRES_PASSWORD") {
		t.Errorf("refused: %q, want the password hint", refused)
	}
	cancelled := connectError("PostgreSQL", "db", "postgres", "POSTGRES_PASSWORD", fmt.Errorf("exec: %w", context.Canceled))
	if strings.Contains(cancelled.Error(), "POSTGRES_PASSWORD") || !errors.Is(cancelled, context.Canceled) {
		t.Errorf("interrupted: %q, want no password hint and context.Canceled wrapped", cancelled)
	}
}
