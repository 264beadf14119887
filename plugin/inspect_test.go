package plugin

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/docker-backup/docker-backup/internal/archive"
)

func TestPrintManifest(t *testing.T) {
	created := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	m := &archive.Manifest{
		FormatVersion: 1, ToolVersion: "v1.2.3", CreatedAt: created, Compression: archive.Zstd,
		Project:  archive.Project{Name: "shop"},
		Services: []archive.Service{{Name: "db", Image: "postgres:15", Running: true}, {Name: "app", Image: "shop:1"}},
		Databases: []archive.Database{{Service: "db", Flavor: "PostgreSQL", Version: "15.18", ExcludeTableData: []string{"*.public.sessions"},
			Dumps: []archive.Dump{{Path: "databases/db/globals.sql", Kind: "globals", Format: "sql"}, {Path: "databases/db/shop.pgdump", Database: "shop", Kind: "database", Format: "pg_dump-custom"}}}},
		Volumes: []archive.Volume{{Name: "uploads", EngineName: "shop_uploads", Services: []string{"app"}, Entries: 12, Bytes: 2500000,
			Special: &archive.Special{Setuid: 2, Devices: 1, Examples: []string{"bin/su", "dev/null", "bin/passwd"}}},
			{Name: "bind_srv_shop_media", EngineName: "/srv/shop/media", Services: []string{"app"}, Target: "/media", Entries: 3, Bytes: 1000},
			{Name: "bind_srv_shop_site.conf", EngineName: "/srv/shop/site.conf", Services: []string{"web"}, Target: "/etc/site.conf", Kind: archive.KindFile, Entries: 1, Bytes: 10}},
		Files: []archive.File{{Path: "databases/db/shop.pgdump", Size: 1500}},
	}
	var b bytes.Buffer
	if err := printManifest(&b, m, 4200, true, "none", created.Add(90*time.Minute)); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"Project:         shop", "2026-11-23 10:00:00 UTC (1h30m0s ago)", "v1.2.3", "Size:            4.2 kB",
		"db        postgres:15   yes", "(roles/users)", "shop            db        PostgreSQL 15.18   pg_dump-custom   1.5 kB",
		"excluded rows *.public.sessions", "Encryption:      age", "Signature:       none", "uploads                   volume        shop_uploads          app        12        2.5 MB",
		"bind_srv_shop_media       bind          /srv/shop/media       app        3         1.0 kB",
		"bind_srv_shop_site.conf   bind (file)   /srv/shop/site.conf   web        1         10 B",
		"Volume uploads holds 2 setuid/setgid files, 1 device or fifo (bin/su, dev/null, bin/passwd)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}
