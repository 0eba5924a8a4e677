import { isIP } from 'node:net';

/** Which request hosts go through the mesh (ClientOptions.meshHosts). */
export interface MeshHostOptions {
  /**
   * Dotted names that are mesh services all the same (`payments.v2`). Without this a name with a
   * dot is left to DNS, so a service can never capture `api.example.com`.
   */
  readonly allowDotted?: readonly string[];
  /**
   * Names the application means literally (a Docker Compose host `db`, an intranet name): left to
   * DNS even when the routing table has a service of that name.
   */
  readonly exclude?: readonly string[];
}

/**
 * Decides, from the name alone and before the routing table is asked, whether a request host is a
 * mesh service name. The table must not decide: then any agent in the cluster could capture a
 * host the application means literally by registering a service of that name (`localhost`). A
 * host the mesh takes but the table lacks fails with UnknownServiceError rather than falling
 * through to DNS. The mesh takes a host when:
 * - it is not `localhost` or a `*.localhost` name, and not an IP literal (v4 or v6);
 * - it is not in `exclude`;
 * - it has no dot, or it is listed in `allowDotted`.
 * Names compare as URLs give them: lowercase, without a trailing dot being special (`a.` is dotted).
 */
export class MeshHosts {
  private readonly dotted: ReadonlySet<string>;
  private readonly excluded: ReadonlySet<string>;

  constructor(options: MeshHostOptions = {}) {
    this.dotted = new Set((options.allowDotted ?? []).map((n) => n.toLowerCase()));
    this.excluded = new Set((options.exclude ?? []).map((n) => n.toLowerCase()));
  }

  /** Whether `hostname` (a URL's hostname) names a mesh service. */
  takes(hostname: string): boolean {
    const name = hostname.toLowerCase();
    if (name === '' || name === 'localhost' || name.endsWith('.localhost')) return false;
    if (isIP(name) !== 0 || name.startsWith('[')) return false;
    if (this.excluded.has(name)) return false;
    return !name.includes('.') || this.dotted.has(name);
  }
}
