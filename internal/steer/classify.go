package steer

import (
	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
)

// ctxLayout is where a program type's context keeps the packet pointers.
type ctxLayout struct {
	data, dataEnd int16
}

var (
	xdpLayout = ctxLayout{data: 0, dataEnd: 4}   // struct xdp_md
	skbLayout = ctxLayout{data: 76, dataEnd: 80} // struct __sk_buff
)

// Context and verdict constants (uapi).
const (
	xdpMDRxQueue = 16 // offsetof(struct xdp_md, rx_queue_index)
	skbLen       = 0  // offsetof(struct __sk_buff, len)

	xdpPass = 2
	xdpTX   = 3

	tcActShot = 2
	tcxNext   = -1
)

// Labels the classifier jumps to.
const (
	labelOurs    = "ours"
	labelNotOurs = "not_ours"
)

// Stack slots of the two keys the classifier builds.
const (
	dstKeyOff = -24 // {family, proto, dst port, dst addr}; also the VIPs key
	srcKeyOff = -48 // {family, proto, src port, src addr}
)

// classifier describes one instance of the shared classification code.
type classifier struct {
	layout    ctxLayout
	maps      *Maps
	neighbour bool // also select ARP requests and neighbour solicitations for VIPs (XDP only)
}

// emit appends the classifier. On entry r6 holds the context; it is kept.
// The code ends by jumping to labelOurs or labelNotOurs, which the caller
// defines. Registers: r7 data then the transport header, r8 data_end, r9
// the network header; r0-r5 scratch.
func (c *classifier) emit(p *prog) {
	const (
		ipv4     = "c_ipv4"
		ipv6     = "c_ipv6"
		arp      = "c_arp"
		noVLAN   = "c_novlan"
		frag     = "c_frag"
		ports    = "c_ports"
		icmpErr  = "c_icmp_err"
		icmp4Err = "c_icmp4_err"
	)
	p.emit(
		asm.LoadMem(asm.R7, asm.R6, c.layout.data, asm.Word),
		asm.LoadMem(asm.R8, asm.R6, c.layout.dataEnd, asm.Word),
	)
	p.bounds(asm.R7, asm.R8, 14, labelNotOurs)
	p.emit(
		asm.LoadMem(asm.R3, asm.R7, 12, asm.Half),
		asm.Mov.Reg(asm.R9, asm.R7),
		asm.Add.Imm(asm.R9, 14),
		asm.JNE.Imm(asm.R3, n16(0x8100), noVLAN),
	)
	p.bounds(asm.R7, asm.R8, 18, labelNotOurs)
	p.emit(
		asm.LoadMem(asm.R3, asm.R7, 16, asm.Half),
		asm.Mov.Reg(asm.R9, asm.R7),
		asm.Add.Imm(asm.R9, 18),
	)
	p.mark(noVLAN)
	p.emit(
		asm.JEq.Imm(asm.R3, n16(0x0800), ipv4),
		asm.JEq.Imm(asm.R3, n16(0x86dd), ipv6),
	)
	if c.neighbour {
		p.emit(asm.JEq.Imm(asm.R3, n16(0x0806), arp))
	}
	p.emit(asm.Ja.Label(labelNotOurs))

	// IPv4.
	p.mark(ipv4)
	p.bounds(asm.R9, asm.R8, 20, labelNotOurs)
	p.ipv4HeaderLen(asm.R9, asm.R3, asm.R4, labelNotOurs)
	p.emit(
		asm.Mov.Reg(asm.R7, asm.R9),
		asm.Add.Reg(asm.R7, asm.R3), // r7: transport header
		asm.LoadMem(asm.R4, asm.R9, 9, asm.Byte),
	)
	p.storeKeyHead(dstKeyOff, 4, asm.RFP)
	p.storeKeyHead(srcKeyOff, 4, asm.RFP)
	p.storeAddr4(dstKeyOff, asm.R9, 16)
	p.storeAddr4(srcKeyOff, asm.R9, 12)
	p.emit(
		asm.LoadMem(asm.R5, asm.R9, 6, asm.Half),
		asm.And.Imm(asm.R5, n16(0x1fff)),
		asm.JNE.Imm(asm.R5, 0, frag),
	)
	c.dispatch(p, "c4", protoICMP, false)

	// IPv6.
	p.mark(ipv6)
	p.bounds(asm.R9, asm.R8, 40, labelNotOurs)
	p.emit(
		asm.LoadMem(asm.R3, asm.R9, 0, asm.Byte),
		asm.And.Imm(asm.R3, 0xf0),
		asm.JNE.Imm(asm.R3, 0x60, labelNotOurs),
		asm.Mov.Reg(asm.R7, asm.R9),
		asm.Add.Imm(asm.R7, 40),
		asm.LoadMem(asm.R4, asm.R9, 6, asm.Byte),
	)
	p.storeKeyHead(dstKeyOff, 6, asm.RFP)
	p.storeKeyHead(srcKeyOff, 6, asm.RFP)
	p.storeAddr6(dstKeyOff, asm.R9, 24)
	p.storeAddr6(srcKeyOff, asm.R9, 8)
	p.emit(asm.JEq.Imm(asm.R4, protoFrag6, "c6_fraghdr"))
	c.dispatch(p, "c6", protoICMPv6, c.neighbour)

	p.mark("c6_fraghdr")
	p.bounds(asm.R7, asm.R8, 8, labelNotOurs)
	p.emit(
		asm.LoadMem(asm.R4, asm.R7, 0, asm.Byte), // next header: the protocol of every fragment
		asm.LoadMem(asm.R5, asm.R7, 2, asm.Half),
		asm.And.Imm(asm.R5, n16(0xfff8)),
		asm.JNE.Imm(asm.R5, 0, frag),
		asm.Add.Imm(asm.R7, 8),
	)
	c.dispatch(p, "c6f", protoICMPv6, false)

	// A non-first fragment (r4: its protocol): is the destination a VIP,
	// or the source a NAT real server of that protocol, (proto, src, 0)
	// in the fragment sources? The source key's port is still zero.
	p.mark(frag)
	p.emit(
		asm.StoreMem(asm.RFP, srcKeyOff+1, asm.R4, asm.Byte),
		asm.StoreImm(asm.RFP, dstKeyOff+1, 0, asm.Byte),
	)
	p.lookup(c.maps.vips, dstKeyOff, labelOurs)
	p.lookup(c.maps.fragSrcs, srcKeyOff, labelOurs)
	p.emit(asm.Ja.Label(labelNotOurs))

	// TCP, UDP, SCTP: ports at 0 (source) and 2 (destination).
	p.mark(ports)
	p.bounds(asm.R7, asm.R8, 4, labelNotOurs)
	p.emit(
		asm.LoadMem(asm.R3, asm.R7, 2, asm.Half),
		asm.StoreMem(asm.RFP, dstKeyOff+2, asm.R3, asm.Half),
		asm.LoadMem(asm.R3, asm.R7, 0, asm.Half),
		asm.StoreMem(asm.RFP, srcKeyOff+2, asm.R3, asm.Half),
	)
	p.lookup(c.maps.services, dstKeyOff, labelOurs)
	p.emit(asm.StoreImm(asm.RFP, dstKeyOff+2, 0, asm.Half))
	p.lookup(c.maps.services, dstKeyOff, labelOurs)
	p.lookup(c.maps.replies, srcKeyOff, labelOurs)
	p.emit(asm.StoreImm(asm.RFP, srcKeyOff+2, 0, asm.Half))
	p.lookup(c.maps.replies, srcKeyOff, labelOurs)
	p.emit(asm.Ja.Label(labelNotOurs))

	// ICMP errors: (proto, dst, 0) in Services or (proto, src, 0) in Replies.
	p.mark(icmpErr)
	p.lookup(c.maps.services, dstKeyOff, labelOurs)
	p.lookup(c.maps.replies, srcKeyOff, labelOurs)
	p.emit(asm.Ja.Label(labelNotOurs))

	// ICMPv4 errors: as above, or a tunnel error.
	p.mark(icmp4Err)
	p.lookup(c.maps.services, dstKeyOff, labelOurs)
	p.lookup(c.maps.replies, srcKeyOff, labelOurs)
	c.tunnelError(p)

	if c.neighbour {
		p.mark(arp)
		p.bounds(asm.R9, asm.R8, 28, labelNotOurs)
		p.emit(
			asm.LoadMem(asm.R3, asm.R9, 0, asm.Half),
			asm.JNE.Imm(asm.R3, n16(1), labelNotOurs), // Ethernet
			asm.LoadMem(asm.R3, asm.R9, 2, asm.Half),
			asm.JNE.Imm(asm.R3, n16(0x0800), labelNotOurs), // IPv4
			asm.LoadMem(asm.R3, asm.R9, 4, asm.Half),
			asm.JNE.Imm(asm.R3, n16(0x0604), labelNotOurs), // hlen 6, plen 4
			asm.LoadMem(asm.R3, asm.R9, 6, asm.Half),
			asm.JNE.Imm(asm.R3, n16(1), labelNotOurs), // request
		)
		p.storeKeyHead(dstKeyOff, 4, asm.RFP)
		p.storeAddr4(dstKeyOff, asm.R9, 24) // target protocol address
		p.lookup(c.maps.vips, dstKeyOff, labelOurs)
		p.emit(asm.Ja.Label(labelNotOurs))
	}
}

// dispatch emits the per-protocol branch for one family: r4 holds the
// transport protocol, r7 points at the transport header. The keys get the
// protocol. With ns, ICMPv6 neighbour solicitations (hop limit 255) whose
// target is a VIP are selected too. Labels are prefixed with pfx.
func (c *classifier) dispatch(p *prog, pfx string, icmp int32, ns bool) {
	icmpL := pfx + "_icmp"
	p.emit(
		asm.StoreMem(asm.RFP, dstKeyOff+1, asm.R4, asm.Byte),
		asm.StoreMem(asm.RFP, srcKeyOff+1, asm.R4, asm.Byte),
		asm.JEq.Imm(asm.R4, protoTCP, "c_ports"),
		asm.JEq.Imm(asm.R4, protoUDP, "c_ports"),
		asm.JEq.Imm(asm.R4, protoSCTP, "c_ports"),
		asm.JEq.Imm(asm.R4, icmp, icmpL),
		asm.Ja.Label(labelNotOurs),
	)
	p.mark(icmpL)
	if ns {
		p.bounds(asm.R7, asm.R8, 24, pfx+"_icmp_err")
		p.emit(
			asm.LoadMem(asm.R3, asm.R7, 0, asm.Byte),
			asm.JNE.Imm(asm.R3, 135, pfx+"_icmp_err"),
			asm.LoadMem(asm.R3, asm.R9, 7, asm.Byte),
			asm.JNE.Imm(asm.R3, 255, labelNotOurs),
			asm.StoreImm(asm.RFP, dstKeyOff+1, 0, asm.Byte),
		)
		p.storeAddr6(dstKeyOff, asm.R7, 8) // target address
		p.lookup(c.maps.vips, dstKeyOff, labelOurs)
		p.emit(asm.Ja.Label(labelNotOurs))
		p.mark(pfx + "_icmp_err")
	}
	p.bounds(asm.R7, asm.R8, 4, labelNotOurs)
	p.emit(asm.LoadMem(asm.R3, asm.R7, 0, asm.Byte))
	if icmp == protoICMP {
		p.emit(
			asm.JEq.Imm(asm.R3, 3, "c_icmp4_err"),  // destination unreachable
			asm.JEq.Imm(asm.R3, 4, "c_icmp4_err"),  // source quench
			asm.JEq.Imm(asm.R3, 11, "c_icmp4_err"), // time exceeded
			asm.Ja.Label(labelNotOurs),
		)
		return
	}
	p.emit(
		asm.JEq.Imm(asm.R3, 0, labelNotOurs),
		asm.JGT.Imm(asm.R3, 4, labelNotOurs), // 1..4: unreachable, too big, time exceeded, parameter problem
		asm.Ja.Label("c_icmp_err"),
	)
}

// tunnelError emits the tunnel-error test of an ICMPv4 error (r7: its
// ICMP header, r8: data_end) and jumps to labelOurs or labelNotOurs: the
// quote (after the 8-byte ICMP header) is an IPv4 header, version 4, IHL
// ≥ 5, not a non-first fragment, and (4, protocol, 0, destination) for
// protocol 4 (IPIP), or (4, 17, UDP destination port, destination) for
// UDP, is in the tunnels map. It overwrites the destination key.
func (c *classifier) tunnelError(p *prog) {
	const lookup = "c_tun_lookup"
	p.bounds(asm.R7, asm.R8, 8+20, labelNotOurs)
	p.emit(asm.Add.Imm(asm.R7, 8)) // r7: the quoted IPv4 header
	p.ipv4HeaderLen(asm.R7, asm.R3, asm.R4, labelNotOurs)
	p.emit(
		asm.LoadMem(asm.R4, asm.R7, 6, asm.Half),
		asm.And.Imm(asm.R4, n16(0x1fff)),
		asm.JNE.Imm(asm.R4, 0, labelNotOurs), // a non-first fragment: no tunnel header quoted
		asm.LoadMem(asm.R4, asm.R7, 9, asm.Byte),
	)
	p.storeKeyHead(dstKeyOff, 4, asm.R4)
	p.storeAddr4(dstKeyOff, asm.R7, 16)
	p.emit(
		asm.JEq.Imm(asm.R4, protoIPIP, lookup),
		asm.JNE.Imm(asm.R4, protoUDP, labelNotOurs),
		asm.Add.Reg(asm.R7, asm.R3), // r7: the quoted UDP header
	)
	p.bounds(asm.R7, asm.R8, 4, labelNotOurs)
	p.emit(
		asm.LoadMem(asm.R3, asm.R7, 2, asm.Half),
		asm.StoreMem(asm.RFP, dstKeyOff+2, asm.R3, asm.Half),
	)
	p.mark(lookup)
	p.lookup(c.maps.tunnels, dstKeyOff, labelOurs)
	p.emit(asm.Ja.Label(labelNotOurs))
}

// Verdicts of one program built around the classifier.
type verdicts struct {
	ours, notOurs func(p *prog)
}

// buildProgram returns prologue + classifier + verdict blocks.
func buildProgram(c classifier, prologue func(p *prog), v verdicts) asm.Instructions {
	p := &prog{}
	p.emit(asm.Mov.Reg(asm.R6, asm.R1))
	if prologue != nil {
		prologue(p)
	}
	c.emit(p)
	p.mark(labelOurs)
	v.ours(p)
	p.mark(labelNotOurs)
	v.notOurs(p)
	return p.insns
}

// xdpSteeringInsns is the steering program: ours → bpf_redirect_map(xsks,
// rx_queue_index, XDP_PASS); with xsks nil (tests), ours → XDP_TX.
func xdpSteeringInsns(m *Maps, xsks *ebpf.Map) asm.Instructions {
	ours := func(p *prog) { p.ret(xdpTX) }
	if xsks != nil {
		ours = func(p *prog) {
			p.emit(
				asm.LoadMem(asm.R2, asm.R6, xdpMDRxQueue, asm.Word),
				mapPtr(asm.R1, xsks),
				asm.Mov.Imm(asm.R3, xdpPass), // fallback when the queue has no socket
				asm.FnRedirectMap.Call(),
				asm.Return(),
			)
		}
	}
	return buildProgram(classifier{layout: xdpLayout, maps: m, neighbour: true}, nil, verdicts{
		ours:    ours,
		notOurs: func(p *prog) { p.ret(xdpPass) },
	})
}

// guardPull is how many bytes of the frame the guard makes linear before
// classifying: enough for Ethernet + VLAN + IPv6 + fragment header + ports,
// and for a tunnel error's deepest field: Ethernet + VLAN + IPv4 with
// options + ICMP + quoted IPv4 with options + UDP ports (150).
const guardPull = 152

// guardInsns is the tc ingress program: ours → TC_ACT_SHOT, else TCX_NEXT.
// It first pulls up to guardPull bytes into the linear area when they are
// not there already (bpf_skb_pull_data), so direct packet access sees the
// headers of a non-linear skb.
func guardInsns(m *Maps) asm.Instructions {
	prologue := func(p *prog) {
		p.emit(
			asm.LoadMem(asm.R2, asm.R6, skbLen, asm.Word),
			asm.JLE.Imm(asm.R2, guardPull, "g_len"),
			asm.Mov.Imm(asm.R2, guardPull),
		)
		p.mark("g_len")
		p.emit(
			asm.LoadMem(asm.R3, asm.R6, skbLayout.data, asm.Word),
			asm.LoadMem(asm.R4, asm.R6, skbLayout.dataEnd, asm.Word),
			asm.Add.Reg(asm.R3, asm.R2),
			asm.JLE.Reg(asm.R3, asm.R4, "g_linear"),
			asm.Mov.Reg(asm.R1, asm.R6),
			asm.FnSkbPullData.Call(), // r2 = bytes wanted; failure is harmless
		)
		p.mark("g_linear")
	}
	return buildProgram(classifier{layout: skbLayout, maps: m}, prologue, verdicts{
		ours:    func(p *prog) { p.ret(tcActShot) },
		notOurs: func(p *prog) { p.ret(tcxNext) },
	})
}
