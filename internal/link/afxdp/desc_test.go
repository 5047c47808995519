package afxdp

import (
	"testing"

	"github.com/vsd/vsd/internal/link"
)

// FuzzSplitDesc: whatever descriptor the kernel hands over, an accepted
// one describes a packet inside one chunk of the UMEM behind at least
// link.Headroom bytes, and the chunk address is chunk-aligned.
func FuzzSplitDesc(f *testing.F) {
	f.Add(uint64(256), uint32(60), 4096, 4096*16)
	f.Add(uint64(4096*3+256), uint32(1500), 4096, 4096*16)
	f.Add(uint64(4096*16), uint32(60), 4096, 4096*16)
	f.Add(uint64(4000), uint32(200), 4096, 4096*16)
	f.Add(uint64(10), uint32(60), 2048, 2048*8)
	f.Add(^uint64(0), ^uint32(0), 4096, 4096)
	f.Fuzz(func(t *testing.T, addr uint64, n uint32, fsExp int, umemLen int) {
		frameSize := 2048 << (uint(fsExp) % 2) // 2048 or 4096
		if umemLen <= 0 {
			umemLen = -umemLen
		}
		umemLen = umemLen / frameSize * frameSize
		chunk, off, ok := splitDesc(addr, n, frameSize, umemLen)
		if chunk%uint64(frameSize) != 0 {
			t.Fatalf("chunk %#x not aligned to %d", chunk, frameSize)
		}
		if !ok {
			return
		}
		if chunk+uint64(frameSize) > uint64(umemLen) || off < link.Headroom || n == 0 || off+int(n) > frameSize {
			t.Fatalf("accepted addr %#x len %d: chunk %#x off %d (frame %d, umem %d)", addr, n, chunk, off, frameSize, umemLen)
		}
	})
}
