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

// A misspelt key must not be ignored: "exclude-tables" for "exclude-table"
// would back up the very tables the user meant to leave out.
func TestDecodeExtensionRefusesUnknownKeys(t *testing.T) {
	for _, tc := range []struct {
		raw  map[string]any
		name string
	}{
		{map[string]any{"exclude-tables": []any{"*.sessions"}}, "exclude-tables"},
		{map[string]any{"skip": true, "pasword-env": "X"}, "pasword-env"},
		{map[string]any{"restore-hooks": map[string]any{"after_start": []any{"true"}}}, "restore-hooks.after_start"},
	} {
		_, err := decodeExtension(tc.raw)
		if err == nil {
			t.Errorf("%v: accepted", tc.raw)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, `"`+tc.name+`"`) {
			t.Errorf("%v: %q does not name the key %s", tc.raw, msg, tc.name)
		}
		// The known keys are listed, so the typo is easy to fix.
		if !strings.Contains(msg, "exclude-table") && !strings.Contains(msg, "after-start") {
			t.Errorf("%v: %q does not list the known keys", tc.raw, msg)
		}
	}
}
