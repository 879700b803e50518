package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// modulePath prefixes vigil's import paths.
const modulePath = "github.com/vigil-agent/vigil/"

// TestArchitectureImports checks docs/architecture.md's picture of the
// packages ("How the packages depend on each other") against go list: each
// line "PKG, … → IMPORTS" names exactly the vigil packages those packages
// import (tests aside), and the picture names every vigil package the
// vigil binary is built from.
func TestArchitectureImports(t *testing.T) {
	doc, err := os.ReadFile("../../docs/architecture.md")
	if err != nil {
		t.Fatal(err)
	}
	pictured := architecturePicture(t, string(doc))

	out, err := exec.Command("go", "list", "-f", "{{.ImportPath}} {{join .Imports \" \"}}", "../../...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	imports := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		pkg, ok := strings.CutPrefix(f[0], modulePath)
		if !ok {
			continue
		}
		imports[pkg] = []string{}
		for _, imp := range f[1:] {
			if p, ok := strings.CutPrefix(imp, modulePath); ok {
				imports[pkg] = append(imports[pkg], p)
			}
		}
		slices.Sort(imports[pkg])
	}
	for pkg, want := range pictured {
		got, ok := imports[pkg]
		if !ok {
			t.Errorf("the picture names %s, which is not a package", pkg)
			continue
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s imports %v; the picture says %v", pkg, got, want)
		}
	}

	deps, err := exec.Command("go", "list", "-deps", "../../cmd/vigil").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	for _, p := range strings.Fields(string(deps)) {
		if pkg, ok := strings.CutPrefix(p, modulePath); ok {
			if _, ok := pictured[pkg]; !ok {
				t.Errorf("the vigil binary is built from %s, which the picture does not show", pkg)
			}
		}
	}
}

// architecturePicture reads the lines with an arrow from the code block
// under "How the packages depend on each other": package → its imports.
func architecturePicture(t *testing.T, doc string) map[string][]string {
	t.Helper()
	_, section, ok := strings.Cut(doc, "### How the packages depend on each other")
	if !ok {
		t.Fatal("docs/architecture.md has no section \"How the packages depend on each other\"")
	}
	_, block, ok := strings.Cut(section, "```\n")
	if ok {
		block, _, ok = strings.Cut(block, "```")
	}
	if !ok {
		t.Fatal("the section has no code block")
	}
	out := map[string][]string{}
	for _, line := range strings.Split(block, "\n") {
		left, right, ok := strings.Cut(line, "→")
		if !ok {
			continue
		}
		imports := []string{}
		if right = strings.TrimSpace(right); right != "nothing of vigil" {
			imports = strings.Split(right, ", ")
		}
		slices.Sort(imports)
		for _, pkg := range strings.Split(strings.Trim(left, " │├└─"), ", ") {
			out[strings.TrimSpace(pkg)] = imports
		}
	}
	if len(out) == 0 {
		t.Fatal("the picture has no line with an arrow")
	}
	return out
}

// TestArchitectureFilesExist: every file docs/architecture.md names by its
// path (dir/file.go) exists, so the path of an event it draws names real
// files.
func TestArchitectureFilesExist(t *testing.T) {
	doc, err := os.ReadFile("../../docs/architecture.md")
	if err != nil {
		t.Fatal(err)
	}
	paths := regexp.MustCompile(`\b(?:[a-z0-9_]+/)+[a-z0-9_]+\.go\b`).FindAllString(string(doc), -1)
	if len(paths) < 10 {
		t.Fatalf("docs/architecture.md names %d files by path, want the path of an event's files", len(paths))
	}
	for _, p := range paths {
		if _, err := os.Stat(filepath.Join("../..", p)); err != nil {
			t.Errorf("docs/architecture.md names %s: %v", p, err)
		}
	}
}
