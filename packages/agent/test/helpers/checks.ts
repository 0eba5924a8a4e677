import type { PollingCheck } from '../../src/health/check-runner.ts';
import type { CheckDefinition } from '../../src/services/definition.ts';
import { parseCheckRegistration } from '../../src/services/registration.ts';

/** A check definition from a Consul-shaped body, as the API would produce it. */
export function checkOf(body: Record<string, unknown>): CheckDefinition {
  return parseCheckRegistration({ Name: 'test', ...body });
}

export function pollingCheckOf(body: Record<string, unknown>): PollingCheck {
  const check = checkOf(body);
  if (check.type === 'ttl') throw new Error('not a polling check');
  return check;
}

/** Runs a probe once with its own timeout, as the runner would. */
export function probeCtx(timeoutMs = 5000, outputMaxSize = 4096) {
  return { signal: AbortSignal.timeout(timeoutMs), outputMaxSize };
}
