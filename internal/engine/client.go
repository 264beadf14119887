// Package engine holds the connection to the Docker engine and the narrow
// operations docker-backup performs on it.
package engine

import (
	"fmt"

	"github.com/docker/docker/client"
)

// NewFromEnv connects to the engine named by DOCKER_HOST, DOCKER_TLS_VERIFY,
// DOCKER_CERT_PATH and DOCKER_API_VERSION, negotiating the API version so that
// engines as old as Docker 20.10 (API 1.41) answer.
func NewFromEnv(extra ...client.Opt) (*client.Client, error) {
	opts := append([]client.Opt{client.FromEnv, client.WithAPIVersionNegotiation()}, extra...)
	c, err := client.NewClientWithOpts(opts...)
	if err != nil {
		return nil, fmt.Errorf("cannot configure the Docker client: %w", err)
	}
	return c, nil
}
