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

/** VmRSS in bytes. */
export async function rssBytes(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
  if (!m) throw new Error(`no VmRSS for ${pid}`);
  return Number(m[1]) * 1024;
}

/** RssAnon (heap, stacks) and RssFile (mapped code: the node binary, shared libraries), in bytes. */
export async function rssParts(pid: number): Promise<{ anon: number; file: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) =>
    Number(new RegExp(`^${field}:\\s+(\\d+)\\s+kB`, 'm').exec(status)?.[1] ?? Number.NaN) * 1024;
  return { anon: kb('RssAnon'), file: kb('RssFile') };
}

/**
 * Starts a working-set window: clears the referenced bits of every page the process maps (needs
 * root or the process's owner). `referencedBytes` later sums the pages touched since.
 */
export async function clearReferenced(pid: number): Promise<void> {
  await writeFile(`/proc/${pid}/clear_refs`, '1');
}

/**
 * Bytes of the pages the process touched since `clearReferenced` (smaps_rollup's Referenced): its
 * working set over the window. RSS also counts pages mapped once and never used again (most of the
 * Node binary's code after start-up), which cost nothing under memory pressure: clean file pages
 * are reclaimed, so this is the part a host pays for.
 */
export async function referencedBytes(pid: number): Promise<number> {
  const rollup = await readFile(`/proc/${pid}/smaps_rollup`, 'utf8');
  const m = /^Referenced:\s+(\d+)\s+kB/m.exec(rollup);
  if (!m) throw new Error(`no Referenced for ${pid}`);
  return Number(m[1]) * 1024;
}
