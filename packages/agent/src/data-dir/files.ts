/** Every file the agent keeps, by what it holds. One table, so no plane invents a name. */
export const DATA_FILES = {
  /** Our pid while we run (lock.ts). */
  lock: 'agent.lock',
  /** The node's Ed25519 key: its libp2p peer id (identity.ts). */
  identity: 'node-key',
  /** The gossip keyring a key rotation left, in Serf's keyring-file format (keyring-file.ts). */
  keyring: 'local.keyring',
  /** Registered services and checks (services/persistence.ts). */
  services: 'services.json',
  /** The checks' last states, so a restart does not flap them (services/persistence.ts). */
  checkState: 'checks-state.json',
  /** The member list, so a restart rejoins without --join (members-file.ts). */
  members: 'members.json',
} as const;

export type DataFile = keyof typeof DATA_FILES;
