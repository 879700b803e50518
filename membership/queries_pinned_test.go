package membership

import (
	"encoding/json"
	"testing"
)

// TestQueryWireFormatIsPinned pins vigil's own serf queries between agent
// versions: their names and payloads. An agent that changed one would
// not be understood by an older one during a rolling upgrade (a rejoin
// check nobody answers, a ping request nobody runs): such a change needs
// a new query name, not a new expected value.
func TestQueryWireFormatIsPinned(t *testing.T) {
	rejoin, err := json.Marshal(rejoinCheck{Name: "db-2", Addr: "10.0.0.2:7946"})
	if err != nil {
		t.Fatal(err)
	}
	ping, err := json.Marshal(confirmRequest{Name: "db-2"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, got, want string
	}{
		{"rejoin check name", rejoinCheckQuery, "vigil-rejoin-check"},
		{"rejoin check payload", string(rejoin), `{"name":"db-2","addr":"10.0.0.2:7946"}`},
		{"ping request name", pingQuery, "vigil-ping"},
		{"ping request payload", string(ping), `{"name":"db-2"}`},
		{"refute request name", refuteQuery, "vigil-refute"},
		{"quorum query name", quorumQuery, "vigil-quorum"},
		{"leave announcement name", leaveQuery, "vigil-leave"},
	} {
		if tc.got != tc.want {
			t.Errorf("%s = %s, want %s: agents of two versions would not understand each other", tc.name, tc.got, tc.want)
		}
	}
	var req rejoinCheck
	if err := json.Unmarshal([]byte(`{"name":"db-2","addr":"10.0.0.2:7946","later":1}`), &req); err != nil || req.Name != "db-2" || req.Addr != "10.0.0.2:7946" {
		t.Errorf("a rejoin check with a field from a later version reads as %+v, %v: want its name and address", req, err)
	}
}
