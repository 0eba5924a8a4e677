import { connect } from 'node:net';
import { parseHostPort } from '../base/host-port.ts';
import type { TcpCheckSpec } from './check-spec.ts';
import type { ProbeContext } from './probe.ts';
import type { CheckResult } from './status.ts';

/** TCP check: a completed connect is passing, anything else is critical. */
export function runTcpCheck(spec: TcpCheckSpec, ctx: ProbeContext): Promise<CheckResult> {
  const label = `TCP connect ${spec.address}`;
  const target = parseHostPort(spec.address);
  if (typeof target === 'string') return Promise.resolve({ status: 'critical', output: `${label}: ${target}` });
  return new Promise((resolve) => {
    const socket = connect({ host: target.host, port: target.port, signal: ctx.signal });
    socket.once('connect', () => {
      socket.destroy();
      resolve({ status: 'passing', output: `${label}: Success` });
    });
    socket.once('error', (err) => {
      socket.destroy();
      resolve({ status: 'critical', output: `${label}: ${err.message}` });
    });
  });
}
