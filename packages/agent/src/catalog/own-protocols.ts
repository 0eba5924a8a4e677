// Identify without the round trip. libp2p tells gossipsub about a peer only once identify has
// reported the peer's protocols, and identify is a stream each way on every connection, a signed
// peer record to verify and a peer-store write: a quarter to a third of a connection's set-up CPU
// (`npm run bench:connection -w scripts`, both sides: 20.9-21.2 ms with identify, 13.9-15.7 ms
// without). A 50-agent cluster opens ~230 connections at once after a start, and that storm
// starves SWIM (catalog README).
//
// Every peer the gater admits is a cluster member running Vigil, so it speaks what we speak: when a
// connection opens, this service reports our own protocols as the peer's, and the registrar wakes
// gossipsub at once. A peer that lacks one (an older release) only fails to negotiate that stream;
// gossipsub offers several versions and falls back. The registrar tells topologies that a peer left
// only for the protocols the peer store holds for it, which identify used to write; a connection
// that closed before any gossipsub stream was negotiated would then leave gossipsub holding the
// peer. So the peer's last connection closing is reported here too, for the same protocols.
//
// One of several connections closing is reported too. After a simultaneous dial a peer has two,
// and gossipsub opens its outbound stream on whichever it heard of first; when that connection
// closes, gossipsub drops the stream and opens another only when told of a connection, so it stopped
// sending to a peer it stayed connected to. Telling it of a connection left, once the closed one's
// streams have closed (their close is what drops its stream), has it open one there.
//
// Identify stays as a responder: an older agent, which identifies on connect, gets our protocol
// list instead of a failed identify (gossip between the two would flow either way, as gossipsub
// answers an inbound stream with one of its own).

import type { Connection, Libp2pEvents, PeerId, Startable, Topology, TypedEventTarget } from '@libp2p/interface';

interface OwnProtocolsComponents {
  readonly events: TypedEventTarget<Libp2pEvents>;
  readonly registrar: { getProtocols(): string[]; getTopologies(protocol: string): Topology[] };
  readonly connectionManager: { getConnections(peerId?: PeerId): Connection[] };
}

class OwnProtocols implements Startable {
  private readonly components: OwnProtocolsComponents;

  constructor(components: OwnProtocolsComponents) {
    this.components = components;
  }

  start(): void {
    this.components.events.addEventListener('connection:open', this.onOpen);
    this.components.events.addEventListener('peer:disconnect', this.onDisconnect);
    this.components.events.addEventListener('connection:close', this.onClose);
  }

  stop(): void {
    this.components.events.removeEventListener('connection:open', this.onOpen);
    this.components.events.removeEventListener('peer:disconnect', this.onDisconnect);
    this.components.events.removeEventListener('connection:close', this.onClose);
  }

  /**
   * The topologies already told of the peer (the others hear of it at connection:open). gossipsub
   * registers one topology under each of its protocol versions: each is listed once.
   */
  private knowing(peerId: PeerId): Topology[] {
    const { registrar } = this.components;
    const all = new Set(registrar.getProtocols().flatMap((p) => registrar.getTopologies(p)));
    return [...all].filter((t) => t.filter === undefined || t.filter.has(peerId));
  }

  private readonly onOpen = (evt: CustomEvent<Connection>): void => {
    const connection = evt.detail;
    this.components.events.safeDispatchEvent('peer:identify', {
      detail: {
        peerId: connection.remotePeer,
        protocols: this.components.registrar.getProtocols(),
        listenAddrs: [],
        connection,
      },
    });
  };

  /** The last connection to the peer closed: as the registrar does, minus the peer-store read. */
  private readonly onDisconnect = (evt: CustomEvent<PeerId>): void => {
    const peerId = evt.detail;
    for (const topology of this.knowing(peerId)) {
      topology.filter?.remove(peerId);
      Promise.resolve(topology.onDisconnect?.(peerId)).catch(() => {});
    }
  };

  /** One of the peer's connections closed and another is open: tell the topologies of that one. */
  private readonly onClose = (evt: CustomEvent<Connection>): void => {
    const closed = evt.detail;
    const tell = () => {
      const peerId = closed.remotePeer;
      const left = this.components.connectionManager
        .getConnections(peerId)
        .find((c) => c.id !== closed.id && c.status === 'open');
      if (left === undefined) return; // the last one: peer:disconnect
      for (const topology of this.knowing(peerId)) {
        Promise.resolve(topology.onConnect?.(peerId, left)).catch(() => {});
      }
    };
    const open = closed.streams.filter((s) => s.status === 'open' || s.status === 'closing');
    let waiting = open.length;
    if (waiting === 0) tell();
    for (const stream of open) stream.addEventListener('close', () => --waiting === 0 && tell(), { once: true });
  };
}

/** A libp2p service: `services: { ownProtocols: ownProtocols() }`, next to identify in responder mode. */
export function ownProtocols(): (components: OwnProtocolsComponents) => OwnProtocols {
  return (components) => new OwnProtocols(components);
}
