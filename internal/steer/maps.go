package steer

import (
	"errors"
	"fmt"
	"sync"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// MaxCapacity bounds NewMaps' capacity (entries per map).
const MaxCapacity = 1 << 20

// Maps holds the match maps (Services, Replies, VIPs, the fragment
// sources derived from Replies, and Tunnels: BPF hash maps with 20-byte keys, see the
// package doc) that every Steering and Guard built on it reads. Update may
// be called from any goroutine; calls are serialised.
type Maps struct {
	mu       sync.Mutex // serialises Update and Close
	capacity int
	services *ebpf.Map
	replies  *ebpf.Map
	vips     *ebpf.Map
	fragSrcs *ebpf.Map // (proto, NAT real server, port 0): non-first fragments from it
	tunnels  *ebpf.Map // (4, IPIP, 0, TUN real server) / (4, UDP, GUE port, TUN real server): errors quoting them
}

// NewMaps creates the five match maps, each able to hold capacity keys
// (1..MaxCapacity). The kernel maps are twice that size, so an Update can
// insert every new key before it deletes the old ones; they are not
// preallocated (BPF_F_NO_PREALLOC), so memory follows the entries in use.
func NewMaps(capacity int) (*Maps, error) {
	if capacity < 1 || capacity > MaxCapacity {
		return nil, fmt.Errorf("steer: map capacity %d: want 1..%d", capacity, MaxCapacity)
	}
	m := &Maps{capacity: capacity}
	for _, x := range []struct {
		name string
		p    **ebpf.Map
	}{{"vsd_services", &m.services}, {"vsd_replies", &m.replies}, {"vsd_vips", &m.vips}, {"vsd_frag_srcs", &m.fragSrcs},
		{"vsd_tunnels", &m.tunnels}} {
		bm, err := ebpf.NewMap(&ebpf.MapSpec{
			Name:       x.name,
			Type:       ebpf.Hash,
			KeySize:    keySize,
			ValueSize:  4,
			MaxEntries: uint32(2 * capacity),
			Flags:      unix.BPF_F_NO_PREALLOC,
		})
		if err != nil {
			m.Close()
			return nil, fmt.Errorf("steer: create map %s (%d entries): %w", x.name, 2*capacity, err)
		}
		*x.p = bm
	}
	return m, nil
}

// Capacity is the number of keys each map may hold after an Update.
func (m *Maps) Capacity() int { return m.capacity }

// Update makes the maps hold exactly the keys of want. It validates all of
// want first (nothing changes on a bad entry), then, per map, inserts the
// keys that are missing and only afterwards deletes the keys no longer
// wanted, so a key present before and after is never missing in between,
// and a packet sees either the old or the new set for each key. A failure
// part-way leaves a superset or subset of the two sets and is reported; a
// later successful Update repairs it.
func (m *Maps) Update(want Match) error {
	ks, err := want.keySets(m.capacity)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.services == nil {
		return errors.New("steer: update: maps are closed")
	}
	for _, x := range []struct {
		name string
		bm   *ebpf.Map
		want map[key]struct{}
	}{{"services", m.services, ks.services}, {"replies", m.replies, ks.replies}, {"vips", m.vips, ks.vips},
		{"fragment sources", m.fragSrcs, ks.fragSrcs}, {"tunnels", m.tunnels, ks.tunnels}} {
		if err := syncMap(x.bm, x.want); err != nil {
			return fmt.Errorf("steer: update %s map: %w", x.name, err)
		}
	}
	return nil
}

func syncMap(bm *ebpf.Map, want map[key]struct{}) error {
	have, err := dumpKeys(bm)
	if err != nil {
		return err
	}
	one := uint32(1)
	for k := range want {
		if _, ok := have[k]; ok {
			continue
		}
		if err := bm.Update(k, one, ebpf.UpdateAny); err != nil {
			return fmt.Errorf("insert %v: %w", k, err)
		}
	}
	for k := range have {
		if _, ok := want[k]; ok {
			continue
		}
		if err := bm.Delete(k); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			return fmt.Errorf("delete %v: %w", k, err)
		}
	}
	return nil
}

// dumpKeys returns the keys in bm.
func dumpKeys(bm *ebpf.Map) (map[key]struct{}, error) {
	have := make(map[key]struct{})
	var k key
	var v uint32
	it := bm.Iterate()
	for it.Next(&k, &v) {
		have[k] = struct{}{}
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("iterate: %w", err)
	}
	return have, nil
}

// Close releases the maps. Programs loaded on them keep their own
// references and go on working until they are closed too.
func (m *Maps) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	var errs []error
	for _, p := range []**ebpf.Map{&m.services, &m.replies, &m.vips, &m.fragSrcs, &m.tunnels} {
		if *p != nil {
			errs = append(errs, (*p).Close())
			*p = nil
		}
	}
	return errors.Join(errs...)
}
