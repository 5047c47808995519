package steer

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// XDPMode is how an XDP program is attached.
type XDPMode uint8

const (
	// XDPAuto tries native (driver) mode and falls back to generic.
	XDPAuto XDPMode = iota
	// XDPNative runs the program in the driver (XDP_FLAGS_DRV_MODE).
	XDPNative
	// XDPGeneric runs it on the skb (XDP_FLAGS_SKB_MODE): works
	// everywhere, slower.
	XDPGeneric
)

var modeNames = [...]string{XDPAuto: "auto", XDPNative: "native", XDPGeneric: "generic"}

func (m XDPMode) String() string {
	if int(m) < len(modeNames) {
		return modeNames[m]
	}
	return fmt.Sprintf("XDPMode(%d)", uint8(m))
}

// ParseXDPMode parses "auto", "native" or "generic".
func ParseXDPMode(s string) (XDPMode, error) {
	for i, n := range modeNames {
		if s == n {
			return XDPMode(i), nil
		}
	}
	return 0, fmt.Errorf("steer: XDP mode %q: want auto, native or generic", s)
}

// AttachInfo says how an XDP program was attached.
type AttachInfo struct {
	Mode XDPMode // XDPNative or XDPGeneric: what the program runs in
	// ReplacedProgID is the id of a stale XDP program that was attached
	// through netlink (a killed vsd, or anything else) and was removed
	// before attaching; 0 if there was none.
	ReplacedProgID uint32
	ReplacedMode   XDPMode // its mode, when ReplacedProgID != 0
}

// String is what the daemon logs: "native" or "native (replaced stale XDP
// program id 42, generic)".
func (a AttachInfo) String() string {
	if a.ReplacedProgID == 0 {
		return a.Mode.String()
	}
	return fmt.Sprintf("%s (replaced stale XDP program id %d, %s)", a.Mode, a.ReplacedProgID, a.ReplacedMode)
}

// IFLA_XDP_ATTACHED values and XDP_FLAGS_* (uapi/linux/if_link.h).
const (
	xdpAttachedDrv = 1
	xdpAttachedSKB = 2
	xdpFlagsSKB    = 1 << 1
	xdpFlagsDrv    = 1 << 2
)

// attachXDP removes a stale netlink-attached XDP program from ifindex (not
// one held by a live bpf_link: that is an error naming it), then attaches
// prog through a bpf_link in the mode asked for. what names the program
// in errors.
func attachXDP(prog *ebpf.Program, what string, ifindex int, mode XDPMode) (link.Link, AttachInfo, error) {
	var info AttachInfo
	if mode > XDPGeneric {
		return nil, info, fmt.Errorf("steer: attach %s: bad XDP mode %d", what, mode)
	}
	nl, err := netlink.LinkByIndex(ifindex)
	if err != nil {
		return nil, info, fmt.Errorf("steer: attach %s: interface index %d: %w", what, ifindex, err)
	}
	name := nl.Attrs().Name
	if x := nl.Attrs().Xdp; x != nil && x.ProgId != 0 {
		var flags int
		switch x.AttachMode {
		case xdpAttachedDrv:
			flags, info.ReplacedMode = xdpFlagsDrv, XDPNative
		case xdpAttachedSKB:
			flags, info.ReplacedMode = xdpFlagsSKB, XDPGeneric
		default:
			return nil, info, fmt.Errorf("steer: attach %s to %s: XDP program id %d is attached in mode %d (offloaded or several); not touching it",
				what, name, x.ProgId, x.AttachMode)
		}
		err := netlink.LinkSetXdpFdWithFlags(nl, -1, flags)
		if errors.Is(err, unix.EBUSY) {
			return nil, info, fmt.Errorf("steer: attach %s to %s: XDP program id %d is held by a live bpf_link%s; not replacing it",
				what, name, x.ProgId, linkHolding(ifindex, x.ProgId))
		}
		if err != nil {
			return nil, info, fmt.Errorf("steer: attach %s to %s: remove stale XDP program id %d: %w", what, name, x.ProgId, err)
		}
		info.ReplacedProgID = x.ProgId
	}
	try := func(m XDPMode) (link.Link, error) {
		flags := link.XDPDriverMode
		if m == XDPGeneric {
			flags = link.XDPGenericMode
		}
		l, err := link.AttachXDP(link.XDPOptions{Program: prog, Interface: ifindex, Flags: flags})
		if err != nil {
			return nil, fmt.Errorf("steer: attach %s to %s (index %d) in %s mode: %w", what, name, ifindex, m, err)
		}
		return l, nil
	}
	switch mode {
	case XDPNative, XDPGeneric:
		l, err := try(mode)
		info.Mode = mode
		if err != nil {
			return nil, info, withReplaced(err, info)
		}
		return l, info, nil
	}
	l, errN := try(XDPNative)
	if errN == nil {
		info.Mode = XDPNative
		return l, info, nil
	}
	l, errG := try(XDPGeneric)
	if errG != nil {
		return nil, info, withReplaced(errors.Join(errN, errG), info)
	}
	info.Mode = XDPGeneric
	return l, info, nil
}

// withReplaced adds the removed stale program to a failed attach's error.
func withReplaced(err error, info AttachInfo) error {
	if info.ReplacedProgID == 0 {
		return err
	}
	return fmt.Errorf("%w (stale XDP program id %d was removed first)", err, info.ReplacedProgID)
}

// linkHolding names the bpf_link that attaches prog to ifindex, if it can
// be found (best effort: link ifindexes are per network namespace).
func linkHolding(ifindex int, prog uint32) string {
	var it link.Iterator
	defer it.Close()
	for it.Next() {
		li, err := it.Link.Info()
		if err != nil || li.Type != link.XDPType || uint32(li.Program) != prog {
			continue
		}
		if x := li.XDP(); x != nil && int(x.Ifindex) == ifindex {
			return fmt.Sprintf(" (link id %d)", li.ID)
		}
	}
	return ""
}
