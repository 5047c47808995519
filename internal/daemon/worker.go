package daemon

import (
	"runtime"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vsd/vsd/internal/clock"
	"github.com/vsd/vsd/internal/config"
	"github.com/vsd/vsd/internal/director"
	"github.com/vsd/vsd/internal/link"
	"github.com/vsd/vsd/internal/neigh"
)

// batchSize is how many frames a worker takes from its queue at once.
const batchSize = 64

// pollTimeout bounds how long a worker waits for frames, so it notices a
// stop request promptly.
const pollTimeout = 100 * time.Millisecond

// startWorkers starts one worker goroutine per queue, each locked to an OS
// thread and, when the file lists CPUs, pinned to one of them (queue i on
// cpus[i mod len]).
func (d *Daemon) startWorkers(cfg *config.Config) {
	for i, q := range d.dp.queues() {
		cpu := -1
		if len(cfg.CPUs) > 0 {
			cpu = cfg.CPUs[i%len(cfg.CPUs)]
		}
		w := d.eng.NewWorker()
		d.wg.Add(1)
		go func() {
			defer d.wg.Done()
			d.workerLoop(q, w, cpu)
		}()
	}
}

// workerLoop is the packet loop of one queue: read a batch, let the
// director decide, answer ARP/NDP for VIPs among the frames it passed, send.
// It reads the clock once per batch and allocates nothing.
func (d *Daemon) workerLoop(q link.Queue, w *director.Worker, cpu int) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if cpu >= 0 {
		var set unix.CPUSet
		set.Set(cpu)
		if err := unix.SchedSetaffinity(0, &set); err != nil {
			d.log.Printf("worker: pinning to CPU %d: %v (running unpinned)", cpu, err)
		}
	}
	frames := make([]link.Frame, batchSize)
	busy := d.busyPoll
	var lastWork clock.Time // when the last batch arrived (only kept while busy polling)
	spins := 0
	for !d.stop.Load() {
		// Busy polling: after a batch, look at the rings without
		// sleeping for up to busy; only an idle queue goes back to
		// sleeping in poll. Under load this saves the sleep and wake-up
		// per batch (docs/BENCHMARKS.md, runs 1 and 2 of the datapath
		// benchmark: AF_PACKET 24.5 → 8.3 µs of CPU per request).
		timeout := pollTimeout
		if busy > 0 && lastWork != 0 {
			timeout = 0
		}
		n, err := q.Read(frames, timeout)
		if err != nil {
			d.log.Printf("worker: read: %v", err)
			time.Sleep(pollTimeout) // a broken socket must not spin
			continue
		}
		if n == 0 {
			if lastWork != 0 {
				if spins++; spins&63 == 0 && d.Now().Sub(lastWork) > busy {
					lastWork = 0
				}
			}
			continue
		}
		now := d.Now()
		if busy > 0 {
			lastWork, spins = now, 0
		}
		batch := frames[:n]
		w.Process(batch, now)
		if r := d.resp.Load(); r != nil {
			for i := range batch {
				f := &batch[i]
				if f.Action != link.Pass {
					continue
				}
				if nl, ok := r.Answer(f.Buf, f.Off, f.Len, int(f.Port)); ok {
					f.Len = nl
					f.Action = link.Tx
					// The kernel would have learnt the asker's address
					// from its request; it did not see it, so tell it.
					if v6, addr, mac, ok := neigh.Requester(f.Bytes()); ok {
						d.neigh.Learn(v6, addr, mac, int(f.Port))
					}
				}
			}
		}
		if err := q.Write(batch); err != nil {
			d.log.Printf("worker: write: %v", err)
		}
		// Extra frames: held fragments released, fragments made for the MTU.
		for i, out := 0, w.Outbox(); i < len(out); i++ {
			if f := &out[i]; f.Action == link.Tx {
				if err := q.Send(int(f.Port), f.Bytes()); err != nil {
					d.log.Printf("worker: send fragment: %v", err)
					break
				}
			}
		}
	}
}
