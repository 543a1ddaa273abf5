/** What one load window gave, whichever generator ran it (load/run.ts). */
export interface Window {
  total: number;
  rps: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  durationS: number;
  errors: number;
  timeouts: number;
  non2xx: number;
  statusCodes: Record<string, number>;
  failures: number;
  /** A generator in a process of its own (wrk, h2load): its CPU over the window, ms. */
  generatorCpuMs?: number;
}
