package dbdump

import (
	"context"
	"errors"
	"strings"
	"testing"
)

func TestDetectByImage(t *testing.T) {
	tests := []struct {
		image, want string
	}{
		{"postgres:16", Postgres},
		{"postgres", Postgres},
		{"postgres:16-alpine", Postgres},
		{"docker.io/library/postgres:16.3", Postgres},
		{"postgis/postgis:15-3.4", Postgres},
		{"timescale/timescaledb:latest-pg16", Postgres},
		{"timescale/timescaledb-ha:pg16", Postgres},
		{"bitnami/postgresql:15", Postgres},
		{"pgvector/pgvector:pg16", Postgres},
		{"supabase/postgres:15.1.0.147", Postgres},
		{"registry.example.com/org/postgres@sha256:" + strings.Repeat("ab", 32), Postgres},
		{"registry.example.com:5000/org/postgres:16@sha256:" + strings.Repeat("cd", 32), Postgres},
		{"POSTGRES:16", Postgres},
		{"mysql:8", MySQL},
		{"mysql:8.4-oracle", MySQL},
		{"mariadb:11", MySQL},
		{"mariadb:lts", MySQL},
		{"percona/percona-server:8.0", MySQL},
		{"percona:8.0", MySQL},
		{"bitnami/mysql", MySQL},
		{"bitnami/mariadb", MySQL},
		{"bitnami/mariadb:11.4", MySQL},
		{"redis:7", ""},
		{"nginx", ""},
		{"myapp", ""},
		{"myapp:postgres", ""},                   // a tag says nothing
		{"localhost:5000/mysql-tools/app:1", ""}, // nor does an org
		{"ghcr.io/acme/shop:mysql", ""},
		{"", ""},
		// Companions of a database hold none: no dump to take.
		{"prometheuscommunity/postgres-exporter:v0.15.0", ""},
		{"quay.io/prometheuscommunity/postgres-exporter", ""},
		{"prom/mysqld-exporter", ""},
		{"postgrest/postgrest:v12", ""},
		{"prodrigestivill/postgres-backup-local:16", ""},
		{"mysql/mysql-router:8.0", ""},
	}
	for _, tt := range tests {
		if got := DetectByImage(tt.image); got != tt.want {
			t.Errorf("DetectByImage(%q) = %q, want %q", tt.image, got, tt.want)
		}
	}
}

func TestNotARecord(t *testing.T) {
	tests := []struct {
		image string
		want  bool
	}{
		{"redis:7", true},
		{"redis", true},
		{"bitnami/redis:7.2", true},
		{"redis/redis-stack-server:latest", true},
		{"valkey/valkey:8", true},
		{"memcached:1.6-alpine", true},
		{"rabbitmq:3-management", true},
		{"eqalpha/keydb", true},
		{"docker.dragonflydb.io/dragonflydb/dragonfly", true},
		{"registry.example.com/cache/redis@sha256:" + strings.Repeat("0", 64), true},
		{"postgres:16", false},
		{"mysql:8", false},
		{"nginx", false},
		{"myapp:redis", false},
		{"redis-org/myapp", false},
	}
	for _, tt := range tests {
		if got := NotARecord(tt.image); got != tt.want {
			t.Errorf("NotARecord(%q) = %v, want %v", tt.image, got, tt.want)
		}
	}
}

func TestDetectByProbe(t *testing.T) {
	tests := []struct {
		desc string
		r    reply
		want string
	}{
		{desc: "postgres", r: reply{stdout: "bash\npostgres\nsh\nsort\n"}, want: Postgres},
		{desc: "postmaster", r: reply{stdout: "postmaster\n"}, want: Postgres},
		{desc: "mariadbd", r: reply{stdout: "cat\nmariadbd\n"}, want: MySQL},
		{desc: "mysqld", r: reply{stdout: "mysqld\r\nsh\r\n"}, want: MySQL},
		{desc: "client tools only", r: reply{stdout: "node\npsql\nmysql\nsh\n"}, want: ""},
		{desc: "substring is not a process", r: reply{stdout: "postgres_exporter\nmysqld_exporter\n"}, want: ""},
		{desc: "no shell", r: reply{code: 127, stderr: "exec: sh: not found"}, want: ""},
		{desc: "exec error", r: reply{err: errors.New("container not running")}, want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			x := &fakeExec{handler: func(cmd, env []string) reply { return tt.r }}
			if got := DetectByProbe(context.Background(), x, "c1"); got != tt.want {
				t.Errorf("DetectByProbe = %q, want %q", got, tt.want)
			}
			calls := x.recorded()
			if len(calls) != 1 || calls[0].id != "c1" || calls[0].cmd[0] != "sh" {
				t.Errorf("calls %+v", calls)
			}
		})
	}
}

func TestFor(t *testing.T) {
	if d := For(Postgres); d == nil || d.Name() != Postgres {
		t.Errorf("For(postgres) = %v", d)
	}
	if d := For(MySQL); d == nil || d.Name() != MySQL {
		t.Errorf("For(mysql) = %v", d)
	}
	for _, name := range []string{"", "none", "oracle"} {
		if d := For(name); d != nil {
			t.Errorf("For(%q) = %v, want nil", name, d)
		}
	}
}

func TestDataDirs(t *testing.T) {
	pg := For(Postgres).DataDirs([]string{"PGDATA=/pgdata/custom"})
	if !hasArg(pg, "/var/lib/postgresql/data") || !hasArg(pg, "/pgdata/custom") {
		t.Errorf("postgres data dirs %v", pg)
	}
	if pg := For(Postgres).DataDirs(nil); hasArg(pg, "") {
		t.Errorf("postgres data dirs without PGDATA %q", pg)
	}
	if my := For(MySQL).DataDirs(nil); !hasArg(my, "/var/lib/mysql") || !hasArg(my, "/bitnami/mariadb") {
		t.Errorf("mysql data dirs %v", my)
	}
}
