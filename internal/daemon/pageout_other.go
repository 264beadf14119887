//go:build !linux

package daemon

// pageOutBinary does nothing where the kernel has no MADV_PAGEOUT.
func pageOutBinary() error { return nil }
