package afpacket

import (
	"errors"
	"fmt"
	"time"

	"github.com/vsd/vsd/internal/link"
)

// Config says which interfaces a Queue drives and how big its rings are.
// Zero fields take the defaults shown.
type Config struct {
	Ifaces      []string // one socket pair per interface, in port order (Frame.Port = index)
	FanoutGroup uint16   // PACKET_FANOUT (hash) group id base: port i joins group FanoutGroup+i; 0 = no fanout
	BlockSize   int      // TPACKET_V3 RX block size, default 1<<20 (power of two, multiple of the page size)
	Blocks      int      // RX blocks per interface, default 16
	TxFrames    int      // TX ring frames per interface, default 4096 (rounded up to whole TX blocks)
	BufSize     int      // size of each worker-owned frame buffer, default 4096 (≥ link.Headroom + MTU + 18)
	Batch       int      // max frames per Read, default 64 (buffers are preallocated for this many)

	// BlockTimeout is how long the kernel leaves a partly filled RX block
	// open before handing it to us (tp_retire_blk_tov), default 2ms; it
	// bounds the added latency at low rates. Rounded up to whole
	// milliseconds (and by the kernel to whole jiffies).
	BlockTimeout time.Duration
}

// Defaults.
const (
	DefaultBlockSize    = 1 << 20
	DefaultBlocks       = 16
	DefaultTxFrames     = 4096
	DefaultBufSize      = 4096
	DefaultBatch        = 64
	DefaultBlockTimeout = 2 * time.Millisecond
)

// Limits checked by Open.
const (
	minBlockSize = 1 << 12
	maxBlockSize = 1 << 26 // the kernel allocates each block in one piece
	maxBlocks    = 1 << 12
	maxTxFrames  = 1 << 18
	maxBufSize   = 1 << 16
	maxBatch     = 1 << 12
)

// ErrClosed is returned by Read, Write and Send after Close.
var ErrClosed = errors.New("afpacket: queue closed")

// ErrRingFull is returned by Send when the port's TX ring has no free slot.
var ErrRingFull = errors.New("afpacket: tx ring full")

// withDefaults returns cfg with zero fields set to the defaults and checks
// every field, naming the bad one. pageSize is the system page size.
func (cfg Config) withDefaults(pageSize int) (Config, error) {
	c := cfg
	if len(c.Ifaces) == 0 {
		return c, errors.New("afpacket: Config.Ifaces is empty")
	}
	if len(c.Ifaces) > link.MaxPorts {
		return c, fmt.Errorf("afpacket: Config.Ifaces has %d interfaces, at most %d allowed", len(c.Ifaces), link.MaxPorts)
	}
	seen := make(map[string]bool, len(c.Ifaces))
	for i, name := range c.Ifaces {
		if name == "" || len(name) >= 16 {
			return c, fmt.Errorf("afpacket: Config.Ifaces[%d] %q is not an interface name", i, name)
		}
		if seen[name] {
			return c, fmt.Errorf("afpacket: Config.Ifaces[%d] %q is listed twice", i, name)
		}
		seen[name] = true
	}
	if c.FanoutGroup != 0 && int(c.FanoutGroup)+len(c.Ifaces)-1 > 0xffff {
		return c, fmt.Errorf("afpacket: Config.FanoutGroup %d + %d interfaces overflows the 16-bit group id", c.FanoutGroup, len(c.Ifaces))
	}
	if c.BlockSize == 0 {
		c.BlockSize = DefaultBlockSize
	}
	if c.BlockSize < minBlockSize || c.BlockSize > maxBlockSize || c.BlockSize&(c.BlockSize-1) != 0 || c.BlockSize%pageSize != 0 {
		return c, fmt.Errorf("afpacket: Config.BlockSize %d must be a power of two between %d and %d and a multiple of the page size %d",
			cfg.BlockSize, minBlockSize, maxBlockSize, pageSize)
	}
	if c.Blocks == 0 {
		c.Blocks = DefaultBlocks
	}
	if c.Blocks < 2 || c.Blocks > maxBlocks {
		return c, fmt.Errorf("afpacket: Config.Blocks %d must be between 2 and %d", cfg.Blocks, maxBlocks)
	}
	if c.TxFrames == 0 {
		c.TxFrames = DefaultTxFrames
	}
	if c.TxFrames < 1 || c.TxFrames > maxTxFrames {
		return c, fmt.Errorf("afpacket: Config.TxFrames %d must be between 1 and %d", cfg.TxFrames, maxTxFrames)
	}
	if c.BufSize == 0 {
		c.BufSize = DefaultBufSize
	}
	if c.BufSize < link.Headroom+64 || c.BufSize > maxBufSize {
		return c, fmt.Errorf("afpacket: Config.BufSize %d must be between %d and %d", cfg.BufSize, link.Headroom+64, maxBufSize)
	}
	if c.Batch == 0 {
		c.Batch = DefaultBatch
	}
	if c.Batch < 1 || c.Batch > maxBatch {
		return c, fmt.Errorf("afpacket: Config.Batch %d must be between 1 and %d", cfg.Batch, maxBatch)
	}
	if c.BlockTimeout == 0 {
		c.BlockTimeout = DefaultBlockTimeout
	}
	if c.BlockTimeout < 0 || c.BlockTimeout > time.Second {
		return c, fmt.Errorf("afpacket: Config.BlockTimeout %v must be positive and at most 1s", cfg.BlockTimeout)
	}
	return c, nil
}

// txFrameSize is the TX ring frame size for the largest frame a port can
// send (the kernel refuses more than MTU + Ethernet + one VLAN tag): the
// TPACKET_V2 header, then MTU+18 bytes, rounded up to a power of two (at
// least 2048) so frames tile a block.
func txFrameSize(mtu int) int {
	need := txDataOff + mtu + ethHdrLen + vlanLen
	size := 2048
	for size < need {
		size <<= 1
	}
	return size
}
