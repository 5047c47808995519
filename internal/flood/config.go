package flood

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Limits on a flood.
const (
	MaxDuration  = time.Hour
	MaxPackets   = 1 << 40
	MaxRate      = 100_000_000 // packets per second
	MaxBatch     = 512
	DefaultBatch = 128
)

// Config says what to send. The zero value is not valid: Dev, Src, Dst,
// Kind and Packets or Duration are needed.
type Config struct {
	Dev    string         // the interface to send on: loopback, or one in a namespace other than the initial one
	Src    Range          // spoofed source addresses
	SrcNum uint64         // use the first SrcNum addresses of Src; 0 = all of them
	Random bool           // pick sources (and ports of a Sport range) at random instead of in order
	Sport  PortRange      // source ports; zero = one port per source (1024 + index mod 64512)
	Dst    netip.AddrPort // the target, same family as Src
	Kind   Kind
	Size   int // UDP payload bytes

	Rate     uint64        // packets per second; 0 = as fast as possible
	Packets  uint64        // stop after this many (0 = no count limit, then Duration is needed)
	Duration time.Duration // stop after this long (0 = no time limit, then Packets is needed); at most MaxDuration

	DstMAC net.HardwareAddr // nil: the next hop's, from the kernel's neighbour table
	Seed   uint64           // random ISNs, acks and orders; 0 = from the clock
	Batch  int              // frames per sendto; 0 = DefaultBatch
}

// Validate checks cfg without looking at the system; its errors name the
// flag that would set the bad field.
func (c *Config) Validate() error {
	switch {
	case c.Dev == "":
		return errors.New("--dev: an interface is required")
	case len(c.Dev) > 15 || strings.ContainsAny(c.Dev, "/: \t\n"):
		return fmt.Errorf("--dev %q: not an interface name", c.Dev)
	case !c.Src.First.IsValid() || !c.Src.Last.IsValid():
		return errors.New("--src: a source range is required")
	case c.Src.First.Is4() != c.Src.Last.Is4() || c.Src.Last.Less(c.Src.First):
		return fmt.Errorf("--src %s: not a range", c.Src)
	case c.SrcNum > c.Src.Size():
		return fmt.Errorf("--srcnum %d: the range %s holds only %d addresses", c.SrcNum, c.Src, c.Src.Size())
	case !c.Sport.IsZero() && (c.Sport.First == 0 || c.Sport.Last < c.Sport.First):
		return fmt.Errorf("--sport %s: not a port range", c.Sport)
	case !c.Dst.IsValid() || c.Dst.Port() == 0:
		return fmt.Errorf("--dst %q: want VIP:PORT with a port of 1..65535", c.Dst)
	case c.Dst.Addr().Zone() != "" || c.Dst.Addr().Is4In6():
		return fmt.Errorf("--dst %s: no zones or IPv4-mapped addresses", c.Dst)
	case c.Dst.Addr().Is4() != c.Src.Is4():
		return fmt.Errorf("--dst %s: not of the same family as --src %s", c.Dst, c.Src)
	case c.Kind < KindSYN || c.Kind > KindUDP:
		return fmt.Errorf("--kind %s: want syn, synack-seq or udp", c.Kind)
	case c.Kind != KindUDP && c.Size != 0:
		return fmt.Errorf("--size %d: only for --kind udp", c.Size)
	case c.Size < 0 || c.Size > 65000:
		return fmt.Errorf("--size %d: want 0..65000 (and it must fit the interface's MTU)", c.Size)
	case c.Rate > MaxRate:
		return fmt.Errorf("--rate %d: at most %d packets per second", c.Rate, MaxRate)
	case c.Packets == 0 && c.Duration == 0:
		return errors.New("--packets or --duration is required (no unbounded floods)")
	case c.Packets > MaxPackets:
		return fmt.Errorf("--packets %d: at most %d", c.Packets, uint64(MaxPackets))
	case c.Duration < 0 || c.Duration > MaxDuration:
		return fmt.Errorf("--duration %s: want more than 0 and at most %s", c.Duration, MaxDuration)
	case c.DstMAC != nil && len(c.DstMAC) != 6:
		return fmt.Errorf("--dst-mac %s: want a 6-byte Ethernet address", c.DstMAC)
	case c.Batch < 0 || c.Batch > MaxBatch:
		return fmt.Errorf("--batch %d: want 1..%d", c.Batch, MaxBatch)
	}
	return nil
}

// ParseArgs reads vsflood's command line (without the program name). The
// error names the flag and the value; flag.ErrHelp for -h.
func ParseArgs(args []string, usage io.Writer) (Config, error) {
	var c Config
	fs := flag.NewFlagSet("vsflood", flag.ContinueOnError)
	fs.SetOutput(usage)
	fs.StringVar(&c.Dev, "dev", "", "interface to send on (loopback, or one in a namespace other than the initial one)")
	fs.Func("src", "spoofed sources: PREFIX (10.0.0.0/8), FIRST-LAST or ADDR", func(s string) (err error) {
		c.Src, err = ParseRange(s)
		return err
	})
	fs.Func("srcnum", "use only the first N addresses of --src", func(s string) error {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil || n == 0 {
			return fmt.Errorf("%q is not a count of 1 or more", s)
		}
		c.SrcNum = n
		return nil
	})
	fs.BoolVar(&c.Random, "random", false, "sources (and ports of a --sport range) in random order")
	fs.Func("sport", "source ports FIRST-LAST or PORT (default one port per source: 1024 + index mod 64512)", func(s string) (err error) {
		c.Sport, err = ParsePorts(s)
		return err
	})
	fs.Func("dst", "target VIP:PORT ([v6]:PORT for IPv6)", func(s string) (err error) {
		c.Dst, err = netip.ParseAddrPort(s)
		if err == nil && c.Dst.Port() == 0 {
			err = errors.New("port 0")
		}
		return err
	})
	kind := "syn"
	fs.StringVar(&kind, "kind", kind, "syn, synack-seq or udp")
	sizeSet := false
	fs.Func("size", "UDP payload bytes (--kind udp; default 64)", func(s string) error {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return fmt.Errorf("%q is not a byte count", s)
		}
		c.Size, sizeSet = n, true
		return nil
	})
	rate := ""
	fs.StringVar(&rate, "rate", "", "packets per second, or max (required)")
	fs.Func("packets", "stop after N packets", func(s string) error {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil || n == 0 {
			return fmt.Errorf("%q is not a count of 1 or more", s)
		}
		c.Packets = n
		return nil
	})
	fs.Func("duration", "stop after this long (at most 1h)", func(s string) error {
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 {
			return fmt.Errorf("%q is not a positive duration", s)
		}
		c.Duration = d
		return nil
	})
	fs.Func("dst-mac", "destination MAC (default: the next hop's, from the neighbour table)", func(s string) (err error) {
		c.DstMAC, err = net.ParseMAC(s)
		if err == nil && len(c.DstMAC) != 6 {
			err = errors.New("not a 6-byte Ethernet address")
		}
		return err
	})
	fs.Uint64Var(&c.Seed, "seed", 0, "random seed (0: from the clock)")
	fs.IntVar(&c.Batch, "batch", DefaultBatch, "frames per sendto")
	if err := fs.Parse(args); err != nil {
		return Config{}, err
	}
	if fs.NArg() > 0 {
		return Config{}, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	k, err := ParseKind(kind)
	if err != nil {
		return Config{}, fmt.Errorf("--kind: %v", err)
	}
	c.Kind = k
	if !sizeSet && k == KindUDP {
		c.Size = 64
	}
	switch {
	case rate == "":
		return Config{}, errors.New("--rate is required: packets per second, or max")
	case rate == "max":
	default:
		n, err := strconv.ParseUint(rate, 10, 64)
		if err != nil || n == 0 || n > MaxRate {
			return Config{}, fmt.Errorf("--rate %q: want 1..%d packets per second, or max", rate, MaxRate)
		}
		c.Rate = n
	}
	if c.Batch == 0 {
		return Config{}, fmt.Errorf("--batch 0: want 1..%d", MaxBatch)
	}
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}
