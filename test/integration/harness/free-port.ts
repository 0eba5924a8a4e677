// The benchmark's allocator: ports outside the kernel's ephemeral range, so an agent's port cannot be
// taken by some outgoing connection (a push/pull, a libp2p dial) between the probe and the bind.
export { freePort } from '../../../scripts/bench/free-port.ts';
