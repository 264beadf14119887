package project

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func levelNames(levels [][]*Service) string {
	var out []string
	for _, l := range levels {
		var names []string
		for _, s := range l {
			names = append(names, s.Name)
		}
		out = append(out, strings.Join(names, ","))
	}
	return strings.Join(out, " | ")
}

func TestLevels(t *testing.T) {
	svc := func(name string, deps ...string) *Service { return &Service{Name: name, DependsOn: deps} }
	all := []*Service{svc("db"), svc("cache"), svc("api", "db", "cache"), svc("worker", "db"), svc("web", "api"), svc("lone")}
	if got := levelNames(Levels(all)); got != "db,cache,lone | api,worker | web" {
		t.Errorf("levels %s", got)
	}
	// A dependency outside the services given does not count.
	if got := levelNames(Levels([]*Service{all[2], all[4]})); got != "api | web" {
		t.Errorf("without db and cache: %s", got)
	}
	// A cycle (compose refuses them) does not loop.
	if got := levelNames(Levels([]*Service{svc("a", "b"), svc("b", "a")})); got == "" {
		t.Error("no levels for a cycle")
	}
}

// A level's containers are handled at once; a failure ends the walk at
// its level unless keepGoing.
func TestInLevels(t *testing.T) {
	c := func(id string) Container { return Container{ID: id} }
	services := []*Service{
		{Name: "db", Containers: []Container{c("db1")}},
		{Name: "api", DependsOn: []string{"db"}, Containers: []Container{c("api1"), c("api2")}},
		{Name: "web", DependsOn: []string{"api"}, Containers: []Container{c("web1")}},
	}
	var mu sync.Mutex
	var order []string
	var arrived sync.WaitGroup
	arrived.Add(2)
	err := InLevels(services, true, false, func(s *Service, c Container) error {
		mu.Lock()
		order = append(order, c.ID)
		mu.Unlock()
		if s.Name == "api" {
			// Each of api's containers waits for the other: only at once
			// can both pass.
			arrived.Done()
			done := make(chan struct{})
			go func() { arrived.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				return fmt.Errorf("%s waited alone for its level", c.ID)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if order[0] != "web1" || order[3] != "db1" || !slices.Contains(order[1:3], "api1") || !slices.Contains(order[1:3], "api2") {
		t.Errorf("order %v", order)
	}

	for _, keepGoing := range []bool{false, true} {
		var seen []string
		err := InLevels(services, false, keepGoing, func(s *Service, c Container) error {
			mu.Lock()
			seen = append(seen, c.ID)
			mu.Unlock()
			if c.ID == "db1" {
				return errors.New("db1 failed")
			}
			return nil
		})
		want := 1
		if keepGoing {
			want = 4
		}
		if err == nil || !strings.Contains(err.Error(), "db1 failed") || len(seen) != want {
			t.Errorf("keepGoing %v: %v, saw %v", keepGoing, err, seen)
		}
	}
}
