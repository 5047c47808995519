package steer

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
)

// MaxDecapVIPs bounds the VIP set of a Decap.
const MaxDecapVIPs = 4096

// Decap is the XDP decapsulator for real servers in tunnel mode, for
// machines without the ipip module. On an interface it strips
//
//   - IPv4 outer headers with protocol 4 (inner IPv4) or 41 (inner IPv6),
//     unfragmented, options skipped by IHL;
//   - IPv6 outer headers (no extension headers) with next header 4 or 41;
//   - GUE (variant 0, data message: version 0, C bit 0, proto 4 or 41)
//     over UDP to the GUE port under either outer header, options skipped
//     (4 + hlen*4 bytes of GUE header), when the port is non-zero;
//
// but only when the inner packet's version matches and its destination is
// one of the VIPs. The Ethernet header is kept (MACs and an 802.1Q tag),
// its EtherType set to the inner family, the outer headers removed with
// bpf_xdp_adjust_head; the verdict is always XDP_PASS, so the kernel
// receives the inner packet as if it had arrived bare. Outer checksums and
// the outer destination are not checked.
type Decap struct {
	mu   sync.Mutex
	vips *ebpf.Map
	prog *ebpf.Program
	link link.Link
	info AttachInfo
}

// LoadDecap loads a decapsulator for vips (1..MaxDecapVIPs addresses) and
// GUE on UDP port guePort (0: no GUE).
func LoadDecap(vips []netip.Addr, guePort uint16) (*Decap, error) {
	keys := make(map[key]struct{}, len(vips))
	for _, a := range vips {
		if !a.IsValid() {
			return nil, errors.New("steer: decap: invalid (zero) VIP")
		}
		keys[vipKey(a.WithZone(""))] = struct{}{}
	}
	if len(keys) == 0 || len(keys) > MaxDecapVIPs {
		return nil, fmt.Errorf("steer: decap: %d VIPs: want 1..%d", len(keys), MaxDecapVIPs)
	}
	m, err := ebpf.NewMap(&ebpf.MapSpec{
		Name:       "vsd_decap_vips",
		Type:       ebpf.Hash,
		KeySize:    keySize,
		ValueSize:  4,
		MaxEntries: uint32(len(keys)),
	})
	if err != nil {
		return nil, fmt.Errorf("steer: decap: create VIP map: %w", err)
	}
	for k := range keys {
		if err := m.Update(k, uint32(1), ebpf.UpdateAny); err != nil {
			m.Close()
			return nil, fmt.Errorf("steer: decap: insert VIP %v: %w", k, err)
		}
	}
	prog, err := loadProgram("vsd_decap", ebpf.XDP, decapInsns(m, guePort))
	if err != nil {
		m.Close()
		return nil, err
	}
	return &Decap{vips: m, prog: prog}, nil
}

// Attach attaches the decapsulator to ifindex through a bpf_link, like
// Steering.Attach (a stale netlink-attached program is replaced and
// reported by AttachInfo).
func (d *Decap) Attach(ifindex int, mode XDPMode) (XDPMode, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.prog == nil {
		return 0, errors.New("steer: attach decap: closed")
	}
	if d.link != nil {
		return 0, errors.New("steer: attach decap: already attached")
	}
	l, info, err := attachXDP(d.prog, "decap", ifindex, mode)
	if err != nil {
		return 0, err
	}
	d.link, d.info = l, info
	return info.Mode, nil
}

// AttachInfo describes the last successful Attach.
func (d *Decap) AttachInfo() AttachInfo {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.info
}

// Detach removes the decapsulator from its interface (no-op when not
// attached).
func (d *Decap) Detach() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return detach(&d.link, "decap")
}

// Close detaches and releases the program and its VIP map.
func (d *Decap) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return closeAll(&d.link, "decap", &d.prog, &d.vips)
}

// Program is the loaded program (for inspection and tests).
func (d *Decap) Program() *ebpf.Program { return d.prog }

// RunDecap is `vsd decap`: it loads a decapsulator for vips and guePort,
// attaches it to iface (replacing a stale XDP program), waits for ctx to
// end, then detaches. Errors name the interface.
func RunDecap(ctx context.Context, iface string, vips []netip.Addr, guePort uint16, mode XDPMode) error {
	return RunDecapNotify(ctx, iface, vips, guePort, mode, nil)
}

// RunDecapNotify is RunDecap that calls attached (if not nil) once the
// program is attached, so the caller can log how (AttachInfo.String).
func RunDecapNotify(ctx context.Context, iface string, vips []netip.Addr, guePort uint16, mode XDPMode, attached func(AttachInfo)) error {
	l, err := netlink.LinkByName(iface)
	if err != nil {
		return fmt.Errorf("decap on %s: %w", iface, err)
	}
	d, err := LoadDecap(vips, guePort)
	if err != nil {
		return fmt.Errorf("decap on %s: %w", iface, err)
	}
	if _, err := d.Attach(l.Attrs().Index, mode); err != nil {
		d.Close()
		return fmt.Errorf("decap on %s: %w", iface, err)
	}
	if attached != nil {
		attached(d.AttachInfo())
	}
	<-ctx.Done()
	if err := d.Close(); err != nil {
		return fmt.Errorf("decap on %s: %w", iface, err)
	}
	return nil
}

// decapInsns generates the decapsulator. Registers: r6 ctx, r7 data, r8
// data_end, r9 the Ethernet header length (14 or 18); r3 the offset of the
// next header from data; the VIP key at fp-24, the inner offset spilled at
// fp-32, the saved Ethernet MACs and tag at fp-48.
func decapInsns(vips *ebpf.Map, guePort uint16) asm.Instructions {
	const (
		pass  = "d_pass"
		keyAt = dstKeyOff
		saved = -48
		spill = -32
	)
	p := &prog{}
	p.emit(
		asm.Mov.Reg(asm.R6, asm.R1),
		asm.LoadMem(asm.R7, asm.R6, xdpLayout.data, asm.Word),
		asm.LoadMem(asm.R8, asm.R6, xdpLayout.dataEnd, asm.Word),
	)
	p.bounds(asm.R7, asm.R8, 14, pass)
	p.emit(
		asm.LoadMem(asm.R3, asm.R7, 12, asm.Half),
		asm.Mov.Imm(asm.R9, 14),
		asm.JNE.Imm(asm.R3, n16(0x8100), "d_novlan"),
	)
	p.bounds(asm.R7, asm.R8, 18, pass)
	p.emit(
		asm.LoadMem(asm.R3, asm.R7, 16, asm.Half),
		asm.Mov.Imm(asm.R9, 18),
	)
	p.mark("d_novlan")
	p.emit(
		asm.JEq.Imm(asm.R3, n16(0x0800), "d_o4"),
		asm.JEq.Imm(asm.R3, n16(0x86dd), "d_o6"),
		asm.Ja.Label(pass),
	)

	// Outer IPv4: r3 = offset after it, r5 = protocol.
	p.mark("d_o4")
	p.emit(asm.Mov.Reg(asm.R4, asm.R7), asm.Add.Reg(asm.R4, asm.R9))
	p.bounds(asm.R4, asm.R8, 20, pass)
	p.ipv4HeaderLen(asm.R4, asm.R3, asm.R5, pass)
	p.emit(
		asm.LoadMem(asm.R5, asm.R4, 6, asm.Half),
		asm.And.Imm(asm.R5, n16(0x3fff)), // MF or an offset: a fragment
		asm.JNE.Imm(asm.R5, 0, pass),
		asm.LoadMem(asm.R5, asm.R4, 9, asm.Byte),
		asm.Add.Reg(asm.R3, asm.R9),
		asm.Ja.Label("d_next"),
	)

	// Outer IPv6.
	p.mark("d_o6")
	p.emit(asm.Mov.Reg(asm.R4, asm.R7), asm.Add.Reg(asm.R4, asm.R9))
	p.bounds(asm.R4, asm.R8, 40, pass)
	p.emit(
		asm.LoadMem(asm.R3, asm.R4, 0, asm.Byte),
		asm.And.Imm(asm.R3, 0xf0),
		asm.JNE.Imm(asm.R3, 0x60, pass),
		asm.LoadMem(asm.R5, asm.R4, 6, asm.Byte),
		asm.Mov.Reg(asm.R3, asm.R9),
		asm.Add.Imm(asm.R3, 40),
	)

	p.mark("d_next")
	p.emit(
		asm.JEq.Imm(asm.R5, protoIPIP, "d_in4"),
		asm.JEq.Imm(asm.R5, protoIPv6, "d_in6"),
	)
	if guePort != 0 {
		p.emit(asm.JEq.Imm(asm.R5, protoUDP, "d_gue"))
	}
	p.emit(asm.Ja.Label(pass))

	if guePort != 0 {
		// UDP (8 bytes) + GUE (4 bytes + hlen words of options).
		p.mark("d_gue")
		p.emit(asm.Mov.Reg(asm.R4, asm.R7), asm.Add.Reg(asm.R4, asm.R3))
		p.bounds(asm.R4, asm.R8, 12, pass)
		p.emit(
			asm.LoadMem(asm.R5, asm.R4, 2, asm.Half),
			asm.JNE.Imm(asm.R5, n16(guePort), pass),
			asm.LoadMem(asm.R5, asm.R4, 8, asm.Byte),
			asm.Mov.Reg(asm.R0, asm.R5),
			asm.And.Imm(asm.R0, 0xe0), // version (2 bits) 0, C bit 0
			asm.JNE.Imm(asm.R0, 0, pass),
			asm.And.Imm(asm.R5, 0x1f),
			asm.LSh.Imm(asm.R5, 2),
			asm.Add.Imm(asm.R3, 12),
			asm.Add.Reg(asm.R3, asm.R5),
			asm.LoadMem(asm.R5, asm.R4, 9, asm.Byte),
			asm.JEq.Imm(asm.R5, protoIPIP, "d_in4"),
			asm.JEq.Imm(asm.R5, protoIPv6, "d_in6"),
			asm.Ja.Label(pass),
		)
	}

	// Inner IPv4 / IPv6 at offset r3: version, destination into the key.
	for _, in := range []struct {
		label string
		fam   uint8
		hdr   int32
		ver   int32
		dstAt int16
	}{
		{"d_in4", 4, 20, 0x40, 16},
		{"d_in6", 6, 40, 0x60, 24},
	} {
		p.mark(in.label)
		p.emit(asm.Mov.Reg(asm.R4, asm.R7), asm.Add.Reg(asm.R4, asm.R3))
		p.bounds(asm.R4, asm.R8, in.hdr, pass)
		p.emit(
			asm.LoadMem(asm.R5, asm.R4, 0, asm.Byte),
			asm.And.Imm(asm.R5, 0xf0),
			asm.JNE.Imm(asm.R5, in.ver, pass),
		)
		p.storeKeyHead(keyAt, in.fam, asm.RFP)
		if in.fam == 4 {
			p.storeAddr4(keyAt, asm.R4, in.dstAt)
			p.emit(asm.Ja.Label("d_lookup"))
		} else {
			p.storeAddr6(keyAt, asm.R4, in.dstAt)
		}
	}

	p.mark("d_lookup")
	p.emit(asm.StoreMem(asm.RFP, spill, asm.R3, asm.DWord))
	p.lookup(vips, keyAt, "d_found")
	p.emit(asm.Ja.Label(pass))

	// Strip: save MACs (and the tag), move data forward, rewrite Ethernet.
	p.mark("d_found")
	p.bounds(asm.R7, asm.R8, 18, pass)
	for i := int16(0); i < 16; i += 4 {
		p.emit(
			asm.LoadMem(asm.R5, asm.R7, i, asm.Word),
			asm.StoreMem(asm.RFP, saved+i, asm.R5, asm.Word),
		)
	}
	p.emit(
		asm.LoadMem(asm.R2, asm.RFP, spill, asm.DWord),
		asm.Sub.Reg(asm.R2, asm.R9), // bytes to remove: outer headers
		asm.Mov.Reg(asm.R1, asm.R6),
		asm.FnXdpAdjustHead.Call(),
		asm.JNE.Imm(asm.R0, 0, pass),
		asm.LoadMem(asm.R7, asm.R6, xdpLayout.data, asm.Word),
		asm.LoadMem(asm.R8, asm.R6, xdpLayout.dataEnd, asm.Word),
	)
	p.bounds(asm.R7, asm.R8, 18, pass)
	for i := int16(0); i < 12; i += 4 {
		p.emit(
			asm.LoadMem(asm.R5, asm.RFP, saved+i, asm.Word),
			asm.StoreMem(asm.R7, i, asm.R5, asm.Word),
		)
	}
	p.emit(
		asm.LoadMem(asm.R3, asm.RFP, keyAt, asm.Byte), // inner family
		asm.Mov.Imm(asm.R4, n16(0x0800)),
		asm.JEq.Imm(asm.R3, 4, "d_et"),
		asm.Mov.Imm(asm.R4, n16(0x86dd)),
	)
	p.mark("d_et")
	p.emit(
		asm.JEq.Imm(asm.R9, 14, "d_et14"),
		asm.LoadMem(asm.R5, asm.RFP, saved+12, asm.Word), // 802.1Q TPID + TCI
		asm.StoreMem(asm.R7, 12, asm.R5, asm.Word),
		asm.StoreMem(asm.R7, 16, asm.R4, asm.Half),
		asm.Ja.Label(pass),
	)
	p.mark("d_et14")
	p.emit(asm.StoreMem(asm.R7, 12, asm.R4, asm.Half))
	p.mark(pass)
	p.ret(xdpPass)
	return p.insns
}
