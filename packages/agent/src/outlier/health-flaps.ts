// The author's side of health-flap damping: remembers when each local instance's health flipped
// between critical and usable, so its record can carry the last few flip times (InstanceRecord
// `flaps`) and every agent can damp a flapping instance from the same shared data.

import { MAX_OPINION_TRANSITIONS } from '@vigil/protocol';

interface Entry {
  critical: boolean;
  flaps: number[];
}

export class HealthFlaps {
  private readonly entries = new Map<string, Entry>();

  /** Notes the current health of each instance (by id) at `now`; returns each one's flip times. */
  note(instances: readonly { id: string; critical: boolean }[], now: number): ReadonlyMap<string, readonly number[]> {
    const seen = new Set<string>();
    for (const { id, critical } of instances) {
      seen.add(id);
      const e = this.entries.get(id);
      if (e === undefined) {
        this.entries.set(id, { critical, flaps: [] });
        continue;
      }
      if (e.critical === critical) continue;
      e.critical = critical;
      const last = e.flaps[e.flaps.length - 1];
      e.flaps.push(last !== undefined && now <= last ? last + 1 : Math.floor(now));
      if (e.flaps.length > MAX_OPINION_TRANSITIONS) e.flaps.shift();
    }
    for (const id of this.entries.keys()) if (!seen.has(id)) this.entries.delete(id);
    return new Map([...this.entries].map(([id, e]) => [id, e.flaps]));
  }
}
