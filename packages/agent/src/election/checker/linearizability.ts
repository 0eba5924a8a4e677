/**
 * A linearizability checker in the style of Porcupine (Wing & Gong's search with Lowe's
 * memoization): operations are lifted from a linked list of call/return events in every order the
 * real-time constraints allow, and a (linearized set, model state) pair already explored is never
 * explored again. Histories are checked per partition (P-compositionality: for a KV store, per
 * key), which keeps each search small.
 *
 * An operation whose outcome the client never learned has `ret = Infinity`: it may take effect
 * at any point after its call, including after every other operation.
 */
export interface Operation<I, O> {
  client: number;
  call: number;
  ret: number;
  input: I;
  output: O;
}

export interface Model<S, I, O> {
  init(): S;
  /** The state after applying `input` with observed `output`, or undefined when that output is impossible. */
  step(state: S, input: I, output: O): S | undefined;
  /** A canonical string of a state, for memoization. */
  key(state: S): string;
  /** Splits a history into independent parts (default: one part). */
  partition?(ops: Operation<I, O>[]): Operation<I, O>[][];
}

export type CheckResult = 'ok' | 'illegal' | 'unknown';

interface Event {
  op: number;
  call: boolean;
  time: number;
  match: Event | undefined;
  prev: Event | undefined;
  next: Event | undefined;
}

/** Checks `history` against `model`; 'unknown' when a part exceeds `budget` search steps. */
export function checkLinearizable<S, I, O>(
  model: Model<S, I, O>,
  history: Operation<I, O>[],
  budget = 1_000_000,
): { result: CheckResult; failedPart?: Operation<I, O>[] } {
  const parts = model.partition ? model.partition(history) : [history];
  let result: CheckResult = 'ok';
  for (const part of parts) {
    const r = checkPart(model, part, budget);
    if (r === 'illegal') return { result: r, failedPart: part };
    if (r === 'unknown') result = 'unknown';
  }
  return { result };
}

function checkPart<S, I, O>(model: Model<S, I, O>, ops: Operation<I, O>[], budget: number): CheckResult {
  if (ops.length === 0) return 'ok';
  const events: Event[] = [];
  ops.forEach((op, i) => {
    const call: Event = { op: i, call: true, time: op.call, match: undefined, prev: undefined, next: undefined };
    const ret: Event = { op: i, call: false, time: op.ret, match: undefined, prev: undefined, next: undefined };
    call.match = ret;
    events.push(call, ret);
  });
  // Calls before returns at equal times: touching operations count as concurrent (the lenient reading).
  events.sort((a, b) => a.time - b.time || (a.call === b.call ? 0 : a.call ? -1 : 1));
  const head: Event = { op: -1, call: false, time: 0, match: undefined, prev: undefined, next: undefined };
  let prev = head;
  for (const e of events) {
    prev.next = e;
    e.prev = prev;
    prev = e;
  }

  const lift = (e: Event): void => {
    e.prev!.next = e.next;
    if (e.next) e.next.prev = e.prev;
    const m = e.match!;
    m.prev!.next = m.next;
    if (m.next) m.next.prev = m.prev;
  };
  const unlift = (e: Event): void => {
    const m = e.match!;
    m.prev!.next = m;
    if (m.next) m.next.prev = m;
    e.prev!.next = e;
    if (e.next) e.next.prev = e;
  };

  const linearized = new Uint8Array(ops.length);
  const bits = (): string => {
    let s = '';
    for (let i = 0; i < linearized.length; i += 8) {
      let b = 0;
      for (let j = 0; j < 8 && i + j < linearized.length; j++) b |= linearized[i + j]! << j;
      s += String.fromCharCode(b);
    }
    return s;
  };
  const cache = new Set<string>();
  const stack: { event: Event; state: S }[] = [];
  let state = model.init();
  let entry = head.next;
  let steps = 0;
  while (head.next) {
    if (++steps > budget) return 'unknown';
    if (!entry) return 'illegal'; // cannot happen: a return event always ends the scan
    if (entry.call) {
      const op = ops[entry.op]!;
      const next = model.step(state, op.input, op.output);
      if (next !== undefined) {
        linearized[entry.op] = 1;
        const key = `${bits()}|${model.key(next)}`;
        if (!cache.has(key)) {
          cache.add(key);
          stack.push({ event: entry, state });
          state = next;
          lift(entry);
          entry = head.next;
          continue;
        }
        linearized[entry.op] = 0;
      }
      entry = entry.next;
    } else {
      // A return we cannot get past: undo the latest linearization and try its next alternative.
      const top = stack.pop();
      if (!top) return 'illegal';
      state = top.state;
      linearized[top.event.op] = 0;
      unlift(top.event);
      entry = top.event.next;
    }
  }
  return 'ok';
}
