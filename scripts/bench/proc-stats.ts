// Per-process CPU time and resident memory from /proc, read the same way for Serf and Vigil.

import { readFile, writeFile } from 'node:fs/promises';

/** Linux USER_HZ; `getconf CLK_TCK` is 100 on every mainstream kernel build. */
const CLK_TCK = 100;

/** utime + stime of a process, in seconds. */
export async function cpuSeconds(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) is in parentheses and may contain spaces: split after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // After the name, fields start at 3 (state); utime is field 14 and stime 15.
  return (Number(fields[14 - 3]) + Number(fields[15 - 3])) / CLK_TCK;
}

/** The bytes of a "Field:   123 kB" line of a /proc file. */
function kbField(text: string, field: string, pid: number): number {
  const m = new RegExp(`^${field}:\\s+(\\d+)\\s+kB`, 'm').exec(text);
  if (!m) throw new Error(`no ${field} for ${pid}`);
  return Number(m[1]) * 1024;
}

/**
 * From /proc/PID/status, in bytes: VmRSS, and two of its parts, RssAnon (heap, stacks) and RssFile
 * (mapped code: the node binary, shared libraries); the third, RssShmem, is left out.
 */
export async function rssParts(pid: number): Promise<{ rss: number; anon: number; file: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return {
    rss: kbField(status, 'VmRSS', pid),
    anon: kbField(status, 'RssAnon', pid),
    file: kbField(status, 'RssFile', pid),
  };
}

/**
 * Starts a working-set window: clears the referenced bits of every page the process maps (needs
 * root or the process's owner). `rollupBytes` later sums the pages touched since.
 */
export async function clearReferenced(pid: number): Promise<void> {
  await writeFile(`/proc/${pid}/clear_refs`, '1');
}

/**
 * From smaps_rollup, in bytes:
 * - `referenced`: the pages the process touched since `clearReferenced`, its working set over the
 *   window. RSS also counts pages mapped once and never used again (most of the Node binary's code
 *   after start-up), which cost nothing under memory pressure: clean file pages are reclaimed.
 * - `pss`: resident memory with each shared page divided among the processes that map it, so N
 *   agents running one binary each pay 1/N of its code: what the host pays per agent.
 */
export async function rollupBytes(pid: number): Promise<{ referenced: number; pss: number }> {
  const rollup = await readFile(`/proc/${pid}/smaps_rollup`, 'utf8');
  return { referenced: kbField(rollup, 'Referenced', pid), pss: kbField(rollup, 'Pss', pid) };
}
