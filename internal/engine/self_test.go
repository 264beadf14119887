package engine

import (
	"strings"
	"testing"
)

func TestIDFromMountinfo(t *testing.T) {
	const id = "4c3b0e8a59f1d6b2a7e0c9d8f1b2a3c4d5e6f708192a3b4c5d6e7f8091a2b3c4"
	in := `712 650 0:58 / / rw,relatime master:312 - overlay overlay rw,lowerdir=/var/lib/docker/overlay2/l/X
713 712 0:61 / /proc rw,nosuid,nodev,noexec,relatime - proc proc rw
720 712 8:1 /var/lib/docker/containers/` + id + `/resolv.conf /etc/resolv.conf rw,relatime - ext4 /dev/sda1 rw
721 712 8:1 /var/lib/docker/containers/` + id + `/hostname /etc/hostname rw,relatime - ext4 /dev/sda1 rw
722 712 8:1 /var/lib/docker/volumes/x/_data /data rw,relatime - ext4 /dev/sda1 rw
`
	if got := idFromMountinfo(strings.NewReader(in)); got != id {
		t.Errorf("id = %q, want %q", got, id)
	}
	host := "22 1 8:1 / / rw - ext4 /dev/sda1 rw\n23 22 0:5 / /dev rw - devtmpfs udev rw\n"
	if got := idFromMountinfo(strings.NewReader(host)); got != "" {
		t.Errorf("outside a container: id = %q", got)
	}
}
