package steer

import (
	"encoding/binary"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
)

// prog collects instructions and places jump labels. A label names the
// next emitted instruction; two labels never name the same instruction
// (mark emits a no-op jump in between if needed).
type prog struct {
	insns   asm.Instructions
	pending string
}

func (p *prog) emit(ins ...asm.Instruction) {
	for _, in := range ins {
		if p.pending != "" {
			in = in.WithSymbol(p.pending)
			p.pending = ""
		}
		p.insns = append(p.insns, in)
	}
}

// mark makes label name the next instruction.
func (p *prog) mark(label string) {
	if p.pending != "" {
		p.emit(asm.Ja.Label(label)) // jump to the very next instruction
	}
	p.pending = label
}

// ret emits r0 = v; exit.
func (p *prog) ret(v int32) {
	p.emit(asm.Mov.Imm(asm.R0, v), asm.Return())
}

// mapPtr loads the address of m into dst.
func mapPtr(dst asm.Register, m *ebpf.Map) asm.Instruction {
	ins := asm.LoadMapPtr(dst, 0)
	if err := ins.AssociateMap(m); err != nil {
		panic("steer: associate map: " + err.Error()) // only for a non-map-load instruction
	}
	return ins
}

// lookup emits map_lookup_elem(m, fp+keyOff) and a jump to found when the
// key is present. It clobbers r0-r5.
func (p *prog) lookup(m *ebpf.Map, keyOff int16, found string) {
	p.emit(
		mapPtr(asm.R1, m),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, int32(keyOff)),
		asm.FnMapLookupElem.Call(),
		asm.JNE.Imm(asm.R0, 0, found),
	)
}

// bounds emits "if ptr+n > end goto fail", using r2 as scratch.
func (p *prog) bounds(ptr, end asm.Register, n int32, fail string) {
	p.emit(
		asm.Mov.Reg(asm.R2, ptr),
		asm.Add.Imm(asm.R2, n),
		asm.JGT.Reg(asm.R2, end, fail),
	)
}

// n16 is the value a 16-bit load from the packet yields for the
// big-endian (network order) value v on this host.
func n16(v uint16) int32 {
	var b [2]byte
	binary.BigEndian.PutUint16(b[:], v)
	return int32(binary.NativeEndian.Uint16(b[:]))
}

// n32 is n16 for 32 bits (as the signed immediate asm wants).
func n32(v uint32) int64 {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], v)
	return int64(int32(binary.NativeEndian.Uint32(b[:])))
}

// storeKeyHead writes family, proto (from reg, or 0 when reg is RFP) and
// a zero port at fp+off.
func (p *prog) storeKeyHead(off int16, fam uint8, proto asm.Register) {
	p.emit(asm.StoreImm(asm.RFP, off, int64(fam), asm.Byte))
	if proto == asm.RFP {
		p.emit(asm.StoreImm(asm.RFP, off+1, 0, asm.Byte))
	} else {
		p.emit(asm.StoreMem(asm.RFP, off+1, proto, asm.Byte))
	}
	p.emit(asm.StoreImm(asm.RFP, off+2, 0, asm.Half))
}

// storeAddr4 writes the IPv4 address at src+srcOff into the key at fp+off
// as ::ffff:a.b.c.d. Clobbers r5.
func (p *prog) storeAddr4(off int16, src asm.Register, srcOff int16) {
	p.emit(
		asm.StoreImm(asm.RFP, off+4, 0, asm.Word),
		asm.StoreImm(asm.RFP, off+8, 0, asm.Word),
		asm.StoreImm(asm.RFP, off+12, n32(0x0000ffff), asm.Word),
		asm.LoadMem(asm.R5, src, srcOff, asm.Word),
		asm.StoreMem(asm.RFP, off+16, asm.R5, asm.Word),
	)
}

// storeAddr6 copies the IPv6 address at src+srcOff into the key at fp+off.
// Clobbers r5.
func (p *prog) storeAddr6(off int16, src asm.Register, srcOff int16) {
	for i := int16(0); i < 16; i += 4 {
		p.emit(
			asm.LoadMem(asm.R5, src, srcOff+i, asm.Word),
			asm.StoreMem(asm.RFP, off+4+i, asm.R5, asm.Word),
		)
	}
}

// ipv4HeaderLen checks the IPv4 header at ptr (its first 20 bytes already
// bounds-checked): version 4 and IHL ≥ 5, else jump to fail. It leaves
// the header length in bytes in hlen and clobbers tmp.
func (p *prog) ipv4HeaderLen(ptr, hlen, tmp asm.Register, fail string) {
	p.emit(
		asm.LoadMem(hlen, ptr, 0, asm.Byte),
		asm.Mov.Reg(tmp, hlen),
		asm.And.Imm(tmp, 0xf0),
		asm.JNE.Imm(tmp, 0x40, fail),
		asm.And.Imm(hlen, 0x0f),
		asm.JLT.Imm(hlen, 5, fail),
		asm.LSh.Imm(hlen, 2),
	)
}
