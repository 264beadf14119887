package retention

import (
	"context"
	"errors"
	"fmt"

	"github.com/docker-backup/docker-backup/internal/storage"
)

var (
	// ErrNewest: the archive is the newest complete one of its project
	// (or of its safety backups), which is never deleted.
	ErrNewest = errors.New("the newest complete archive of a project is never deleted")
	// ErrForeign: the archive has no index of this tool's.
	ErrForeign = errors.New("not an archive this tool wrote")
)

// Delete deletes one archive by hand (the API's DELETE), with prune's
// guarantees: never the newest complete archive of its series, never an
// archive without this tool's index; the archive before its index.
func Delete(ctx context.Context, b storage.Backend, name string) error {
	if err := storage.ValidName(name); err != nil || !storage.IsArchiveName(name) {
		return fmt.Errorf("%q is not an archive name: %w", name, storage.ErrNotExist)
	}
	entries, _, err := storage.Catalog(ctx, b)
	if err != nil {
		return err
	}
	var target *storage.Entry
	for i := range entries {
		if entries[i].Name == name {
			target = &entries[i]
		}
	}
	if target == nil {
		return fmt.Errorf("no archive %s in %s: %w", name, b.Location(), storage.ErrNotExist)
	}
	if target.Index == nil {
		return fmt.Errorf("%s: %w (%s): delete it with the tool that wrote it", name, ErrForeign, target.Why)
	}
	// Catalog is newest first: the first of the same series is the newest.
	for _, e := range entries {
		if e.Index != nil && e.Index.Project == target.Index.Project && e.Index.Host == target.Index.Host && e.Index.Safety == target.Index.Safety {
			if e.Name == name {
				return fmt.Errorf("%s: %w (project %s): take a newer backup first", name, ErrNewest, target.Index.Project)
			}
			break
		}
	}
	if err := b.Delete(ctx, name); err != nil {
		return fmt.Errorf("deleting %s: %w", name, err)
	}
	if err := b.Delete(ctx, name+storage.SignatureSuffix); err != nil {
		return fmt.Errorf("deleting the signature of %s (prune removes it later): %w", name, err)
	}
	if err := b.Delete(ctx, name+storage.IndexSuffix); err != nil {
		return fmt.Errorf("deleting the index of %s (prune removes it later): %w", name, err)
	}
	return nil
}
