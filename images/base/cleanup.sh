# Runs inside the debootstrapped root before it is imported.
set -e
# Debian's packages leave an initialised cluster and data directory behind: the
# entrypoints initialise their own, on first start, like the official images.
rm -rf /var/lib/postgresql/* /etc/postgresql/* /var/lib/mysql/*
apt-get clean
rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /usr/share/doc/* /usr/share/man/* /usr/share/locale/*
