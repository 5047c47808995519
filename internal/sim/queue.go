package sim

import "github.com/vsd/vsd/internal/clock"

// eventKind says what an event does when it fires.
type eventKind uint8

const (
	evFunc    eventKind = iota // call fn
	evPoll                     // deliver the frames that have arrived at host
	evTimer                    // a connection timer (host, idx, slot, gen)
	evArrival                  // a scenario session starts (idx = arrival number)
)

// Timer slots of a connection: each slot has its own generation so arming
// one slot does not cancel the other.
const (
	slotTCP uint8 = iota // retransmission, TIME_WAIT
	slotApp              // think time, response timeout
)

// event is one entry of the queue. It is a plain value (no per-event
// allocation except for evFunc closures the caller made).
type event struct {
	at   clock.Time
	seq  uint64 // insertion order: breaks ties between equal times
	fn   func()
	kind eventKind
	slot uint8
	host int32
	idx  int32
	gen  uint32
}

// eventQueue is a binary min-heap ordered by (at, seq): events at the same
// instant fire in the order they were scheduled, which makes every run with
// the same seed identical.
type eventQueue struct {
	h   []event
	seq uint64
}

func (q *eventQueue) len() int { return len(q.h) }

func (q *eventQueue) less(i, j int) bool {
	a, b := &q.h[i], &q.h[j]
	if a.at != b.at {
		return a.at < b.at
	}
	return a.seq < b.seq
}

// push adds e (its seq is assigned here).
func (q *eventQueue) push(e event) {
	e.seq = q.seq
	q.seq++
	q.h = append(q.h, e)
	i := len(q.h) - 1
	for i > 0 {
		parent := (i - 1) / 2
		if !q.less(i, parent) {
			break
		}
		q.h[i], q.h[parent] = q.h[parent], q.h[i]
		i = parent
	}
}

// peek returns the earliest event; the queue must not be empty.
func (q *eventQueue) peek() *event { return &q.h[0] }

// pop removes and returns the earliest event; the queue must not be empty.
func (q *eventQueue) pop() event {
	top := q.h[0]
	last := len(q.h) - 1
	q.h[0] = q.h[last]
	q.h[last] = event{} // drop the closure reference
	q.h = q.h[:last]
	i, n := 0, last
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		small := l
		if r := l + 1; r < n && q.less(r, l) {
			small = r
		}
		if !q.less(small, i) {
			break
		}
		q.h[i], q.h[small] = q.h[small], q.h[i]
		i = small
	}
	return top
}
