// Wire formats shared by the agent and tools. Filled in by the membership and catalog planes.
export const PROTOCOL_PACKAGE = '@vigil/protocol';
