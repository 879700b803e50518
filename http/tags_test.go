package http

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/rs/zerolog"
)

// tagAgent is a fake agent whose tags change.
type tagAgent struct {
	*fakeAgent
	set   map[string]string
	unset []string
}

func (f *tagAgent) ChangeTags(set map[string]string, unset []string) (map[string]string, error) {
	if _, ok := set["health"]; ok {
		return nil, fmt.Errorf("tag %q is reserved: vigil sets it itself: %w", "health", ErrTagRequest)
	}
	f.set, f.unset = set, unset
	return map[string]string{"role": "primary", "zone": "b"}, nil
}

// TestTagsAPI: POST /v1/tags hands the change to the agent and answers its
// tags; a refused tag is a 400, an empty change a 400, an agent that
// cannot change its tags a 501; the docs' example is what it answers.
func TestTagsAPI(t *testing.T) {
	ta := &tagAgent{fakeAgent: newFakeAgent()}
	ts := httptest.NewServer(New(ta, zerolog.Nop()).Handler())
	t.Cleanup(ts.Close)
	plain := httptest.NewServer(New(newFakeAgent(), zerolog.Nop()).Handler())
	t.Cleanup(plain.Close)

	examples := curlExamples(docSection(t, "../docs/http-api.md", "## POST /v1/tags"))
	if len(examples) != 1 {
		t.Fatalf("found %d curl examples, want 1", len(examples))
	}
	checkExample(t, examples[0], ts.Listener.Addr().String(), nil)
	if !reflect.DeepEqual(ta.set, map[string]string{"role": "primary"}) || !reflect.DeepEqual(ta.unset, []string{"dc"}) {
		t.Errorf("the agent got set %v, unset %v", ta.set, ta.unset)
	}

	tests := []struct {
		url, body string
		status    int
		want      string
	}{
		{ts.URL, `{"set":{"health":"passing"}}`, 400, `{"error":"tag \"health\" is reserved: vigil sets it itself: invalid tag request"}`},
		{ts.URL, `{}`, 400, `{"error":"want \"set\" (an object of tags) or \"unset\" (a list of tag keys)"}`},
		{ts.URL, `{"set":{"a":1}}`, 400, ""},
		{plain.URL, `{"set":{"a":"b"}}`, 501, `{"error":"this agent cannot change its tags while it runs"}`},
	}
	for _, tt := range tests {
		resp, err := http.Post(tt.url+"/v1/tags", "application/json", strings.NewReader(tt.body))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.status || tt.want != "" && strings.TrimSpace(string(b)) != tt.want {
			t.Errorf("POST %s: %s %s, want %d %s", tt.body, resp.Status, b, tt.status, tt.want)
		}
	}
}
