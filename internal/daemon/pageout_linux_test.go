package daemon

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"testing"
)

// exeRSSKB is the resident size of the mappings of the test binary
// itself (not of the C library a -race build loads).
func exeRSSKB(t *testing.T) int {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	mine, total := false, 0
	for s.Scan() {
		fields := strings.Fields(s.Text())
		switch {
		case len(fields) >= 5 && strings.Contains(fields[0], "-") && len(fields[1]) == 4:
			mine = len(fields) >= 6 && fields[5] == exe
		case mine && len(fields) == 3 && fields[0] == "Rss:":
			n, err := strconv.Atoi(fields[1])
			if err != nil {
				t.Fatal(err)
			}
			total += n
		}
	}
	return total
}

// The test binary's own resident pages go: what the daemon's idle memory
// loses after a run.
func TestPageOutBinary(t *testing.T) {
	before := exeRSSKB(t)
	if err := pageOutBinary(); err != nil {
		t.Fatal(err)
	}
	after := exeRSSKB(t)
	// Some come back at once (the code running right now): about 1 MB,
	// of the 11 to 16 MB a test binary has resident when it starts.
	if after > 4096 {
		t.Errorf("the binary's resident pages: %d kB before, %d kB after: not reclaimed", before, after)
	}
	t.Logf("the binary's resident pages: %d kB -> %d kB", before, after)
}
