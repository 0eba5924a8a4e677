import { createSocket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

// Ports for the agents of the benchmark and of the integration tests. Binding port 0 would hand
// out ports from the kernel's ephemeral range, where a port that is free now can be taken a moment
// later by any outgoing connection, or be handed out again before the agent it was meant for has
// bound it (with 150 ports per cluster that happened in most starts: EADDRINUSE). So ports are
// drawn at random outside the ephemeral range, checked free for TCP and UDP, and never handed out
// twice by this process.

const [ephemeralLow = 32768, ephemeralHigh = 60999] = (() => {
  try {
    return readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
  } catch {
    return [];
  }
})();
// Below the ephemeral range when it leaves room there (Linux's default starts at 32768), else above it.
const [LOW, HIGH] = ephemeralLow - 1 - 20_000 >= 2000 ? [20_000, ephemeralLow - 1] : [ephemeralHigh + 1, 65_535];
const handedOut = new Set<number>();

function tcpFree(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, host, () => server.close(() => resolve(true)));
  });
}

function udpFree(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createSocket('udp4');
    socket.once('error', () => {
      socket.close();
      resolve(false);
    });
    socket.bind(port, host, () => socket.close(() => resolve(true)));
  });
}

/** A loopback port, free for both TCP and UDP right now, and new to this process. */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = LOW + Math.floor(Math.random() * (HIGH - LOW));
    if (handedOut.has(port)) continue;
    if ((await tcpFree(port, host)) && (await udpFree(port, host))) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error(`no free port found in ${LOW}-${HIGH}`);
}

/** Lets a port be handed out again, once the agent that had it is gone. */
export function releasePort(port: number): void {
  handedOut.delete(port);
}
