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

// SelfID is the ID of the container this process runs in, or "" outside
// a container. It reads the process's mounts, which name it whatever the
// cgroup version; the hostname is the fallback (the short ID, unless the
// container was given a hostname).
func SelfID() (id string, hostname string) {
	if f, err := os.Open("/proc/self/mountinfo"); err == nil {
		defer f.Close()
		if id := idFromMountinfo(f); id != "" {
			return id, ""
		}
	}
	h, _ := os.Hostname()
	return "", h
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
