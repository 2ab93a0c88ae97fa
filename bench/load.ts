/** The load loop every benchmark client runs: `inflight` calls kept going, a measured window after a warm-up. */

/** Keeps `inflight` calls going for `ms` after a warm-up; prints "start" and "stop" around the measured window. */
export async function load(
  call: (i: number) => Promise<unknown>,
  ms: number,
  inflight: number,
  warmMs = 700,
): Promise<{ calls: number; lat: Float64Array }> {
  const lat = new Float64Array(5_000_000);
  let n = 0;
  let k = 0;
  let measuring = false;
  let stop = false;
  const worker = async (): Promise<void> => {
    while (!stop) {
      const t0 = performance.now();
      await call(k++);
      if (measuring && !stop && n < lat.length) lat[n++] = performance.now() - t0;
    }
  };
  const workers = Array.from({ length: inflight }, worker);
  await new Promise((r) => setTimeout(r, warmMs));
  measuring = true;
  process.stdout.write("start\n");
  await new Promise((r) => setTimeout(r, ms));
  stop = true;
  process.stdout.write("stop\n");
  await Promise.all(workers);
  return { calls: n, lat: lat.subarray(0, n) };
}

/** The `p`th percentile of latencies. */
export function pct(lat: Float64Array, p: number): number {
  const s = Float64Array.from(lat).sort();
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? 0;
}
