package afxdp

import (
	"errors"
	"fmt"

	"github.com/vsd/vsd/internal/link"
)

// Config describes the sockets of one Queue.
type Config struct {
	Ifaces    []string // one AF_XDP socket per interface, in port order (Frame.Port = index)
	Queue     int      // the RX queue id every socket binds to
	FrameSize int      // UMEM chunk size: a power of two in [2048, page size]; default 4096
	Frames    int      // UMEM chunks per port; default 4096
	RingSize  int      // fill/completion/RX/TX ring entries: a power of two in [64, 65536]; default 2048
	ZeroCopy  bool     // bind with XDP_ZEROCOPY instead of XDP_COPY (veth supports copy mode only)
}

// Defaults of the zero Config fields.
const (
	DefaultFrameSize = 4096
	DefaultFrames    = 4096
	DefaultRingSize  = 2048
)

// Errors of the packet path (no allocation).
var (
	ErrClosed  = errors.New("afxdp: queue closed")
	ErrNoSpace = errors.New("afxdp: no free chunk or TX ring slot")
)

// withDefaults returns cfg with its zero fields set and checks it against
// pageSize; the error names the bad field and value.
func (cfg Config) withDefaults(pageSize int) (Config, error) {
	if cfg.FrameSize == 0 {
		cfg.FrameSize = DefaultFrameSize
	}
	if cfg.Frames == 0 {
		cfg.Frames = DefaultFrames
	}
	if cfg.RingSize == 0 {
		cfg.RingSize = DefaultRingSize
	}
	switch {
	case len(cfg.Ifaces) == 0:
		return cfg, errors.New("afxdp: config: no interfaces (Ifaces is empty)")
	case len(cfg.Ifaces) > link.MaxPorts:
		return cfg, fmt.Errorf("afxdp: config: %d interfaces, at most %d (link.MaxPorts)", len(cfg.Ifaces), link.MaxPorts)
	case cfg.Queue < 0:
		return cfg, fmt.Errorf("afxdp: config: Queue %d is negative", cfg.Queue)
	case !isPow2(cfg.FrameSize) || cfg.FrameSize < 2048 || cfg.FrameSize > pageSize:
		return cfg, fmt.Errorf("afxdp: config: FrameSize %d is not a power of two in [2048, %d]", cfg.FrameSize, pageSize)
	case !isPow2(cfg.RingSize) || cfg.RingSize < 64 || cfg.RingSize > 1<<16:
		return cfg, fmt.Errorf("afxdp: config: RingSize %d is not a power of two in [64, 65536]", cfg.RingSize)
	case cfg.Frames < 64 || cfg.Frames > 1<<20:
		return cfg, fmt.Errorf("afxdp: config: Frames %d is not in [64, 1048576]", cfg.Frames)
	case umemHeadroom+xdpPacketHeadroom+link.Headroom >= cfg.FrameSize:
		return cfg, fmt.Errorf("afxdp: config: FrameSize %d leaves no room after the headroom", cfg.FrameSize)
	}
	seen := make(map[string]bool, len(cfg.Ifaces))
	for i, name := range cfg.Ifaces {
		if name == "" {
			return cfg, fmt.Errorf("afxdp: config: Ifaces[%d] is empty", i)
		}
		if seen[name] {
			return cfg, fmt.Errorf("afxdp: config: interface %q listed twice", name)
		}
		seen[name] = true
	}
	return cfg, nil
}

func isPow2(n int) bool { return n > 0 && n&(n-1) == 0 }

// xdpPacketHeadroom is XDP_PACKET_HEADROOM: the kernel puts the packet
// this far behind the start of a chunk's usable area (copy and zero-copy
// mode alike).
const xdpPacketHeadroom = 256

// umemHeadroom is the headroom registered with the UMEM on top of
// xdpPacketHeadroom, so that every received packet starts at least
// link.Headroom bytes into its chunk.
const umemHeadroom = max(0, link.Headroom-xdpPacketHeadroom)
