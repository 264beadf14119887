package daemon

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// madvPageout is MADV_PAGEOUT (Linux 5.4), which the syscall package
// does not name.
const madvPageout = 21

// pageOutBinary asks the kernel to reclaim the pages of the daemon's own
// executable that are resident: the code the run and the start-up
// touched (the compose loader, the S3 client, the database clients'
// glue), about two thirds of an idle daemon's memory. They are read back
// from the page cache when they are needed again.
func pageOutBinary() error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return err
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		// start-end perms offset dev inode path
		fields := strings.Fields(s.Text())
		if len(fields) < 6 || fields[5] != exe || !strings.HasPrefix(fields[1], "r") || strings.Contains(fields[1], "w") {
			continue
		}
		from, to, ok := strings.Cut(fields[0], "-")
		if !ok {
			continue
		}
		start, err1 := strconv.ParseUint(from, 16, 64)
		end, err2 := strconv.ParseUint(to, 16, 64)
		if err1 != nil || err2 != nil || end <= start {
			continue
		}
		if _, _, e := syscall.Syscall(syscall.SYS_MADVISE, uintptr(start), uintptr(end-start), madvPageout); e != 0 {
			return fmt.Errorf("madvise(MADV_PAGEOUT) on %s: %w", exe, e)
		}
	}
	return s.Err()
}
