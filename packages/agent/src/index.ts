export { Agent } from './agent.ts';
export { ConfigError } from './config/config-error.ts';
export { type ConfigSources, loadConfig } from './config/load.ts';
export type { AgentConfig } from './config/schema.ts';
// The election plane's seeded fault simulator and checker, for the soak (scripts/sim/election-soak.ts).
export {
  DEFAULT_SIM_OPTIONS,
  type ElectionSimOptions,
  type ElectionSimReport,
  replayCommand,
  runElectionSim,
  SIM_MUTATIONS,
  type SimMutation,
} from './election/sim/election-sim.ts';
export { type MembershipProfile, PROFILES } from './membership/profiles.ts';
export { type CatalogChurnResult, runCatalogChurn } from './sim/catalog-churn.ts';
export { mulberry32 } from './sim/random.ts';
// The deterministic simulator: the membership engine on a virtual clock, for scripts (scripts/sim).
export { type SimEvent, Simulator, type SimulatorOptions } from './sim/simulator.ts';
export { VERSION } from './version.ts';
