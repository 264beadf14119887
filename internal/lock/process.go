package lock

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Process identifies a lock's holder well enough to tell, from the same
// host, that it is gone: its pid, and the boot, pid namespace and start
// time that make the pid unambiguous. Elsewhere only the lease can tell.
type Process struct {
	Host  string
	PID   int
	Boot  string // /proc/sys/kernel/random/boot_id
	NS    string // the pid namespace (/proc/self/ns/pid)
	Start string // start time in clock ticks since boot (/proc/PID/stat)
}

func (p Process) key() string {
	if p.Boot == "" || p.NS == "" || p.Start == "" {
		return ""
	}
	return p.Boot + "/" + p.NS + "/" + p.Start
}

// sameNamespace: p's pid means the same process here as for q.
func (p Process) sameNamespace(q *Process) bool {
	return q != nil && p.key() != "" && q.key() != "" && p.Host == q.Host && p.Boot == q.Boot && p.NS == q.NS
}

// parseProcess reads a holder from a lock's labels.
func parseProcess(labels map[string]string) (Process, bool) {
	pid, err := strconv.Atoi(labels[pidLabel])
	if err != nil || pid <= 0 {
		return Process{}, false
	}
	parts := strings.Split(labels[procLabel], "/")
	if len(parts) != 3 {
		return Process{}, false
	}
	return Process{Host: labels[hostLabel], PID: pid, Boot: parts[0], NS: parts[1], Start: parts[2]}, true
}

// self is this process.
var self = func() *Process {
	host, _ := os.Hostname()
	p := &Process{Host: host, PID: os.Getpid()}
	if b, err := os.ReadFile("/proc/sys/kernel/random/boot_id"); err == nil {
		p.Boot = strings.TrimSpace(string(b))
	}
	if ns, err := os.Readlink("/proc/self/ns/pid"); err == nil {
		p.NS = strings.Trim(strings.TrimPrefix(ns, "pid:"), "[]")
	}
	p.Start = startTime(p.PID)
	return p
}()

// alive tells whether process p of this host and namespace still runs:
// its pid exists and started when p did (a pid can be reused).
func alive(p Process) bool {
	start := startTime(p.PID)
	return start != "" && start == p.Start
}

// startTime is field 22 of /proc/PID/stat, after the command's name,
// which may hold spaces and parentheses.
func startTime(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ""
	}
	s := string(b)
	end := strings.LastIndexByte(s, ')')
	if end < 0 {
		return ""
	}
	f := strings.Fields(s[end+1:])
	if len(f) < 20 {
		return ""
	}
	return f[19]
}

// Self is this process, for callers that record who owns something.
func Self() Process { return *self }

// Gone tells that p, recorded by a process of this host and pid
// namespace, no longer runs; false when that cannot be told from here.
func (p Process) Gone() bool { return p.sameNamespace(self) && !alive(p) }
