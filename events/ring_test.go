package events

import "testing"

func TestRingKeepsNewestAndNumbers(t *testing.T) {
	r := NewRing(3)
	for i := 0; i < 5; i++ {
		r.Publish(Event{Type: MemberJoin})
	}
	got := r.Since(0)
	if len(got) != 3 || got[0].ID != 3 || got[2].ID != 5 {
		t.Fatalf("Since(0) = %+v, want ids 3..5", got)
	}
	if got := r.Since(4); len(got) != 1 || got[0].ID != 5 {
		t.Errorf("Since(4) = %+v, want id 5", got)
	}
	if got := r.Since(5); len(got) != 0 {
		t.Errorf("Since(5) = %+v, want none", got)
	}
	if r.LastID() != 5 || got[0].Time.IsZero() {
		t.Errorf("LastID %d, time %v", r.LastID(), got[0].Time)
	}
}

func TestRingSubscribeNoGapNoOverlap(t *testing.T) {
	r := NewRing(100)
	r.Publish(Event{Type: MemberJoin})
	r.Publish(Event{Type: MemberJoin})
	backlog, sub := r.Subscribe(1)
	defer sub.Cancel()
	r.Publish(Event{Type: MemberFailed})
	if len(backlog) != 1 || backlog[0].ID != 2 {
		t.Fatalf("backlog %+v, want id 2", backlog)
	}
	if ev := <-sub.C(); ev.ID != 3 || ev.Type != MemberFailed {
		t.Errorf("live event %+v, want id 3", ev)
	}
}

func TestRingSlowSubscriberIsCutOffNotBlocking(t *testing.T) {
	r := NewRing(10)
	_, sub := r.Subscribe(0)
	for i := 0; i < subscriberBuffer+10; i++ {
		r.Publish(Event{Type: MemberJoin}) // must not block
	}
	n := 0
	for range sub.C() {
		n++
	}
	if n != subscriberBuffer || !sub.Lagged() {
		t.Errorf("read %d events, lagged %v; want %d and lagged", n, sub.Lagged(), subscriberBuffer)
	}
	sub.Cancel() // cancelling a cut-off subscription is harmless
}
