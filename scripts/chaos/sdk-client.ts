// A chaos run's application: the SDK on its host's agent, one request to http://echo/ every
// 200 ms with a 3 s deadline, one JSON line per outcome on stdout ({t, ok, ms, err}). Started by
// chaos.ts inside a host's namespace; stops on SIGTERM.
import { connect } from '@vigil/sdk';

const mesh = await connect();
let running = true;
process.on('SIGTERM', () => {
  running = false;
});
while (running) {
  const t = Date.now();
  try {
    const res = await mesh.fetch('http://echo/', { mesh: { retries: 2, timeoutMs: 1_000, deadlineMs: 3_000 } });
    await res.text();
    console.log(
      JSON.stringify({
        t,
        ok: res.status === 200,
        ms: Date.now() - t,
        err: res.status === 200 ? undefined : `HTTP ${res.status}`,
      }),
    );
  } catch (err) {
    console.log(
      JSON.stringify({ t, ok: false, ms: Date.now() - t, err: `${(err as Error).name}: ${(err as Error).message}` }),
    );
  }
  await new Promise((r) => setTimeout(r, 200));
}
await mesh.close();
process.exit(0);
