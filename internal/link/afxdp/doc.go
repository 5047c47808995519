// Package afxdp is the AF_XDP datapath driver: a link.Queue over one
// AF_XDP socket per director port, all bound to the same receive-queue
// index, written directly on golang.org/x/sys/unix.
//
// Each port has its own UMEM (Frames chunks of FrameSize bytes, aligned
// mode) and its four rings (fill, completion, RX, TX). Read hands out the
// received chunks themselves as link.Frame buffers (Buf is the whole chunk,
// so a tunnel header can be prepended into the headroom); Write sends a Tx
// frame back out of its ingress port without a copy, copies a frame bound
// for another port into a free chunk of that port's UMEM, and recycles
// every other chunk into the fill ring. Pass frames cannot be handed back
// to the kernel by AF_XDP: they are recycled and counted in
// Stats.PassLost, so the XDP program must redirect only traffic the
// director owns (VIP traffic, NAT replies) and XDP_PASS the rest.
//
// The package does not load or attach the XDP program: the caller puts
// Queue.FD(port) into the program's XSKMAP at key Config.Queue. Open binds
// the sockets in the network namespace of the calling thread.
//
// When not to use it: where AF_XDP or XDP is unavailable (old kernels,
// no CAP_NET_ADMIN/CAP_BPF) use the AF_PACKET driver; for tests without
// root use the in-memory sim link. Copy mode (the default, and the only
// mode veth supports) copies every packet once in the kernel each way.
package afxdp
