//go:build e2e

package e2e

// Compose fixtures shared by the tests. Stacks publish no ports and use
// network_mode: none; health checks go over the container's own loopback, so
// that the temporary server of a first start (socket only) never counts as
// ready.

const postgresCompose = `
services:
  db:
    image: ` + postgresImage + `
    network_mode: none
    environment:
      POSTGRES_USER: app
      POSTGRES_DB: appdb
      POSTGRES_PASSWORD_FILE: /run/secrets/db_password
    secrets: [db_password]
    volumes:
      - dbdata:/var/lib/postgresql/data
    healthcheck:
      test: ["CMD", "pg_isready", "-h", "127.0.0.1", "-U", "app", "-d", "appdb"]
      interval: 1s
      timeout: 3s
      retries: 120
  app:
    image: ` + debianImage + `
    network_mode: none
    command: ["sleep", "infinity"]
    init: true
    depends_on:
      db:
        condition: service_healthy
    volumes:
      - appdata:/srv/data
volumes:
  dbdata:
  appdata:
secrets:
  db_password:
    file: ./db_password.txt
`

const mariadbCompose = `
services:
  db:
    image: ` + mariadbImage + `
    network_mode: none
    environment:
      MYSQL_ROOT_PASSWORD_FILE: /run/secrets/db_root_password
      MARIADB_DATABASE: shop
      MARIADB_USER: shop
      MARIADB_PASSWORD_FILE: /run/secrets/db_password
    secrets: [db_root_password, db_password]
    volumes:
      - dbdata:/var/lib/mysql
    healthcheck:
      test: ["CMD", "healthcheck.sh"]
      interval: 1s
      timeout: 3s
      retries: 120
  app:
    image: ` + debianImage + `
    network_mode: none
    command: ["sleep", "infinity"]
    init: true
    depends_on:
      db:
        condition: service_healthy
    volumes:
      - appdata:/srv/data
volumes:
  dbdata:
  appdata:
secrets:
  db_root_password:
    file: ./db_root_password.txt
  db_password:
    file: ./db_password.txt
`

// Passwords with characters that break naive quoting.
const (
	pgPassword        = "pg p@ss'word\"$1"
	mariaRootPassword = "root p@ss'word\"$1"
	mariaPassword     = "shop-p@ss word"
)

func postgresProject(_ testingT) map[string]string {
	return map[string]string{"compose.yaml": postgresCompose, "db_password.txt": pgPassword + "\n"}
}

func mariadbProject(_ testingT) map[string]string {
	return map[string]string{
		"compose.yaml":         mariadbCompose,
		"db_root_password.txt": mariaRootPassword + "\n",
		"db_password.txt":      mariaPassword + "\n",
	}
}

type testingT interface{ Helper() }
