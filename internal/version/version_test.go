package version

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/docker/docker/api/types"
)

type fakeClient struct {
	v          types.Version
	err        error
	negotiated string
	called     bool
}

func (f *fakeClient) ServerVersion(context.Context) (types.Version, error) {
	f.called = true
	return f.v, f.err
}

// ClientVersion reports the negotiated version only after a request, as the
// real client does.
func (f *fakeClient) ClientVersion() string {
	if !f.called {
		return "1.51"
	}
	return f.negotiated
}

func TestCollectReadsNegotiatedVersionAfterTheRequest(t *testing.T) {
	f := &fakeClient{v: types.Version{Version: "20.10.24", APIVersion: "1.41", MinAPIVersion: "1.12", Os: "linux", Arch: "amd64"}, negotiated: "1.41"}
	info, err := Collect(context.Background(), f)
	if err != nil {
		t.Fatal(err)
	}
	if info.NegotiatedAPIVersion != "1.41" || info.Server.Version != "20.10.24" || info.Server.APIVersion != "1.41" {
		t.Errorf("info = %+v", info)
	}
	if info.Client.Version != Version {
		t.Errorf("client version %q, want %q", info.Client.Version, Version)
	}
}

func TestCollectWrapsEngineErrors(t *testing.T) {
	_, err := Collect(context.Background(), &fakeClient{err: errors.New("dial unix /x.sock: no such file")})
	if err == nil || !strings.Contains(err.Error(), "/x.sock") || !strings.HasPrefix(err.Error(), "cannot reach the Docker engine") {
		t.Fatalf("err = %v", err)
	}
}
