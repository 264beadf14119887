#!/usr/bin/env bash
# Builds versitygw, an S3 server written in Go, from the Go module proxy when
# it is not installed yet: the storage tests run against it. `go install`
# does not work for it (its go.mod has replace directives), hence the
# throwaway module; `go mod tidy` alone leaves the command's own imports out
# of go.sum, hence the second `go get`. About 80 s on two cores.
set -euo pipefail

VERSITYGW_VERSION="${VERSITYGW_VERSION:-v1.8.0}"
dest="${VERSITYGW_BIN:-${XDG_CACHE_HOME:-$HOME/.cache}/docker-backup/versitygw-$VERSITYGW_VERSION}"

if [ -x "$dest" ]; then
  echo "$dest"
  exit 0
fi
mkdir -p "$(dirname "$dest")"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
printf 'package main\n\nimport _ "github.com/versity/versitygw/backend"\n\nfunc main() {}\n' > main.go
echo "building versitygw $VERSITYGW_VERSION from the Go module proxy (about 80 s)" >&2
go mod init versitygw-build >/dev/null 2>&1
go get "github.com/versity/versitygw@${VERSITYGW_VERSION}" >&2
go mod tidy >&2
go get "github.com/versity/versitygw/cmd/versitygw@${VERSITYGW_VERSION}" >&2
go build -trimpath -ldflags "-s -w" -o "$dest.tmp" github.com/versity/versitygw/cmd/versitygw
mv "$dest.tmp" "$dest"
echo "$dest"
