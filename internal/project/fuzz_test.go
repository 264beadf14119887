package project

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
)

// FuzzDecodeExtension reads compose files as docker compose does (compose-go
// parses, interpolates and normalizes them) and decodes each service's
// x-backup block. It must never panic or hang; what it accepts must be
// what it means (decoding it again gives the same settings, and every key
// it holds is a known one); what it refuses it says in a bounded message.
func FuzzDecodeExtension(f *testing.F) {
	for _, seed := range []string{
		"services:\n  db:\n    image: postgres\n    x-backup:\n      exclude-table-data: ['shop.public.sessions']\n      user-env: PGUSER\n",
		"services:\n  app:\n    image: app\n    x-backup:\n      restore-hooks:\n        before-start: ['psql -c ANALYZE']\n        after-start: [['./manage.py', 'migrate']]\n",
		"services:\n  s:\n    image: x\n    x-backup: {skip: true, engine: none}\n",
		"services:\n  s:\n    image: x\n    x-backup: {engine: mongo}\n",
		"services:\n  s:\n    image: x\n    x-backup: {exclude-tables: [a]}\n",
		"services:\n  s:\n    image: x\n    x-backup: {restore-hooks: {after_start: [x]}}\n",
		"services:\n  s:\n    image: x\n    x-backup: {restore-hooks: {after-start: ['']}}\n",
		"services:\n  s:\n    image: x\n    x-backup: {data-dir: ${DATA:-/var/lib/x}, bind-mounts: true}\n",
		"services:\n  s:\n    image: x\n    x-backup: [1, 2]\n",
		"services:\n  s:\n    image: x\n    x-backup: {1: x}\n",
		"services:\n  s:\n    image: x\n    x-backup: {" + strings.Repeat("k", 4000) + ": x}\n",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, compose string) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		model, err := loader.LoadWithContext(ctx, types.ConfigDetails{
			WorkingDir:  t.TempDir(),
			ConfigFiles: []types.ConfigFile{{Filename: "compose.yaml", Content: []byte(compose)}},
			Environment: types.Mapping{},
		}, func(o *loader.Options) {
			o.SetProjectName("fuzz", true)
			o.SkipResolveEnvironment = true
			o.SkipValidation = false
		})
		if err != nil {
			return // compose itself refuses the file
		}
		for name, sc := range model.Services {
			raw := sc.Extensions[ExtensionKey]
			ext, err := decodeExtension(raw)
			if err != nil {
				if n := len(err.Error()); n > 2048 {
					t.Fatalf("service %s: an error of %d bytes", name, n)
				}
				continue
			}
			if m, ok := raw.(map[string]any); ok {
				for k := range m {
					if !knownKey(k) {
						t.Fatalf("service %s: unknown key %q accepted", name, k)
					}
				}
			}
			switch ext.Engine {
			case "", "postgres", "mysql", "none":
			default:
				t.Fatalf("service %s: engine %q accepted", name, ext.Engine)
			}
			b, err := json.Marshal(ext)
			if err != nil {
				t.Fatal(err)
			}
			var again any
			if err := json.Unmarshal(b, &again); err != nil {
				t.Fatal(err)
			}
			ext2, err := decodeExtension(again)
			if err != nil {
				t.Fatalf("service %s: %s decodes to settings that do not decode again: %v", name, b, err)
			}
			// The same settings: an empty list and none read alike.
			b2, err := json.Marshal(ext2)
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != string(b2) {
				t.Fatalf("service %s: decoded %s, then %s", name, b, b2)
			}
		}
	})
}

func knownKey(k string) bool {
	t := reflect.TypeOf(Extension{})
	for i := 0; i < t.NumField(); i++ {
		if name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ","); name == k {
			return true
		}
	}
	return false
}
