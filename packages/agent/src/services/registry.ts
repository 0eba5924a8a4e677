import { isDeepStrictEqual } from 'node:util';
import { StatusError } from '../base/status-error.ts';
import { DataDir } from '../data-dir/data-dir.ts';
import { aggregateHealth } from '../health/aggregate.ts';
import { CheckRunner, isPolling } from '../health/check-runner.ts';
import { MIN_DEREGISTER_CRITICAL_AFTER_MS, REAP_INTERVAL_MS } from '../health/defaults.ts';
import { truncateHead } from '../health/output.ts';
import type { CheckResult, CheckStatus, InstanceHealth } from '../health/status.ts';
import { TtlClock, ttlExpired } from '../health/ttl-check.ts';
import type { Logger } from '../log.ts';
import { type Runtime, realRuntime, type TimerHandle } from '../runtime/index.ts';
import type { CheckDefinition, Registration, ServiceDefinition } from './definition.ts';
import { EventLog, type PendingEvent, type RegistryEvent, type RegistryListener } from './events.ts';
import {
  DEFAULT_NODE_MAINTENANCE_REASON,
  DEFAULT_SERVICE_MAINTENANCE_REASON,
  isMaintenanceCheckId,
  type Maintenance,
} from './maintenance.ts';
import {
  loadDefinitions,
  loadState,
  removeStaleTemporaries,
  SERVICES_FILE,
  SnapshotWriter,
  type Source,
  STORE_VERSION,
  type StoredCheckState,
  type StoredDefinitions,
  type StoredState,
} from './persistence.ts';
import { checkToBody, parseCheckRegistration, parseServiceRegistration, serviceToBody } from './registration.ts';

/**
 * A refused registry operation. `statusCode` is what the HTTP API answers (the server's error
 * handler reads it): 403 for policy, 404 for unknown IDs, 409 for conflicts, 400 for bad input.
 */
export class RegistryError extends StatusError {}

export const EXEC_DISABLED_MESSAGE =
  'exec checks from the HTTP API are disabled on this agent; start it with --enable-exec-checks to allow them';

export interface RegistryOptions {
  /** Where services.json and checks-state.json live. */
  readonly dataDir: string | DataDir;
  readonly node: string;
  /** The agent's zone: the zone of services that name none. */
  readonly zone: string;
  readonly log: Logger;
  /** Allow exec checks from the HTTP API (config-file checks are always allowed: the operator wrote them). */
  readonly enableExecChecks?: boolean;
  /** How often services whose checks stayed critical too long are removed (Consul: 30s). */
  readonly reapIntervalMs?: number;
  /** Floor for DeregisterCriticalServiceAfter (Consul: 1m). */
  readonly minDeregisterAfterMs?: number;
  /** How long after a check changes its state is written (coalescing bursts). */
  readonly stateWriteDelayMs?: number;
  /** Delay before a check's first run; default a random stagger within its interval. */
  readonly firstRunDelayMs?: number;
  /** Clock, timers and randomness for checks, TTLs and the reaper (default realRuntime()). */
  readonly runtime?: Runtime;
  /**
   * Why the services registered would be too much for this node's catalog record (see
   * mesh/local-record.ts recordOverflow), or undefined. Checked before a registration is stored.
   */
  readonly admit?: (services: readonly Pick<ServiceView, 'service' | 'health'>[]) => string | undefined;
}

interface ServiceEntry {
  def: ServiceDefinition;
  source: Source;
  maintenance: Maintenance | undefined;
  health: InstanceHealth;
  /** It has been usable (passing or warning) before: a return to usable is then a recovery. */
  wasUsable: boolean;
  /** When it last recovered (wall ms): the start of its failback hold-down (InstanceRecord.recoveredAt). */
  recoveredAt: number | undefined;
}

interface CheckEntry {
  def: CheckDefinition;
  source: Source;
  status: CheckStatus;
  output: string;
  since: number;
  ttlExpiresAt: number | undefined;
  runner: CheckRunner | undefined;
  ttl: TtlClock | undefined;
  /** Why the check does not run (exec checks after the flag was turned off). */
  disabled: string | undefined;
  /** How long its last run took, ms (polling checks). */
  lastRunMs?: number;
}

/** A service as seen from outside: definition with its zone resolved, maintenance, health, checks. */
export interface ServiceView {
  readonly service: ServiceDefinition & { readonly zone: string };
  readonly source: Source;
  readonly maintenance: Maintenance | undefined;
  readonly health: InstanceHealth;
  /** When it last recovered from critical or maintenance (wall ms), if it has in this life. */
  readonly recoveredAt: number | undefined;
  /** Its own checks, then the node's checks (which count for every service). */
  readonly checks: readonly CheckView[];
}

export interface CheckView {
  readonly definition: CheckDefinition;
  readonly source: Source;
  readonly status: CheckStatus;
  readonly output: string;
  /** When the status last changed (epoch ms). */
  readonly since: number;
  /** How long its last run took, ms; polling checks that have run only. */
  readonly lastRunMs?: number;
}

export interface RegisterOptions {
  readonly source?: Source;
  /** Consul's `?replace-existing-checks`: drop the service's checks that the new definition lacks. */
  readonly replaceExistingChecks?: boolean;
}

/**
 * The local truth about this host's services: their definitions, their checks and the checks'
 * state, maintenance flags, and the combined health of each instance. It persists all of it in
 * the data directory and reports every change of local health as an event with a rising index
 * (`subscribe`, `since`), which the catalog plane publishes.
 */
export class ServiceRegistry {
  private readonly opts: RegistryOptions;
  private readonly log: Logger;
  private readonly services = new Map<string, ServiceEntry>();
  private readonly checks = new Map<string, CheckEntry>();
  private nodeMaintenance: Maintenance | undefined;
  private readonly events: EventLog;
  private readonly definitionsWriter: SnapshotWriter;
  private readonly stateWriter: SnapshotWriter;
  private readonly runtime: Runtime;
  private reaper: TimerHandle | undefined;
  private running = false;
  private stopped = false;
  /** Checks being stopped after a replace or removal; stop() waits for them. */
  private readonly stopping = new Set<Promise<void>>();

  private constructor(opts: RegistryOptions, startIndex: number) {
    this.opts = opts;
    this.runtime = opts.runtime ?? realRuntime();
    this.log = opts.log.child({ plane: 'health' });
    this.events = new EventLog(startIndex, (err) => this.log.error({ err }, 'registry event listener failed'));
    this.definitionsWriter = new SnapshotWriter(DataDir.of(opts.dataDir).file('services'), () =>
      JSON.stringify(this.storedDefinitions(), null, 2),
    );
    this.stateWriter = new SnapshotWriter(DataDir.of(opts.dataDir).file('checkState'), () =>
      JSON.stringify(this.storedState()),
    );
  }

  /** Loads what the data directory holds. Checks start with `start()`. */
  static async open(opts: RegistryOptions): Promise<ServiceRegistry> {
    const dir = DataDir.of(opts.dataDir).path;
    const removed = await removeStaleTemporaries(dir);
    const definitions = await loadDefinitions(dir);
    const { state, problem } = await loadState(dir);
    const registry = new ServiceRegistry(opts, Math.max(definitions?.index ?? 0, state?.index ?? 0));
    if (removed > 0) registry.log.info({ removed }, 'removed temporary files left by an interrupted write');
    if (problem) registry.log.warn(`${problem}; checks start from their initial state`);
    if (definitions) registry.restore(definitions, state);
    return registry;
  }

  private restore(stored: StoredDefinitions, state: StoredState | undefined): void {
    const parseOpts = { minDeregisterAfterMs: this.minDeregisterAfterMs };
    stored.services.forEach((entry, i) => {
      const { service } = parseServiceRegistration(entry.service, {
        ...parseOpts,
        context: `${SERVICES_FILE}: services[${i}].`,
      });
      this.services.set(service.id, {
        def: service,
        source: entry.source,
        maintenance: entry.maintenance,
        health: 'passing',
        // It ran in the agent's previous life: coming back from critical there is a recovery.
        wasUsable: true,
        recoveredAt: undefined,
      });
    });
    stored.checks.forEach((entry, i) => {
      const def = parseCheckRegistration(entry.check, { ...parseOpts, context: `${SERVICES_FILE}: checks[${i}].` });
      if (def.serviceId !== undefined && !this.services.has(def.serviceId)) return;
      const saved: StoredCheckState | undefined = state?.checks[def.id];
      const entryState = this.newCheckEntry(def, entry.source);
      if (saved && !entryState.disabled) {
        entryState.status = saved.status;
        entryState.output = saved.output;
        entryState.since = saved.since;
        entryState.ttlExpiresAt = saved.ttlExpiresAt;
      }
      this.checks.set(def.id, entryState);
    });
    this.nodeMaintenance = stored.nodeMaintenance;
    for (const entry of this.services.values()) entry.health = this.computeHealth(entry);
    this.log.info({ services: this.services.size, checks: this.checks.size }, 'services and checks loaded');
  }

  private get minDeregisterAfterMs(): number {
    return this.opts.minDeregisterAfterMs ?? MIN_DEREGISTER_CRITICAL_AFTER_MS;
  }

  private newCheckEntry(def: CheckDefinition, source: Source): CheckEntry {
    const disabled =
      def.type === 'exec' && source === 'api' && !this.opts.enableExecChecks ? EXEC_DISABLED_MESSAGE : undefined;
    return {
      def,
      source,
      status: disabled ? 'critical' : def.initialStatus,
      output: disabled ?? '',
      since: this.runtime.clock.wallNow(),
      ttlExpiresAt: undefined,
      runner: undefined,
      ttl: undefined,
      disabled,
    };
  }

  // --- lifecycle ---------------------------------------------------------------------------------

  /**
   * Makes the config file's services the registered ones with source `config`: adds or updates
   * each, and removes config services that the config no longer lists. API registrations stay.
   */
  async applyConfig(registrations: readonly Registration[]): Promise<void> {
    const wanted = new Set(registrations.map((r) => r.service.id));
    // All or nothing: a reload (SIGHUP) with one bad definition changes none.
    for (const registration of registrations) this.validate(registration, 'config');
    this.admit(registrations, (id, entry) => entry.source !== 'config' || wanted.has(id));
    for (const [id, entry] of [...this.services]) {
      if (entry.source === 'config' && !wanted.has(id)) await this.removeService(id, 'config');
    }
    for (const registration of registrations) {
      this.validate(registration, 'config');
      this.commit(registration, 'config', true);
    }
    // The config files stay the source of these definitions, and a failed atomic write leaves the
    // old file whole, so nothing is lost by running on: a full disk at start (or at a SIGHUP) must
    // not stop the agent. The next change that writes (or the next start) persists them.
    await this.definitionsWriter.write().catch((err: Error) => {
      this.log.error({ err }, `cannot persist the configured services (running with them anyway): ${err.message}`);
    });
  }

  /** Starts every check's timers, and the reaper. */
  start(): void {
    if (this.running || this.stopped) return;
    this.running = true;
    for (const entry of this.checks.values()) this.startCheck(entry);
    const every = this.opts.reapIntervalMs ?? REAP_INTERVAL_MS;
    const arm = (): void => {
      this.reaper = this.runtime.timers.after(every, () => {
        if (!this.running) return;
        this.reap();
        arm();
      });
    };
    arm();
  }

  /** Stops every timer and check (killing exec checks' processes) and writes the last state. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.running = false;
    this.reaper?.cancel();
    this.reaper = undefined;
    await Promise.all([...this.checks.values()].map((entry) => this.stopCheck(entry)));
    await Promise.all([...this.stopping]);
    await Promise.allSettled([this.definitionsWriter.flush(), this.stateWriter.write()]);
  }

  private startCheck(entry: CheckEntry): void {
    if (!this.running || entry.disabled) return;
    const def = entry.def;
    if (isPolling(def)) {
      entry.runner = new CheckRunner({
        check: def,
        firstDelayMs: this.opts.firstRunDelayMs,
        onResult: (result) => this.applyResult(def.id, entry, result),
        onError: (err) => this.log.error({ err, checkId: def.id }, 'applying a check result failed'),
        runtime: this.runtime,
        onRun: (ms) => {
          entry.lastRunMs = ms;
        },
      });
      entry.runner.start();
      return;
    }
    entry.ttl = new TtlClock(
      def.ttlMs,
      () => {
        entry.ttlExpiresAt = undefined;
        this.applyResult(def.id, entry, ttlExpired(entry.output));
      },
      this.runtime,
    );
    // A TTL check that was reported on before a restart keeps its deadline; a new one starts its clock now.
    if (entry.ttlExpiresAt !== undefined) entry.ttl.resume(entry.ttlExpiresAt);
    else entry.ttlExpiresAt = entry.ttl.reset();
  }

  private async stopCheck(entry: CheckEntry): Promise<void> {
    entry.ttl?.stop();
    entry.ttl = undefined;
    const runner = entry.runner;
    entry.runner = undefined;
    await runner?.stop();
  }

  // --- events ------------------------------------------------------------------------------------

  /** The index of the latest event. */
  get index(): number {
    return this.events.index;
  }

  /** Calls `listener` synchronously for every later event; returns the unsubscribe function. */
  subscribe(listener: RegistryListener): () => void {
    return this.events.subscribe(listener);
  }

  /** Events after `index`, or undefined when they are no longer all kept (take `listServices()` then). */
  since(index: number): RegistryEvent[] | undefined {
    return this.events.since(index);
  }

  private emit(event: PendingEvent): void {
    this.events.emit(event, this.runtime.clock.wallNow());
  }

  // --- mutations ---------------------------------------------------------------------------------

  /**
   * Registers (or re-registers) a service and its checks. Everything is checked before anything
   * changes; the promise settles once the registration is durable in the data directory.
   */
  async register(registration: Registration, options: RegisterOptions = {}): Promise<void> {
    const source = options.source ?? 'api';
    this.assertOpen();
    this.validate(registration, source);
    this.admit([registration]);
    this.commit(registration, source, options.replaceExistingChecks ?? false);
    await this.definitionsWriter.write();
    this.stateWriter.writeSoon(this.stateDelay, this.onWriteError);
  }

  private validate(registration: Registration, source: Source): void {
    const id = registration.service.id;
    const election = registration.service.election;
    if ((election?.onPromote || election?.onDemote) && source === 'api' && !this.opts.enableExecChecks) {
      throw new RegistryError(403, `service "${id}": OnPromote/OnDemote hooks: ${EXEC_DISABLED_MESSAGE}`);
    }
    for (const check of registration.checks) this.validateCheck(check, source, id);
  }

  /**
   * Refuses registrations that would make this node's catalog record unpublishable (413, naming
   * the limit): the services kept (`keep`), with `registrations` added or replacing theirs.
   */
  private admit(
    registrations: readonly Registration[],
    keep: (id: string, entry: ServiceEntry) => boolean = () => true,
  ): void {
    if (this.opts.admit === undefined) return;
    const next = new Map<string, Pick<ServiceView, 'service' | 'health'>>();
    for (const [id, entry] of this.services) {
      if (keep(id, entry)) next.set(id, { service: this.resolved(entry.def), health: entry.health });
    }
    for (const { service } of registrations)
      next.set(service.id, { service: this.resolved(service), health: 'passing' });
    const problem = this.opts.admit([...next.values()]);
    if (problem !== undefined) throw new RegistryError(413, problem);
  }

  private validateCheck(check: CheckDefinition, source: Source, serviceId: string | undefined): void {
    if (isMaintenanceCheckId(check.id)) {
      throw new RegistryError(400, `check ID "${check.id}" is reserved for maintenance mode`);
    }
    const existing = this.checks.get(check.id);
    if (existing && existing.def.serviceId !== serviceId) {
      const owner = existing.def.serviceId === undefined ? 'the node' : `service "${existing.def.serviceId}"`;
      throw new RegistryError(
        409,
        `check ID "${check.id}" is already used by ${owner}; give the check its own CheckID`,
      );
    }
    if (check.type === 'exec' && source === 'api' && !this.opts.enableExecChecks) {
      throw new RegistryError(403, `check "${check.id}": ${EXEC_DISABLED_MESSAGE}`);
    }
  }

  private commit(registration: Registration, source: Source, replaceExistingChecks: boolean): void {
    const { service, checks } = registration;
    const previous = this.services.get(service.id);
    const entry: ServiceEntry = previous ?? {
      def: service,
      source,
      maintenance: undefined,
      health: 'passing',
      wasUsable: false,
      recoveredAt: undefined,
    };
    const changed = !previous || !isDeepStrictEqual(previous.def, service) || previous.source !== source;
    entry.def = service;
    entry.source = source;
    this.services.set(service.id, entry);

    const keep = new Set(checks.map((c) => c.id));
    if (replaceExistingChecks) {
      for (const [id, check] of [...this.checks]) {
        if (check.def.serviceId === service.id && !keep.has(id)) this.dropCheck(id);
      }
    }
    for (const def of checks) this.upsertCheck(def, source);
    if (changed) {
      this.setHealth(entry, this.computeHealth(entry));
      this.emit({ type: 'service-registered', service: this.resolved(service), health: entry.health });
    }
    this.refreshHealth();
  }

  /** Adds a check or replaces its definition; a check that keeps its ID keeps its state. */
  private upsertCheck(def: CheckDefinition, source: Source): void {
    const existing = this.checks.get(def.id);
    if (existing && isDeepStrictEqual(checkToBody(existing.def), checkToBody(def)) && existing.source === source)
      return;
    const entry = this.newCheckEntry(def, source);
    if (existing && !entry.disabled) {
      entry.status = existing.status;
      entry.output = existing.output;
      entry.since = existing.since;
      if (existing.def.type === 'ttl' && def.type === 'ttl') entry.ttlExpiresAt = existing.ttlExpiresAt;
      this.stopInBackground(existing);
    }
    this.checks.set(def.id, entry);
    this.startCheck(entry);
  }

  private dropCheck(id: string): void {
    const entry = this.checks.get(id);
    if (!entry) return;
    this.checks.delete(id);
    this.stopInBackground(entry);
  }

  private stopInBackground(entry: CheckEntry): void {
    const done = this.stopCheck(entry).finally(() => this.stopping.delete(done));
    this.stopping.add(done);
  }

  /** Registers a standalone check (`PUT /v1/agent/check/register`): a node check, or one for an existing service. */
  async registerCheck(def: CheckDefinition, options: { source?: Source } = {}): Promise<void> {
    const source = options.source ?? 'api';
    this.assertOpen();
    if (def.serviceId !== undefined && !this.services.has(def.serviceId)) {
      throw new RegistryError(404, `ServiceID: no service with ID "${def.serviceId}" is registered on this agent`);
    }
    this.validateCheck(def, source, def.serviceId);
    this.upsertCheck(def, source);
    this.refreshHealth();
    await this.definitionsWriter.write();
    this.stateWriter.writeSoon(this.stateDelay, this.onWriteError);
  }

  async deregisterCheck(id: string): Promise<void> {
    this.assertOpen();
    if (isMaintenanceCheckId(id)) {
      throw new RegistryError(400, `"${id}" is a maintenance check: turn maintenance off instead`);
    }
    if (!this.checks.has(id)) throw new RegistryError(404, `no check with ID "${id}" is registered on this agent`);
    this.dropCheck(id);
    this.refreshHealth();
    await this.definitionsWriter.write();
    this.stateWriter.writeSoon(this.stateDelay, this.onWriteError);
  }

  /** Removes a service and its checks. */
  async deregister(id: string): Promise<void> {
    this.assertOpen();
    if (!this.services.has(id)) throw new RegistryError(404, `no service with ID "${id}" is registered on this agent`);
    await this.removeService(id, 'api');
  }

  private async removeService(id: string, reason: 'api' | 'config' | 'critical-too-long'): Promise<void> {
    const entry = this.services.get(id);
    if (!entry) return;
    this.services.delete(id);
    for (const [checkId, check] of [...this.checks]) {
      if (check.def.serviceId === id) this.dropCheck(checkId);
    }
    this.emit({ type: 'service-deregistered', serviceId: id, name: entry.def.name, reason });
    await this.definitionsWriter.write();
    this.stateWriter.writeSoon(this.stateDelay, this.onWriteError);
  }

  /** A TTL check's report (`PUT /v1/agent/check/pass|warn|fail/:id`, or `update`). Restarts its clock. */
  async updateTtl(id: string, status: CheckStatus, output: string): Promise<void> {
    this.assertOpen();
    const entry = this.checks.get(id);
    if (!entry) throw new RegistryError(404, `no check with ID "${id}" is registered on this agent`);
    if (entry.def.type !== 'ttl') {
      throw new RegistryError(
        400,
        `check "${id}" is a ${entry.def.type} check; only TTL checks take pass, warn and fail`,
      );
    }
    entry.ttlExpiresAt = entry.ttl ? entry.ttl.reset() : this.runtime.clock.wallNow() + entry.def.ttlMs;
    this.applyResult(id, entry, { status, output: truncateHead(output, entry.def.outputMaxSize) });
    await this.stateWriter.write();
  }

  /** Puts the node into maintenance, or takes it out. */
  async setNodeMaintenance(enabled: boolean, reason = ''): Promise<void> {
    this.assertOpen();
    const before = this.nodeMaintenance;
    if (enabled) {
      this.nodeMaintenance = {
        reason: reason || DEFAULT_NODE_MAINTENANCE_REASON,
        since: before?.since ?? this.runtime.clock.wallNow(),
      };
    } else {
      this.nodeMaintenance = undefined;
    }
    if (enabled || before) {
      this.emit({
        type: 'maintenance',
        serviceId: undefined,
        enabled,
        reason: this.nodeMaintenance?.reason ?? before?.reason ?? '',
      });
    }
    this.refreshHealth();
    await this.definitionsWriter.write();
  }

  /** Puts one service into maintenance, or takes it out. */
  async setServiceMaintenance(id: string, enabled: boolean, reason = ''): Promise<void> {
    this.assertOpen();
    const entry = this.services.get(id);
    if (!entry) throw new RegistryError(404, `no service with ID "${id}" is registered on this agent`);
    const before = entry.maintenance;
    entry.maintenance = enabled
      ? { reason: reason || DEFAULT_SERVICE_MAINTENANCE_REASON, since: before?.since ?? this.runtime.clock.wallNow() }
      : undefined;
    if (enabled || before) {
      this.emit({
        type: 'maintenance',
        serviceId: id,
        enabled,
        reason: entry.maintenance?.reason ?? before?.reason ?? '',
      });
    }
    this.refreshHealth();
    await this.definitionsWriter.write();
  }

  // --- health ------------------------------------------------------------------------------------

  private applyResult(id: string, entry: CheckEntry, result: CheckResult): void {
    if (this.checks.get(id) !== entry) return; // replaced or removed meanwhile
    const previous = entry.status;
    const outputChanged = entry.output !== result.output;
    entry.output = result.output;
    if (result.status !== previous) {
      entry.status = result.status;
      entry.since = this.runtime.clock.wallNow();
      this.emit({
        type: 'check-updated',
        checkId: id,
        serviceId: entry.def.serviceId,
        status: result.status,
        previous,
        output: result.output,
      });
      this.refreshHealth();
    } else if (!outputChanged) {
      return; // nothing new to write: a steady check does not wear the disk
    }
    this.stateWriter.writeSoon(this.stateDelay, this.onWriteError);
  }

  private computeHealth(entry: ServiceEntry): InstanceHealth {
    const statuses: CheckStatus[] = [];
    for (const check of this.checks.values()) {
      if (check.def.serviceId === entry.def.id || check.def.serviceId === undefined) statuses.push(check.status);
    }
    return aggregateHealth(statuses, this.nodeMaintenance !== undefined || entry.maintenance !== undefined);
  }

  /**
   * A return to passing or warning from critical or maintenance is a recovery (the start of the
   * failback hold-down every agent reads from the record), unless the instance was never usable:
   * a new registration whose checks start critical has not failed, it has not started yet.
   */
  private setHealth(entry: ServiceEntry, health: InstanceHealth): void {
    const usable = health === 'passing' || health === 'warning';
    const wasUsableNow = entry.health === 'passing' || entry.health === 'warning';
    if (usable && !wasUsableNow && entry.wasUsable) entry.recoveredAt = this.runtime.clock.wallNow();
    entry.wasUsable ||= usable;
    entry.health = health;
  }

  /** Recomputes every instance's health and emits an event for each that changed. */
  private refreshHealth(): void {
    for (const entry of this.services.values()) {
      const health = this.computeHealth(entry);
      if (health === entry.health) continue;
      const previous = entry.health;
      this.setHealth(entry, health);
      this.emit({ type: 'health-changed', serviceId: entry.def.id, name: entry.def.name, health, previous });
    }
  }

  /** Deregisters services with a check that has been critical longer than its DeregisterCriticalServiceAfter. */
  reap(now = this.runtime.clock.wallNow()): void {
    for (const check of this.checks.values()) {
      const after = check.def.deregisterCriticalServiceAfterMs;
      const serviceId = check.def.serviceId;
      if (after === undefined || serviceId === undefined || check.status !== 'critical') continue;
      if (now - check.since < after) continue;
      this.log.warn({ serviceId, checkId: check.def.id }, 'check critical for too long: deregistering its service');
      this.removeService(serviceId, 'critical-too-long').catch(this.onWriteError);
    }
  }

  // --- views -------------------------------------------------------------------------------------

  private resolved(service: ServiceDefinition): ServiceDefinition & { zone: string } {
    return { ...service, zone: service.zone ?? this.opts.zone };
  }

  private checkView(entry: CheckEntry): CheckView {
    return {
      definition: entry.def,
      source: entry.source,
      status: entry.status,
      output: entry.output,
      since: entry.since,
      ...(entry.lastRunMs === undefined ? {} : { lastRunMs: entry.lastRunMs }),
    };
  }

  /** Every registered service with its health and checks, sorted by ID. */
  listServices(): ServiceView[] {
    return [...this.services.keys()].sort().map((id) => this.getService(id)!);
  }

  getService(id: string): ServiceView | undefined {
    const entry = this.services.get(id);
    if (!entry) return undefined;
    const own: CheckView[] = [];
    const node: CheckView[] = [];
    for (const check of this.checks.values()) {
      if (check.def.serviceId === id) own.push(this.checkView(check));
      else if (check.def.serviceId === undefined) node.push(this.checkView(check));
    }
    return {
      service: this.resolved(entry.def),
      source: entry.source,
      maintenance: entry.maintenance,
      health: entry.health,
      recoveredAt: entry.recoveredAt,
      checks: [...own, ...node],
    };
  }

  /** Every registered check (node checks and service checks), sorted by ID. */
  listChecks(): CheckView[] {
    return [...this.checks.keys()].sort().map((id) => this.checkView(this.checks.get(id)!));
  }

  getNodeMaintenance(): Maintenance | undefined {
    return this.nodeMaintenance;
  }

  get execChecksEnabled(): boolean {
    return this.opts.enableExecChecks ?? false;
  }

  // --- persistence -------------------------------------------------------------------------------

  private get stateDelay(): number {
    return this.opts.stateWriteDelayMs ?? 200;
  }

  private readonly onWriteError = (err: unknown) => {
    this.log.error({ err }, 'writing the services state to the data directory failed');
  };

  private assertOpen(): void {
    if (this.stopped) throw new RegistryError(503, 'the agent is stopping');
  }

  private storedDefinitions(): StoredDefinitions {
    return {
      version: STORE_VERSION,
      index: this.events.index,
      services: [...this.services.values()].map((entry) => ({
        source: entry.source,
        service: serviceToBody(entry.def),
        ...(entry.maintenance ? { maintenance: entry.maintenance } : {}),
      })),
      checks: [...this.checks.values()].map((entry) => ({ source: entry.source, check: checkToBody(entry.def) })),
      ...(this.nodeMaintenance ? { nodeMaintenance: this.nodeMaintenance } : {}),
    };
  }

  private storedState(): StoredState {
    const checks: Record<string, StoredCheckState> = {};
    for (const [id, entry] of this.checks) {
      checks[id] = {
        status: entry.status,
        output: entry.output,
        since: entry.since,
        ...(entry.ttlExpiresAt !== undefined ? { ttlExpiresAt: entry.ttlExpiresAt } : {}),
      };
    }
    return { version: STORE_VERSION, index: this.events.index, checks };
  }
}
