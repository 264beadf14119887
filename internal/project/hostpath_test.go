package project

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

func TestSystemPath(t *testing.T) {
	for p, want := range map[string]bool{
		"/": true, "/etc": true, "/etc/localtime": true, "/var/run/docker.sock": true, "/run/user/1000": true,
		"/var/lib/docker/volumes/x/_data": true, "/data/docker": true, "/data/docker/x": true, "/home": true, "/tmp": true, "/var/lib": true,
		"/home/u/minecraft_data": false, "/srv/shop/data": false, "/tmp/x/files": false, "/var/lib/shop": false, "/data/dockerx": false, "/etcx": false,
	} {
		if got, why := SystemPath(p, "/data/docker"); got != want {
			t.Errorf("SystemPath(%s) = %v (%s), want %v", p, got, why, want)
		}
	}
}

func TestRelTo(t *testing.T) {
	for _, c := range []struct{ dir, p, rel string }{
		{"/srv/shop", "/srv/shop/data/db", "data/db"},
		{"/srv/shop", "/srv/shop", "."},
		{"/srv/shop/", "/srv/shop/x/../y", "y"},
		{"/srv/shop", "/srv/shopping/x", ""},
		{"", "/srv/shop", ""},
		{"/", "/srv", "srv"},
	} {
		rel, ok := RelTo(c.dir, c.p)
		if rel != c.rel || ok != (c.rel != "") {
			t.Errorf("RelTo(%s, %s) = %q %v, want %q", c.dir, c.p, rel, ok, c.rel)
		}
	}
}

// A bind mount under the user's home (~/minecraft_data:/data) is found
// where compose puts it.
func TestLoadBindMountInHome(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	dir := projectDir(t, "mc", map[string]string{"compose.yaml": "services:\n  mc:\n    image: minecraft\n    volumes:\n      - ~/minecraft_data:/data\n"})
	p, err := Load(context.Background(), &fakeLister{}, Options{WorkingDir: dir, Environment: os.Environ()})
	if err != nil {
		t.Fatal(err)
	}
	got := mustService(t, p, "mc").Volumes
	if len(got) != 1 || !got[0].Bind || got[0].Name != filepath.Join(home, "minecraft_data") {
		t.Errorf("volumes %+v, want a bind mount of %s", got, filepath.Join(home, "minecraft_data"))
	}
}
