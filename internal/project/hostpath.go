package project

import (
	"path"
	"strings"
)

// systemTrees are host folders whose content belongs to the system or the
// engine: nothing under them is archived or restored as a bind mount.
var systemTrees = []string{"/proc", "/sys", "/dev", "/run", "/var/run", "/boot", "/etc", "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/var/lib/docker", "/var/lib/containerd"}

// systemFolders are host folders that hold users' and services' folders:
// one of them as a whole is never a bind mount to archive or restore,
// what is under it may be.
var systemFolders = []string{"/", "/home", "/root", "/var", "/var/lib", "/var/log", "/opt", "/srv", "/mnt", "/media", "/tmp", "/var/tmp"}

// SystemPath tells whether a bind mount's host path is the system's or
// the engine's (dataRoot, the engine's data root, "" when unknown), with
// the reason, so that it is neither archived nor written back.
func SystemPath(p, dataRoot string) (bool, string) {
	p = path.Clean(p)
	for _, f := range systemFolders {
		if p == f {
			return true, p + " is a system folder"
		}
	}
	trees := systemTrees
	if dataRoot != "" {
		trees = append(trees[:len(trees):len(trees)], path.Clean(dataRoot))
	}
	for _, t := range trees {
		if Within(t, p) {
			if t == path.Clean(dataRoot) {
				return true, p + " is in the engine's data root " + t
			}
			return true, p + " is in the system folder " + t
		}
	}
	return false, ""
}

// Within tells whether p is dir or under it, and p's path relative to it.
func Within(dir, p string) bool {
	_, ok := RelTo(dir, p)
	return ok
}

// RelTo is p relative to dir, when p is dir or under it.
func RelTo(dir, p string) (string, bool) {
	if dir == "" || !path.IsAbs(dir) || !path.IsAbs(p) {
		return "", false
	}
	dir, p = path.Clean(dir), path.Clean(p)
	if p == dir {
		return ".", true
	}
	if dir == "/" {
		return strings.TrimPrefix(p, "/"), true
	}
	if rel, ok := strings.CutPrefix(p, dir+"/"); ok {
		return rel, true
	}
	return "", false
}
