package benchlab

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// GenConfig configures the UDP generator (`vsbench gen`), which runs in
// the client namespace pinned to the generator's CPU.
type GenConfig struct {
	Iface    string        // interface to send on
	DstMAC   string        // next hop (the director's front port)
	Src, Dst netip.Addr    // IPv4 source and destination
	DstPort  uint16        // UDP destination port
	Rate     float64       // frames per second; 0 = as fast as possible
	Duration time.Duration // how long to send
	Batch    int           // frames per sendmmsg (default 64); also the number of flows
	Size     int           // frame size (default 64)
}

// GenResult is what the generator did, printed as one JSON line.
type GenResult struct {
	Sent     uint64        `json:"sent"`     // frames the kernel accepted
	Refused  uint64        `json:"refused"`  // frames refused with ENOBUFS/EAGAIN (the next hop's queue was full)
	Elapsed  time.Duration `json:"elapsed"`  // from the first send to the last
	Syscalls uint64        `json:"syscalls"` // sendmmsg calls
}

// SentRate is the accepted frames per second.
func (g GenResult) SentRate() float64 { return Rate(g.Sent, g.Elapsed) }

// mmsghdr is struct mmsghdr on 64-bit Linux (x/sys/unix has no type for it).
type mmsghdr struct {
	hdr unix.Msghdr
	n   uint32
	_   [4]byte
}

// Generate sends UDP frames on an AF_PACKET socket with PACKET_QDISC_BYPASS,
// Batch frames per sendmmsg, until Duration is over or ctx is done. With a
// Rate it paces batch by batch (sleeping until the next batch is due,
// catching up when late), so the average rate holds.
func Generate(ctx context.Context, c GenConfig) (GenResult, error) {
	var res GenResult
	if c.Batch == 0 {
		c.Batch = 64
	}
	if c.Batch < 1 || c.Batch > 1024 {
		return res, fmt.Errorf("gen: batch %d: want 1..1024", c.Batch)
	}
	if c.Duration <= 0 || c.Duration > time.Hour {
		return res, fmt.Errorf("gen: duration %v: want (0, 1h]", c.Duration)
	}
	if c.Rate < 0 {
		return res, fmt.Errorf("gen: rate %v: want ≥ 0", c.Rate)
	}
	ifi, err := net.InterfaceByName(c.Iface)
	if err != nil {
		return res, fmt.Errorf("gen: interface %q: %w", c.Iface, err)
	}
	dst, err := net.ParseMAC(c.DstMAC)
	if err != nil {
		return res, fmt.Errorf("gen: destination MAC %q: %w", c.DstMAC, err)
	}
	frames, err := BuildUDPFrames(FrameSpec{
		SrcMAC: ifi.HardwareAddr, DstMAC: dst, SrcIP: c.Src, DstIP: c.Dst,
		FirstSrcPort: 10000, DstPort: c.DstPort, Count: c.Batch, Size: c.Size,
	})
	if err != nil {
		return res, fmt.Errorf("gen: %w", err)
	}
	// Protocol 0: the socket receives nothing (no tap on the send path).
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return res, fmt.Errorf("gen: AF_PACKET socket: %w", err)
	}
	defer unix.Close(fd)
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_QDISC_BYPASS, 1); err != nil {
		return res, fmt.Errorf("gen: PACKET_QDISC_BYPASS: %w", err)
	}
	sa := unix.RawSockaddrLinklayer{
		Family:   unix.AF_PACKET,
		Protocol: htons(unix.ETH_P_IP),
		Ifindex:  int32(ifi.Index),
		Halen:    6,
	}
	copy(sa.Addr[:], dst)
	iovs := make([]unix.Iovec, len(frames))
	msgs := make([]mmsghdr, len(frames))
	for i, f := range frames {
		iovs[i].Base = &f[0]
		iovs[i].SetLen(len(f))
		msgs[i].hdr.Name = (*byte)(unsafe.Pointer(&sa))
		msgs[i].hdr.Namelen = uint32(unsafe.Sizeof(sa))
		msgs[i].hdr.Iov = &iovs[i]
		msgs[i].hdr.SetIovlen(1)
	}
	start := time.Now()
	end := start.Add(c.Duration)
	var perBatch time.Duration
	if c.Rate > 0 {
		perBatch = time.Duration(float64(time.Second) * float64(len(frames)) / c.Rate)
	}
	next := start
	last := start
	for batches := uint64(0); ; batches++ {
		if batches&63 == 0 && ctx.Err() != nil {
			break
		}
		now := time.Now()
		if !now.Before(end) {
			break
		}
		if perBatch > 0 {
			if wait := next.Sub(now); wait > 0 {
				time.Sleep(wait)
			}
			next = next.Add(perBatch)
		}
		for i := 0; i < len(msgs); {
			n, _, errno := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(fd),
				uintptr(unsafe.Pointer(&msgs[i])), uintptr(len(msgs)-i), 0, 0, 0)
			res.Syscalls++
			switch {
			case errno == 0:
				res.Sent += uint64(n)
				i += int(n)
			case errors.Is(errno, unix.ENOBUFS) || errors.Is(errno, unix.EAGAIN):
				res.Refused++ // the frame at i was dropped: go on with the next
				i++
			case errors.Is(errno, unix.EINTR):
			default:
				return res, fmt.Errorf("gen: sendmmsg on %s: %w", c.Iface, errno)
			}
		}
		last = time.Now()
	}
	res.Elapsed = last.Sub(start)
	return res, nil
}

// MarshalGenResult is the generator's one line of output.
func MarshalGenResult(r GenResult) string {
	b, _ := json.Marshal(r)
	return string(b)
}

// ParseGenResult reads the generator's output line.
func ParseGenResult(out []byte) (GenResult, error) {
	var r GenResult
	// The last line is the JSON; anything before it is noise from tools.
	s := string(out)
	for len(s) > 0 && (s[len(s)-1] == '\n' || s[len(s)-1] == ' ') {
		s = s[:len(s)-1]
	}
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	if err := json.Unmarshal([]byte(s), &r); err != nil {
		return r, fmt.Errorf("generator output %q: %w", s, err)
	}
	return r, nil
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// genArgs is the command line of `vsbench gen` for c (after "gen").
func genArgs(c GenConfig) []string {
	return []string{"--iface", c.Iface, "--dst-mac", c.DstMAC, "--src", c.Src.String(), "--dst", c.Dst.String(),
		"--port", strconv.Itoa(int(c.DstPort)), "--rate", strconv.FormatFloat(c.Rate, 'f', -1, 64),
		"--duration", c.Duration.String()}
}

// ParseGenArgs reads the command line of `vsbench gen` (after "gen"), the
// contract between the benchmark and the generator process it starts.
func ParseGenArgs(args []string) (GenConfig, error) {
	var c GenConfig
	fs := flag.NewFlagSet("vsbench gen", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&c.Iface, "iface", "", "interface to send on")
	fs.StringVar(&c.DstMAC, "dst-mac", "", "next-hop MAC")
	src := fs.String("src", "", "IPv4 source")
	dst := fs.String("dst", "", "IPv4 destination")
	port := fs.Uint("port", udpPort, "UDP destination port")
	fs.Float64Var(&c.Rate, "rate", 0, "frames/s (0: as fast as possible)")
	fs.DurationVar(&c.Duration, "duration", 3*time.Second, "how long to send")
	if err := fs.Parse(args); err != nil {
		return c, fmt.Errorf("gen: %w", err)
	}
	if fs.NArg() != 0 {
		return c, fmt.Errorf("gen: unexpected argument %q", fs.Arg(0))
	}
	var err error
	if c.Src, err = netip.ParseAddr(*src); err != nil || !c.Src.Is4() {
		return c, fmt.Errorf("gen: --src %q: want an IPv4 address", *src)
	}
	if c.Dst, err = netip.ParseAddr(*dst); err != nil || !c.Dst.Is4() {
		return c, fmt.Errorf("gen: --dst %q: want an IPv4 address", *dst)
	}
	if *port > 65535 {
		return c, fmt.Errorf("gen: --port %d: want 0..65535", *port)
	}
	c.DstPort = uint16(*port)
	if c.Iface == "" {
		return c, errors.New("gen: --iface is required")
	}
	if _, err := net.ParseMAC(c.DstMAC); err != nil {
		return c, fmt.Errorf("gen: --dst-mac %q: %v", c.DstMAC, err)
	}
	if !(c.Rate >= 0 && c.Rate < 1e9) {
		return c, fmt.Errorf("gen: --rate %v: want 0 (as fast as possible) or a rate below 1e9", c.Rate)
	}
	if c.Duration <= 0 || c.Duration > time.Hour {
		return c, fmt.Errorf("gen: --duration %v: want (0, 1h]", c.Duration)
	}
	return c, nil
}
