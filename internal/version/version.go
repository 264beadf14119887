// Package version reports what docker-backup is and which engine it talks to.
package version

import (
	"context"
	"fmt"
	"runtime"

	"github.com/docker/docker/api/types"
)

// Version is set at build time with -ldflags "-X .../internal/version.Version=...".
var Version = "dev"

// Client describes this binary.
type Client struct {
	Version   string `json:"version"`
	GoVersion string `json:"goVersion"`
	OS        string `json:"os"`
	Arch      string `json:"arch"`
}

// Server describes the engine and the API version both sides agreed on.
type Server struct {
	Version       string `json:"version"`
	APIVersion    string `json:"apiVersion"`
	MinAPIVersion string `json:"minApiVersion"`
	OS            string `json:"os"`
	Arch          string `json:"arch"`
}

// Info is what `docker backup version` prints.
type Info struct {
	Client Client `json:"client"`
	// NegotiatedAPIVersion is the API version requests are sent with.
	NegotiatedAPIVersion string `json:"negotiatedApiVersion"`
	Server               Server `json:"server"`
}

// engineClient is the part of the Docker API client this package needs.
type engineClient interface {
	ServerVersion(ctx context.Context) (types.Version, error)
	ClientVersion() string
}

// ClientInfo describes this binary without contacting any engine.
func ClientInfo() Client {
	return Client{Version: Version, GoVersion: runtime.Version(), OS: runtime.GOOS, Arch: runtime.GOARCH}
}

// Collect asks the engine for its version. The client's API version is read
// afterwards because negotiation happens on the first request.
func Collect(ctx context.Context, c engineClient) (Info, error) {
	info := Info{Client: ClientInfo()}
	sv, err := c.ServerVersion(ctx)
	if err != nil {
		return info, fmt.Errorf("cannot reach the Docker engine: %w", err)
	}
	info.NegotiatedAPIVersion = c.ClientVersion()
	info.Server = Server{
		Version:       sv.Version,
		APIVersion:    sv.APIVersion,
		MinAPIVersion: sv.MinAPIVersion,
		OS:            sv.Os,
		Arch:          sv.Arch,
	}
	return info, nil
}
