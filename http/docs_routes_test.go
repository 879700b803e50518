package http

import (
	"go/ast"
	"go/parser"
	"go/token"
	"net/http/httptest"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/rs/zerolog"
)

// route is one method and path the API serves.
type route struct{ method, path string }

// serverRoutes reads the routes from routes() in server.go: every
// mux.Handle("PATH", methods{http.MethodX: ...}) call.
func serverRoutes(t *testing.T) []route {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "server.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []route
	ast.Inspect(f, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok || len(call.Args) != 2 {
			return true
		}
		sel, ok := call.Fun.(*ast.SelectorExpr)
		if !ok || sel.Sel.Name != "Handle" {
			return true
		}
		lit, ok := call.Args[0].(*ast.BasicLit)
		if !ok || lit.Kind != token.STRING {
			return true
		}
		path, _ := strconv.Unquote(lit.Value)
		cl, ok := call.Args[1].(*ast.CompositeLit)
		if !ok {
			return true
		}
		for _, e := range cl.Elts {
			kv, ok := e.(*ast.KeyValueExpr)
			if !ok {
				continue
			}
			m, ok := kv.Key.(*ast.SelectorExpr)
			if !ok || !strings.HasPrefix(m.Sel.Name, "Method") {
				continue
			}
			out = append(out, route{method: strings.ToUpper(strings.TrimPrefix(m.Sel.Name, "Method")), path: path})
		}
		return true
	})
	return out
}

// TestDocCoversEveryRoute fails when an endpoint the server routes has no
// section (a "## METHOD PATH" or "### METHOD PATH" heading) or no row in
// the table at the top of docs/http-api.md. A {wildcard} of the route
// matches any one segment of the heading (pass|warn|fail).
func TestDocCoversEveryRoute(t *testing.T) {
	b, err := os.ReadFile("../docs/http-api.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	routes := serverRoutes(t)
	if len(routes) < 20 {
		t.Fatalf("found %d routes in server.go: the parsing is broken: %v", len(routes), routes)
	}
	wild := regexp.MustCompile(`\\\{[a-z]+\\\}`)
	for _, r := range routes {
		p := wild.ReplaceAllString(regexp.QuoteMeta(r.path), `[^ /]+`)
		heading := regexp.MustCompile(`(?m)^##+ ` + r.method + ` ` + p + `$`)
		if !heading.MatchString(doc) {
			t.Errorf("docs/http-api.md has no section for %s %s", r.method, r.path)
		}
		row := regexp.MustCompile(`(?m)^\| ` + r.method + ` \| \[` + "`" + strings.ReplaceAll(p, `\|`, `\\\|`) + "`")
		if !row.MatchString(doc) {
			t.Errorf("docs/http-api.md's table has no row for %s %s", r.method, r.path)
		}
	}
}

// reloadAgent answers Reload with a canned result.
type reloadAgent struct {
	*fakeAgent
	res ReloadResult
}

func (f *reloadAgent) Reload() (ReloadResult, error) { return f.res, nil }

// TestDocReloadExample: the POST /v1/reload example of http-api.md is what
// the API answers, empty lists as [] (never null).
func TestDocReloadExample(t *testing.T) {
	examples := curlExamples(docSection(t, "../docs/http-api.md", "## POST /v1/reload"))
	if len(examples) != 1 {
		t.Fatalf("found %d curl examples, want 1", len(examples))
	}
	ra := &reloadAgent{fakeAgent: newFakeAgent(), res: ReloadResult{HooksChanged: []string{"on-failed"}, LogLevel: "info"}}
	ts := httptest.NewServer(New(ra, zerolog.Nop()).Handler())
	t.Cleanup(ts.Close)
	checkExample(t, examples[0], ts.Listener.Addr().String(), nil)
}
