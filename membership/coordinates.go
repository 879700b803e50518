package membership

import "time"

// RTT estimates the round-trip time to the named member from serf's network
// coordinates. It reports false when either coordinate is unknown yet.
func (c *Cluster) RTT(node string) (time.Duration, bool) {
	self, err := c.serf.GetCoordinate()
	if err != nil || self == nil {
		return 0, false
	}
	other, ok := c.serf.GetCachedCoordinate(node)
	if !ok || other == nil {
		return 0, false
	}
	return self.DistanceTo(other), true
}
