// Identify without the round trip. libp2p tells gossipsub about a peer only once identify has
// reported the peer's protocols, and identify is a stream each way on every connection, a signed
// peer record to verify and a peer-store write: a quarter to a third of a connection's set-up CPU
// (`npm run bench:connection -w scripts`, both sides: 20.9-21.2 ms with identify, 13.9-15.7 ms
// without). A 50-agent cluster opens ~230 connections at once after a start, and that storm
// starves SWIM (catalog README).
//
// Every peer the gater admits is a cluster member running Vigil, so it speaks what we speak: when a
// connection opens, this service reports our own protocols as the peer's, and the registrar wakes
// gossipsub at once. Should a peer lack one (a later version), negotiating that stream fails and
// only that stream is lost. Identify stays as a responder, so an older agent that still identifies
// on connect learns our protocols; ours reach it either way, as gossipsub answers an inbound stream
// with one of its own.

import type { Connection, Libp2pEvents, Startable, TypedEventTarget } from '@libp2p/interface';

interface OwnProtocolsComponents {
  readonly events: TypedEventTarget<Libp2pEvents>;
  readonly registrar: { getProtocols(): string[] };
}

class OwnProtocols implements Startable {
  private readonly components: OwnProtocolsComponents;

  constructor(components: OwnProtocolsComponents) {
    this.components = components;
  }

  start(): void {
    this.components.events.addEventListener('connection:open', this.onOpen);
  }

  stop(): void {
    this.components.events.removeEventListener('connection:open', this.onOpen);
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
}

/** A libp2p service: `services: { ownProtocols: ownProtocols() }`, next to identify in responder mode. */
export function ownProtocols(): (components: OwnProtocolsComponents) => OwnProtocols {
  return (components) => new OwnProtocols(components);
}
