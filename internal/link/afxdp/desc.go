package afxdp

import "github.com/vsd/vsd/internal/link"

// splitDesc turns an RX descriptor into its chunk address and the packet
// offset within the chunk; ok is false if the packet does not lie inside
// one chunk of a umemLen-byte UMEM behind at least link.Headroom bytes.
// frameSize is a power of two.
func splitDesc(addr uint64, n uint32, frameSize, umemLen int) (chunk uint64, off int, ok bool) {
	chunk = addr &^ uint64(frameSize-1)
	o := addr - chunk
	if addr >= uint64(umemLen) || o < link.Headroom || n == 0 || o+uint64(n) > uint64(frameSize) {
		return chunk, 0, false
	}
	return chunk, int(o), true
}
