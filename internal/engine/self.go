package engine

import (
	"bufio"
	"io"
	"os"
	"regexp"
	"strings"
)

// containerPath is how the engine's files of a container show in the
// mounts of its processes: /etc/hostname, /etc/hosts and /etc/resolv.conf
// are bind mounts from /var/lib/docker/containers/ID/.
var containerPath = regexp.MustCompile(`/containers/([0-9a-f]{64})/(?:hostname|hosts|resolv\.conf)`)

// SelfID is the ID (or a name) of the container this process runs in, or
// "" outside a container. It reads the process's mounts, which name it
// whatever the cgroup version; in a container whose mounts do not (another
// runtime), the hostname, which is the short ID unless it was set.
func SelfID() string {
	if f, err := os.Open("/proc/self/mountinfo"); err == nil {
		defer f.Close()
		if id := idFromMountinfo(f); id != "" {
			return id
		}
	}
	// Only docker's containers have /.dockerenv: a host's hostname may be
	// any container's name.
	if _, err := os.Stat("/.dockerenv"); err == nil {
		h, _ := os.Hostname()
		return h
	}
	return ""
}

func idFromMountinfo(r io.Reader) string {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.Contains(line, "/containers/") {
			continue
		}
		if m := containerPath.FindStringSubmatch(line); m != nil {
			return m[1]
		}
	}
	return ""
}
