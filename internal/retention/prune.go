package retention

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/docker-backup/docker-backup/internal/storage"
)

// PruneOptions are the flags of `docker backup prune`.
type PruneOptions struct {
	// Project is the only project whose archives may be deleted.
	Project string
	// Host, when set, keeps the prune to that host's archives. Either
	// way each host's archives are a series of their own: the newest of
	// every host that backs up into the place is kept.
	Host   string
	Policy Policy
}

// PrunePlan is what a prune would do: the project's archives, each kept
// (with the rules that keep it) or deleted; what it leaves alone.
type PrunePlan struct {
	Location string `json:"location"`
	Project  string `json:"project"`
	Policy   string `json:"policy"`
	// Backups and SafetyBackups are decided apart: the safety backups a
	// restore took are another series, and the newest of each is kept.
	Backups       []Decision `json:"backups"`
	SafetyBackups []Decision `json:"safetyBackups,omitempty"`
	// Foreign are archives without a valid index (another tool's, or
	// replaced by hand): never deleted.
	Foreign []string `json:"foreign,omitempty"`
	// Orphans are this project's indexes whose archive is gone.
	Orphans []string `json:"orphanIndexes,omitempty"`
}

// Deletions are the archives the plan deletes.
func (p *PrunePlan) Deletions() []Decision {
	var out []Decision
	for _, d := range append(append([]Decision(nil), p.Backups...), p.SafetyBackups...) {
		if !d.Keep {
			out = append(out, d)
		}
	}
	return out
}

// Plan decides what a prune of the project's archives in b deletes. Only
// archives with this tool's index naming the project are candidates;
// every other object under the location is left alone.
func Plan(ctx context.Context, b storage.Backend, opts PruneOptions) (*PrunePlan, error) {
	if opts.Project == "" {
		return nil, errors.New("prune needs a project: run it in the project's folder or name it with --project")
	}
	if _, err := Apply(nil, opts.Policy); err != nil {
		return nil, err
	}
	entries, orphans, err := storage.Catalog(ctx, b)
	if err != nil {
		return nil, err
	}
	plan := &PrunePlan{Location: b.Location(), Project: opts.Project, Policy: opts.Policy.String()}
	backups, safety := map[string][]Item{}, map[string][]Item{}
	var hosts []string
	for _, e := range entries {
		switch {
		case e.Index == nil:
			plan.Foreign = append(plan.Foreign, e.Name)
		case e.Index.Project != opts.Project:
		case opts.Host != "" && e.Index.Host != opts.Host:
		default:
			h := e.Index.Host
			if _, ok := backups[h]; !ok {
				hosts = append(hosts, h)
				backups[h], safety[h] = nil, nil
			}
			if e.Index.Safety {
				safety[h] = append(safety[h], Item{Name: e.Name, Time: e.Index.CreatedAt})
			} else {
				backups[h] = append(backups[h], Item{Name: e.Name, Time: e.Index.CreatedAt})
			}
		}
	}
	var series [][]Decision
	for _, h := range hosts {
		b, err := Apply(backups[h], opts.Policy)
		if err != nil {
			return nil, err
		}
		sb, err := Apply(safety[h], opts.Policy)
		if err != nil {
			return nil, err
		}
		plan.Backups = append(plan.Backups, b...)
		plan.SafetyBackups = append(plan.SafetyBackups, sb...)
		series = append(series, b, sb)
	}
	if plan.Backups == nil {
		plan.Backups = []Decision{}
	}
	for _, o := range orphans {
		archive := o[:len(o)-len(storage.IndexSuffix)]
		if ix, err := storage.ReadIndex(ctx, b, archive); err == nil && ix.Project == opts.Project {
			plan.Orphans = append(plan.Orphans, o)
		}
	}
	// Belt and braces: Apply always keeps the newest of a series.
	for _, series := range series {
		kept := 0
		for _, d := range series {
			if d.Keep {
				kept++
			}
		}
		if len(series) > 0 && kept == 0 {
			return nil, fmt.Errorf("refusing a prune that would delete every archive of project %s", opts.Project)
		}
	}
	return plan, nil
}

// Deleted is one archive a prune removed, or failed to.
type Deleted struct {
	Name  string `json:"name"`
	Error string `json:"error,omitempty"`
}

// Execute deletes what the plan deletes: each archive, then its
// signature, then its index (a prune cut in between leaves an orphan
// index, removed by the next one with the signature, never an archive
// without its index, which no prune would ever delete), then the orphan
// indexes. It goes on past a failure and returns them all.
func Execute(ctx context.Context, b storage.Backend, plan *PrunePlan) ([]Deleted, error) {
	var out []Deleted
	var errs []error
	for _, d := range plan.Deletions() {
		err := b.Delete(ctx, d.Name)
		if err == nil {
			err = b.Delete(ctx, d.Name+storage.SignatureSuffix)
		}
		if err == nil {
			err = b.Delete(ctx, d.Name+storage.IndexSuffix)
		}
		r := Deleted{Name: d.Name}
		if err != nil {
			r.Error = err.Error()
			errs = append(errs, fmt.Errorf("deleting %s: %w", d.Name, err))
		}
		out = append(out, r)
		if ctx.Err() != nil {
			return out, errors.Join(append(errs, ctx.Err())...)
		}
	}
	for _, o := range plan.Orphans {
		// The signature of the archive gone, then the index that leads to it.
		sig := strings.TrimSuffix(o, storage.IndexSuffix) + storage.SignatureSuffix
		if err := b.Delete(ctx, sig); err != nil {
			errs = append(errs, fmt.Errorf("deleting the orphan signature %s: %w", sig, err))
			continue
		}
		if err := b.Delete(ctx, o); err != nil {
			errs = append(errs, fmt.Errorf("deleting the orphan index %s: %w", o, err))
		}
	}
	return out, errors.Join(errs...)
}
