#!/usr/bin/env bash
# Builds the images the end-to-end tests use, from Debian packages only: no
# container registry is reachable where this project is tested, so nothing can
# be pulled. A base root filesystem is made with debootstrap and imported, then
# thin Dockerfiles add entrypoints that behave like the official postgres and
# mariadb images. Every image is labelled with the hash of its recipe, and a
# build is skipped when an image with that hash exists.
#
# Images live in the project's own namespace (docker-backup-test/...): names
# such as postgres:15 on a user's machine are never touched.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
label=org.docker-backup.test.content-hash
suite=bookworm
packages=postgresql,mariadb-server,mariadb-client,procps

hash_of() { # files... -> short content hash
  cat "$@" | sha256sum | cut -c1-16
}

current_hash() { # image -> its content-hash label, empty when absent
  docker image inspect -f "{{ index .Config.Labels \"$label\" }}" "$1" 2>/dev/null || true
}

log() { echo "images: $*" >&2; }

base=docker-backup-test/debian:$suite
base_hash=$(printf '%s\n%s\n' "$suite" "$packages" | cat - "$here/build.sh" "$here/base/cleanup.sh" | sha256sum | cut -c1-16)
if [ "$(current_hash "$base")" != "$base_hash" ]; then
  command -v debootstrap >/dev/null || { echo "images: debootstrap is missing: apt-get install debootstrap" >&2; exit 1; }
  root=$(mktemp -d /var/tmp/docker-backup-rootfs.XXXXXX)
  trap 'rm -rf "$root"' EXIT
  log "debootstrap $suite with $packages (about 95 s)"
  debootstrap --variant=minbase --include="$packages" "$suite" "$root" >&2
  chroot "$root" /bin/sh < "$here/base/cleanup.sh"
  tar -C "$root" -c . | docker import \
    --change "LABEL $label=$base_hash" \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8' \
    --change 'CMD ["/bin/bash"]' \
    - "$base" >/dev/null
  rm -rf "$root"
  trap - EXIT
else
  log "$base is up to date"
fi

for name in postgres mariadb; do
  case $name in
    postgres) tag=docker-backup-test/postgres:15 ;;
    mariadb) tag=docker-backup-test/mariadb:10.11 ;;
  esac
  h=$(printf '%s\n' "$base_hash" | cat - "$here/$name"/* | sha256sum | cut -c1-16)
  if [ "$(current_hash "$tag")" = "$h" ]; then
    log "$tag is up to date"
    continue
  fi
  log "building $tag"
  # The classic builder resolves a local FROM without a registry.
  DOCKER_BUILDKIT=0 docker build -q --label "$label=$h" --build-arg "BASE=$base" -t "$tag" "$here/$name" >/dev/null
done
