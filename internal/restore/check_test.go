package restore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/docker-backup/docker-backup/internal/archive"
	"github.com/docker-backup/docker-backup/internal/backup"
	"github.com/docker-backup/docker-backup/internal/dbdump"
)

// dumpArchive is an archive of one database service holding dumps, each
// a path, kind and content, with a manifest that matches them.
func dumpArchive(t *testing.T, engine string, dumps ...[3]string) []byte {
	t.Helper()
	var out bytes.Buffer
	w, err := archive.NewWriter(&out, archive.Zstd)
	if err != nil {
		t.Fatal(err)
	}
	d := archive.Database{Service: "db", Engine: engine, Flavor: "MariaDB", Version: "10.11.18-MariaDB"}
	if engine == dbdump.Postgres {
		d.Flavor, d.Version = "PostgreSQL", "15.18"
	}
	for _, dump := range dumps {
		if _, err := w.WriteStream(context.Background(), dump[0], strings.NewReader(dump[2])); err != nil {
			t.Fatal(err)
		}
		format := "sql"
		if strings.HasSuffix(dump[0], ".pgdump") {
			format = "pg_dump-custom"
		}
		d.Dumps = append(d.Dumps, archive.Dump{Path: dump[0], Kind: dump[1], Database: "shop", Format: format})
	}
	if err := w.Close(&archive.Manifest{Project: archive.Project{Name: "shop"}, Databases: []archive.Database{d}}); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

const pgGlobalsOK = "--\n-- PostgreSQL database cluster dump\n--\n\n\\restrict abc123\n\nSET standard_conforming_strings = on;\nCREATE ROLE app;\nCOMMENT ON ROLE app IS 'C:\\temp';\n\n\\unrestrict abc123\n"

func TestVerifyRefusesClientCommandsInDumps(t *testing.T) {
	for _, tc := range []struct {
		name   string
		engine string
		dumps  [][3]string
		want   string
	}{
		{"psql shell in the roles", dbdump.Postgres, [][3]string{
			{"databases/db/globals.sql", "globals", pgGlobalsOK + "\\! touch /tmp/pwned\n"},
			{"databases/db/shop.pgdump", "database", "PGDMP\\! binary data is pg_restore's"},
		}, `databases/db/globals.sql, line 12: psql meta-command \!:`},
		{"mysql system in a database", dbdump.MySQL, [][3]string{
			{"databases/db/users.sql", "globals", "CREATE USER IF NOT EXISTS 'a'@'%';\n"},
			{"databases/db/shop.sql", "database", "CREATE DATABASE shop;\nsystem touch /tmp/pwned\n"},
		}, `databases/db/shop.sql, line 2: mysql client command system:`},
		{"mysql shell in the users", dbdump.MySQL, [][3]string{
			{"databases/db/users.sql", "globals", "CREATE USER 'a'@'%';\n\\! touch /tmp/pwned\n"},
		}, `databases/db/users.sql, line 2: mysql client command \!:`},
		{"a custom-format dump given to mysql", dbdump.MySQL, [][3]string{
			{"databases/db/shop.sql", "database", "PGDMP\x01\x0e"},
		}, "is a pg_dump custom-format file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := dumpArchive(t, tc.engine, tc.dumps...)
			// Every size and checksum matches: only the content check
			// can refuse it.
			if _, err := archive.Verify(context.Background(), bytes.NewReader(data)); err != nil {
				t.Fatalf("archive.Verify: %v", err)
			}
			_, err := Verify(context.Background(), bytes.NewReader(data), VerifyOptions{})
			if !errors.Is(err, archive.ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want %q", err, tc.want)
			}
		})
	}
	// What create writes passes.
	for _, data := range [][]byte{
		dumpArchive(t, dbdump.Postgres, [3]string{"databases/db/globals.sql", "globals", pgGlobalsOK}, [3]string{"databases/db/shop.pgdump", "database", "PGDMP\\!"}),
		dumpArchive(t, dbdump.MySQL, [3]string{"databases/db/shop.sql", "database", "/*M!999999\\- enable the sandbox mode */\nINSERT INTO t VALUES ('a\\'\\\\');\n"}),
	} {
		if _, err := Verify(context.Background(), bytes.NewReader(data), VerifyOptions{}); err != nil {
			t.Errorf("a sound archive: %v", err)
		}
	}
}

// A dump that changed after the archive was verified still cannot make
// the client run a command: the load reads it through the check, and
// the client never sees the line.
func TestApplyStopsAClientCommandBeforeTheClient(t *testing.T) {
	data := dumpArchive(t, dbdump.Postgres, [3]string{"databases/db/globals.sql", "globals", "CREATE ROLE app;\n\\! touch /tmp/pwned\nCREATE ROLE b;\n"})
	m, err := archive.Verify(context.Background(), bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	srv := &recordingServer{}
	w := &work{dbs: []*dbTarget{{Database: m.Databases[0], Dumps: m.Databases[0].Dumps, server: srv}}}
	err = apply(context.Background(), bytes.NewReader(data), m, w, nil, backup.Lines{})
	if !errors.Is(err, dbdump.ErrClientCommand) {
		t.Fatalf("got %v", err)
	}
	if strings.Contains(srv.read, "pwned") || !strings.HasPrefix(srv.read, "CREATE ROLE app;\n") {
		t.Errorf("the client read %q", srv.read)
	}
}

// recordingServer keeps what its loads read.
type recordingServer struct{ read string }

func (s *recordingServer) LoadGlobals(_ context.Context, r io.Reader) error {
	b, err := io.ReadAll(r)
	s.read += string(b)
	return err
}

func (s *recordingServer) LoadDatabase(_ context.Context, _ string, r io.Reader) error {
	b, err := io.ReadAll(r)
	s.read += string(b)
	return err
}

// Between the verification and the pass that applies the archive, only
// the file's size and mtime were compared: an archive changed in place in
// between was applied. Every dump's and volume's checksum is now checked
// as it is applied, before its loader sees the end of it.
func TestApplyChecksWhatItApplies(t *testing.T) {
	data, m := testArchive(t)
	for _, tc := range []struct {
		name string
		edit func(m *archive.Manifest)
		want string
	}{
		{"a dump", func(m *archive.Manifest) {
			for i, f := range m.Files {
				if f.Path == "databases/db/appdb.pgdump" {
					m.Files[i].SHA256 = strings.Repeat("0", 64)
				}
			}
		}, "databases/db/appdb.pgdump changed since the archive was verified"},
		{"a volume", func(m *archive.Manifest) { m.Volumes[0].TreeSHA256 = strings.Repeat("0", 64) }, "volume uploads changed since the archive was verified"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The manifest verified stands for the archive as it was; the
			// bytes read now differ from it.
			m2 := *m
			m2.Files = append([]archive.File(nil), m.Files...)
			m2.Volumes = append([]archive.Volume(nil), m.Volumes...)
			tc.edit(&m2)
			vols, srv := &fakeVolumes{}, &fakeServer{}
			w := testWork(&m2, srv)
			err := apply(context.Background(), bytes.NewReader(data), &m2, w, vols, backup.Lines{})
			if !errors.Is(err, archive.ErrChecksum) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
			// What the loaders read ended in an error, not as a whole.
			if tc.name == "a volume" && vols.entries["staging_uploads"] != nil {
				t.Errorf("the extraction saw a whole stream: %v", vols.entries)
			}
			for _, l := range srv.loads {
				if strings.HasPrefix(l, fmt.Sprintf("db:appdb:%d:", 2*archive.ChunkSize+99)) && tc.name == "a dump" {
					t.Errorf("appdb loaded whole: %v", srv.loads)
				}
			}
		})
	}
}
