/**
 * `npx vigil agent` (and npm scripts) run the agent as npm's grandchild, through `sh -c`. A
 * SIGTERM to npm (systemd with KillMode=process, `docker stop` with npx as PID 1, a supervisor
 * that signals the pid it started) ends npm and the shell but never reaches the agent, which ran
 * on as an orphan. When npm launched the agent, its parent going away therefore means the launch
 * was stopped, and the agent stops as for SIGTERM. An agent started any other way (a service
 * manager, `nohup`, a shell that exits) is left alone: there a parent's exit means nothing.
 */

/** How often the parent is checked; the stop then starts within this. */
export const LAUNCHER_CHECK_MS = 500;

export function launchedByNpm(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.npm_execpath !== undefined && (env.npm_command !== undefined || env.npm_lifecycle_event !== undefined);
}

/** Calls `onGone` once the process that started this one has exited; returns the cancel. */
export function watchLauncher(onGone: () => void): () => void {
  const parent = process.ppid;
  const timer = setInterval(() => {
    if (process.ppid === parent) return;
    clearInterval(timer);
    onGone();
  }, LAUNCHER_CHECK_MS);
  timer.unref();
  return () => clearInterval(timer);
}
