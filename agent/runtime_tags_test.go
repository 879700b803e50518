package agent

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// TestRuntimeTagsLayer: vigil tags set and unset make a layer over the
// configured tags; a later set of a key unset before sets it again, and
// the layer is kept in data_dir and read back.
func TestRuntimeTagsLayer(t *testing.T) {
	configured := map[string]string{"role": "web", "dc": "east"}
	tests := []struct {
		name  string
		steps []runtimeTags // each step's set and unset
		want  map[string]string
		layer runtimeTags
	}{
		{name: "set adds and overrides", steps: []runtimeTags{{Set: map[string]string{"zone": "a", "role": "db"}}},
			want:  map[string]string{"role": "db", "dc": "east", "zone": "a"},
			layer: runtimeTags{Set: map[string]string{"zone": "a", "role": "db"}}},
		{name: "unset removes a configured tag", steps: []runtimeTags{{Unset: []string{"dc"}}},
			want:  map[string]string{"role": "web"},
			layer: runtimeTags{Set: map[string]string{}, Unset: []string{"dc"}}},
		{name: "set after unset", steps: []runtimeTags{{Unset: []string{"dc"}}, {Set: map[string]string{"dc": "west"}}},
			want:  map[string]string{"role": "web", "dc": "west"},
			layer: runtimeTags{Set: map[string]string{"dc": "west"}}},
		{name: "unset after set", steps: []runtimeTags{{Set: map[string]string{"zone": "a"}}, {Unset: []string{"zone"}}},
			want:  map[string]string{"role": "web", "dc": "east"},
			layer: runtimeTags{Set: map[string]string{}, Unset: []string{"zone"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r runtimeTags
			for _, s := range tt.steps {
				r = r.with(s.Set, s.Unset)
			}
			if got := r.apply(configured); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("tags %v, want %v", got, tt.want)
			}
			if !reflect.DeepEqual(r, tt.layer) {
				t.Errorf("layer %+v, want %+v", r, tt.layer)
			}
			dir := t.TempDir()
			if err := saveRuntimeTags(dir, r); err != nil {
				t.Fatal(err)
			}
			back, err := loadRuntimeTags(dir)
			if err != nil {
				t.Fatal(err)
			}
			if got := back.apply(configured); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("read back: tags %v, want %v", got, tt.want)
			}
		})
	}
	if configured["dc"] != "east" || len(configured) != 2 {
		t.Errorf("the configured tags changed: %v", configured)
	}

	dir := t.TempDir()
	if r, err := loadRuntimeTags(dir); err != nil || r.Set != nil || r.Unset != nil {
		t.Errorf("no file: %+v %v", r, err)
	}
	if err := os.WriteFile(filepath.Join(dir, runtimeTagsFile), []byte(`{"set":{"health":"passing"}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := loadRuntimeTags(dir); err == nil {
		t.Error("a reserved tag in tags.json was read")
	}
}
