package hook

import "github.com/vigil-agent/vigil/events"

// Journal keeps what a restart needs: the events queued for hooks, the
// runs finished, and the run records (package events/journal implements
// it in the data directory).
type Journal interface {
	// Queued notes that ev waits for the named hook.
	Queued(hook string, ev *events.Event)
	// Done notes that the named hook is finished with ev.
	Done(hook string, ev *events.Event)
	// Record keeps a run record for the history of the next start.
	Record(run events.Run)
}

// Pending is a run a previous start of the agent queued but never
// finished, as the journal gives it back.
type Pending struct {
	// Hook is the hook's name.
	Hook string
	// Event is the queued event, with its original id and key.
	Event events.Event
}

// noJournal is the journal of an agent without a data directory.
type noJournal struct{}

func (noJournal) Queued(string, *events.Event) {}
func (noJournal) Done(string, *events.Event)   {}
func (noJournal) Record(events.Run)            {}
