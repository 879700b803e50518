// Package failover decides which agent runs a failover task and hands the
// run a fencing token. A task is one hook's run for one failure, named the
// same on every agent (TaskID). Before a chosen runner starts the hook it
// acquires a Lease from a Lock; the lease carries the fence, a number that
// grows with every grant of the task, and closes Lost when the runner can
// no longer prove it still holds the task, so the hook can be killed before
// anyone else may take over.
//
// Two Locks exist: Quorum (gossip; claims granted by a strict majority of
// the members, leases renewed by the same claim, grants kept on disk) and
// etcdlock.Etcd (subpackage etcdlock: an etcd lease and a compare-and-set
// per task; the revision is the fence). The package knows nothing of serf or of the hook runner: the
// Quorum lock talks through a Transport, and the coordinator in package
// events uses a Lock through this interface only.
package failover
