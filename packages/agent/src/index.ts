export { Agent } from './agent.ts';
export { ConfigError } from './config/config-error.ts';
export { type ConfigSources, loadConfig } from './config/load.ts';
export type { AgentConfig } from './config/schema.ts';
export { VERSION } from './version.ts';
