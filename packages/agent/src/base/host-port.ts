export interface HostPort {
  readonly host: string;
  readonly port: number;
}

/** Parses `HOST:PORT` or `[V6]:PORT`; returns an error message naming the bad value. */
export function parseHostPort(value: string, defaultPort?: number): HostPort | string {
  let host: string;
  let portText: string | undefined;
  const v6 = /^\[([^\]]+)\](?::(.*))?$/.exec(value);
  if (v6) {
    host = v6[1] ?? '';
    portText = v6[2];
  } else {
    const i = value.lastIndexOf(':');
    if (i === -1) {
      host = value;
    } else {
      host = value.slice(0, i);
      portText = value.slice(i + 1);
    }
  }
  if (host === '') return `"${value}" has no host`;
  if (portText === undefined) {
    if (defaultPort === undefined) return `"${value}" has no port (expected HOST:PORT)`;
    return { host, port: defaultPort };
  }
  if (!/^\d{1,5}$/.test(portText) || Number(portText) > 65535) {
    return `"${value}" is not a valid port`;
  }
  return { host, port: Number(portText) };
}

export function formatHostPort({ host, port }: HostPort): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** Whether a bind host reaches only this machine: `localhost`, 127.0.0.0/8 or ::1. */
export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase();
  return h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}
