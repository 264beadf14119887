# The docker-backup image: `make image` builds it. No base image can be pulled
# where this project is built, so nothing is compiled here: the build context
# (bin/image/, made by `make image`) holds rootfs/: the static binary for the
# target platform and an empty tmp/ folder. CA roots and time-zone data are
# compiled into the binary, so scratch needs nothing else.
FROM scratch

ARG VERSION=dev
ARG REVISION=unknown
ARG CREATED=unknown

LABEL org.opencontainers.image.title="docker-backup" \
      org.opencontainers.image.description="Backs up docker compose projects: volumes, databases and the compose files, on a schedule" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.source="https://github.com/docker-backup/docker-backup"

# The daemon writes its status file under os.TempDir(), /tmp: scratch has
# none, and the container may run as any user, so tmp/ is 1777. It is copied
# as a child of rootfs/: COPY tmp/ /tmp/ would copy only its contents and
# create /tmp as 0755.
COPY rootfs/ /

# The binary checks itself: scratch has no shell or curl to run a probe with.
HEALTHCHECK --interval=1m --timeout=20s --start-period=1m CMD ["/docker-backup", "healthcheck"]

ENTRYPOINT ["/docker-backup"]
CMD ["daemon"]
