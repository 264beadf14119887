package project

import (
	"errors"
	"sync"
)

// Levels groups services by their depth in the dependency graph, among
// the services given (a dependency outside them does not count): the
// services of a level depend only on those of earlier levels, so that, as
// compose does, a level starts at once once the previous one is up, and
// stops at once before it. Within a level, services keep their order.
func Levels(services []*Service) [][]*Service {
	in := map[string]*Service{}
	for _, s := range services {
		in[s.Name] = s
	}
	depth := map[string]int{}
	var visit func(s *Service, seen map[string]bool) int
	visit = func(s *Service, seen map[string]bool) int {
		if d, ok := depth[s.Name]; ok {
			return d
		}
		if seen[s.Name] {
			return 0 // a cycle, which compose refuses: no deeper
		}
		seen[s.Name] = true
		d := 0
		for _, dep := range s.DependsOn {
			if ds := in[dep]; ds != nil && ds != s {
				d = max(d, visit(ds, seen)+1)
			}
		}
		depth[s.Name] = d
		return d
	}
	var levels [][]*Service
	for _, s := range services {
		d := visit(s, map[string]bool{})
		for len(levels) <= d {
			levels = append(levels, nil)
		}
		levels[d] = append(levels[d], s)
	}
	return levels
}

// levelConcurrency bounds the containers stopped or started at once.
const levelConcurrency = 16

// InLevels calls fn for every container of services, level by level
// (Levels; the last first with reverse, to stop dependents before what
// they depend on), for the containers of one level at once. A level's
// failures are joined; unless keepGoing, they end the walk before the
// next level.
func InLevels(services []*Service, reverse, keepGoing bool, fn func(*Service, Container) error) error {
	levels := Levels(services)
	var all []error
	for i := range levels {
		level := levels[i]
		if reverse {
			level = levels[len(levels)-1-i]
		}
		var (
			mu   sync.Mutex
			errs []error
			wg   sync.WaitGroup
		)
		sem := make(chan struct{}, levelConcurrency)
		for _, s := range level {
			for _, c := range s.Containers {
				wg.Add(1)
				sem <- struct{}{}
				go func() {
					defer wg.Done()
					defer func() { <-sem }()
					if err := fn(s, c); err != nil {
						mu.Lock()
						errs = append(errs, err)
						mu.Unlock()
					}
				}()
			}
		}
		wg.Wait()
		all = append(all, errs...)
		if len(errs) > 0 && !keepGoing {
			break
		}
	}
	return errors.Join(all...)
}
