// Package defense is the kernel's defense against memory exhaustion under
// floods (ipvs-semantics.md §3; the LVS HOWTO's drop_entry, drop_packet
// and secure_tcp), as pure logic: the 0/1/2/3 level machine of each
// strategy driven once a second by how much memory is still available,
// the drop_packet rate, and the per-packet-count choice of which
// connection entries a drop_entry pass deletes.
//
// vsd measures "available memory" as the headroom of the connection
// table's memory budget (optionally also the host's free memory), in 4 KiB
// pages as the kernel counts amemthresh, so the defenses behave the same
// on any machine. The engine applies the decisions: it drops new-connection
// packets at the drop_packet rate, runs the random drop pass, and switches
// to the secure_tcp state tables.
//
// The per-packet parts (Dropper, EntryChooser) allocate nothing and lock
// nothing; each belongs to one worker. HostAvailablePages parses
// /proc/meminfo for the option of counting the host's free memory too.
package defense
