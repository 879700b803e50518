package membership

import "fmt"

// ClusterNameMaxLen is the longest cluster name accepted, in bytes. The
// name travels in front of every gossip packet, so it is kept short;
// memberlist itself allows 255.
const ClusterNameMaxLen = 64

// ValidateClusterName checks a cluster name (Config.ClusterName): empty,
// or 1 to ClusterNameMaxLen letters, digits, '.', '_' and '-'.
func ValidateClusterName(name string) error {
	if len(name) > ClusterNameMaxLen {
		return fmt.Errorf("cluster name is %d bytes, at most %d", len(name), ClusterNameMaxLen)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-'
		if !ok {
			return fmt.Errorf("cluster name %q: byte %d (%q) is not a letter, digit, '.', '_' or '-'", name, i, c)
		}
	}
	return nil
}

// clusterNameHint is added to a failed join's error when this member has
// a cluster name or the error looks like the peer has one: a mismatch
// shows up as a timeout or a dropped stream, not as a named error.
func clusterNameHint(own string) string {
	if own == "" {
		return "if the peer's agents set cluster_name, this agent needs the same cluster_name"
	}
	return fmt.Sprintf("this agent's cluster_name is %q: the peer's must be the same", own)
}
