package backup

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"

	"github.com/docker-backup/docker-backup/internal/engine"
	"github.com/docker-backup/docker-backup/internal/project"
)

// runningAPI: project's db service has one running container.
type runningAPI struct{ project string }

func (a runningAPI) ContainerList(context.Context, container.ListOptions) ([]container.Summary, error) {
	return []container.Summary{{
		ID: "c-db", Names: []string{"/" + a.project + "-db-1"}, State: "running",
		Labels: map[string]string{project.LabelProject: a.project, project.LabelService: "db", project.LabelNumber: "1"},
	}}, nil
}

func (runningAPI) ContainerInspect(context.Context, string) (container.InspectResponse, error) {
	return container.InspectResponse{Config: &container.Config{Env: []string{"POSTGRES_PASSWORD=pw"}}}, nil
}

func (runningAPI) ImageInspect(context.Context, string, ...client.ImageInspectOption) (image.InspectResponse, error) {
	return image.InspectResponse{}, nil
}

// interruptingEngine is interrupted (Ctrl-C) while it asks the database
// server what to dump.
type interruptingEngine struct {
	*fakeEngine
	cancel context.CancelFunc
}

func (e interruptingEngine) Exec(ctx context.Context, _ string, _ engine.ExecOptions) (int, error) {
	e.cancel()
	<-ctx.Done()
	return -1, ctx.Err()
}

// A Ctrl-C before the archive is opened (while the databases are listed)
// says the backup was interrupted, as one while it is written does, not
// only which step the cancel broke.
func TestInterruptedBeforeTheArchiveSaysSo(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "shop")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "compose.yaml"), []byte("services:\n  db:\n    image: postgres:16\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, err := Create(ctx, runningAPI{project: "shop"}, interruptingEngine{&fakeEngine{}, cancel}, Options{
		Project: project.Options{WorkingDir: dir},
		Output:  t.TempDir(),
		Logger:  quietLog(),
	})
	if err == nil {
		t.Fatal("create went on after the interrupt")
	}
	if !strings.HasPrefix(err.Error(), "backup interrupted, no archive written: ") || !errors.Is(err, context.Canceled) {
		t.Errorf("err = %q, want it to say the backup was interrupted and wrap context.Canceled", err)
	}
	if strings.Contains(err.Error(), "POSTGRES_PASSWORD") {
		t.Errorf("err = %q: an interrupt is no reason to check the password", err)
	}
}
