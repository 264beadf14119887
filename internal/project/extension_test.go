package project

import (
	"reflect"
	"strings"
	"testing"
)

func TestRestoreHooksDecode(t *testing.T) {
	ext, err := decodeExtension(map[string]any{
		"restore-hooks": map[string]any{
			"before-start": []any{"psql -c 'ANALYZE'"},
			"after-start":  []any{[]any{"./manage.py", "migrate", "--noinput"}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := RestoreHooks{
		BeforeStart: []Command{{"sh", "-c", "psql -c 'ANALYZE'"}},
		AfterStart:  []Command{{"./manage.py", "migrate", "--noinput"}},
	}
	if !reflect.DeepEqual(ext.RestoreHooks, want) {
		t.Errorf("got %+v, want %+v", ext.RestoreHooks, want)
	}
	for _, bad := range []any{
		map[string]any{"after-start": []any{""}},
		map[string]any{"after-start": []any{[]any{}}},
		map[string]any{"after-start": []any{42}},
	} {
		if _, err := decodeExtension(map[string]any{"restore-hooks": bad}); err == nil || !strings.Contains(err.Error(), "hook") {
			t.Errorf("%v: got %v", bad, err)
		}
	}
}
