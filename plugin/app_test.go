package plugin

import (
	"strings"
	"testing"
)

func TestFlagsFirst(t *testing.T) {
	app := NewApp(&Env{HelpName: "docker backup"})
	for _, tc := range []struct{ in, want string }{
		{"restore a.tar.zst -y", "restore -y a.tar.zst"},
		{"restore a.tar.zst -p staging --service db", "restore -p staging --service db a.tar.zst"},
		{"restore --file=x.yaml a.tar.zst --dry-run", "restore --file=x.yaml --dry-run a.tar.zst"},
		{"restore -y -- -odd-name.tar.zst", "restore -y -- -odd-name.tar.zst"},
		{"create db -o - --compression gzip", "create -o - --compression gzip db"},
		{"version --json", "version --json"},
		{"nosuchverb x -y", "nosuchverb x -y"},
	} {
		got := strings.Join(flagsFirst(app, strings.Fields(tc.in)), " ")
		if got != tc.want {
			t.Errorf("%q: got %q, want %q", tc.in, got, tc.want)
		}
	}
}
