package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os/signal"
	"strings"
	"syscall"

	"github.com/vsd/vsd/internal/steer"
)

// runDecap is `vsd decap --dev IFACE --vip ADDR[,ADDR...]`: the tunnel
// decapsulator for real servers of TUN services on machines without the
// ipip module. It attaches an XDP program that strips IPIP / IPv6-in-IP /
// GUE headers of packets whose inner destination is one of the VIPs, and
// detaches it on SIGTERM or SIGINT.
func runDecap(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("vsd decap", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dev := fs.String("dev", "", "interface the tunnelled packets arrive on")
	vipList := fs.String("vip", "", "VIPs to decapsulate for, comma-separated")
	guePort := fs.Uint("gue-port", 0, "also strip GUE on this UDP port (0 = IPIP only)")
	modeName := fs.String("xdp-mode", "auto", "auto (native, else generic), native or generic")
	if code, ok := parseFlags(fs, args, stderr, true); !ok {
		return code
	}
	vips, err := parseDecap(*dev, *vipList, *guePort, fs.Args())
	if err != nil {
		fmt.Fprintf(stderr, "vsd decap: %v\n", err)
		return 2
	}
	mode, err := steer.ParseXDPMode(*modeName)
	if err != nil {
		fmt.Fprintf(stderr, "vsd decap: %v\n", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	fmt.Fprintf(stderr, "vsd decap: decapsulating for %s on %s\n", *vipList, *dev)
	if err := steer.RunDecap(ctx, *dev, vips, uint16(*guePort), mode); err != nil {
		fmt.Fprintf(stderr, "vsd decap: %v\n", err)
		return 1
	}
	return 0
}

// parseDecap checks the arguments of vsd decap.
func parseDecap(dev, vipList string, guePort uint, rest []string) ([]netip.Addr, error) {
	if len(rest) != 0 {
		return nil, fmt.Errorf("unexpected argument %q", rest[0])
	}
	if dev == "" {
		return nil, errors.New("--dev IFACE is required")
	}
	if vipList == "" {
		return nil, errors.New("--vip ADDR[,ADDR...] is required")
	}
	if guePort > 65535 {
		return nil, fmt.Errorf("--gue-port %d: must be 0..65535", guePort)
	}
	var vips []netip.Addr
	for _, s := range strings.Split(vipList, ",") {
		a, err := netip.ParseAddr(strings.TrimSpace(s))
		if err != nil {
			return nil, fmt.Errorf("--vip %q: not an IP address", s)
		}
		vips = append(vips, a.Unmap())
	}
	return vips, nil
}
