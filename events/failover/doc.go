// Package failover coordinates failover hooks: the Coordinator applies
// settle, quorum, flap damping and the mass-failure brake, ranks the
// members by rendezvous hash to choose the one runner of a run_on: one
// hook, and decides which agent runs a task and hands the run a fencing
// token. It plugs into the hook runner of package events through the
// hook.Coordinator interface and uses the runner only through
// hook.CoordinatedRunner. A task is one hook's run for one failure, named the
// same on every agent (TaskID). Before a chosen runner starts the hook it
// acquires a Lease from a Lock; the lease carries the fence, a number that
// grows with every grant of the task, and closes Lost when the runner can
// no longer prove it still holds the task, so the hook can be killed before
// anyone else may take over.
//
// Two Locks exist: Quorum (gossip; claims granted by a strict majority of
// the members, leases renewed by the same claim, grants kept on disk) and
// etcdlock.Etcd (subpackage etcdlock: an etcd lease and a compare-and-set
// per task; the revision is the fence). The package knows nothing of
// serf: the Quorum lock talks through a Transport, the Coordinator through
// a ClusterView, and the Coordinator uses a Lock through its interface.
package failover
