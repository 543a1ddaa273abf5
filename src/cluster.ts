import cluster, { type Worker } from 'node:cluster';
import { hostname } from 'node:os';
import { pino, type Logger } from 'pino';
import { AggregatorRegistry, Counter, Gauge, Registry } from 'prom-client';
import type { Config } from './config.js';

/**
 * Serving from every core (PROCESSES > 1): node:cluster, one primary and PROCESSES serving
 * processes. The primary serves nothing itself: it forks the processes, replaces one that dies
 * while the others serve, drains them all on SIGTERM / SIGINT, and answers their /metrics with
 * the sum over all of them (prom-client's AggregatorRegistry). Each serving process runs
 * src/server.ts's serving path unchanged: its own listener(s) on the shared port (the primary
 * accepts and hands connections out round-robin, Node's default on Linux), its own pool of
 * WORKERS threads and its own share of the memory budget. A second listener started there (a
 * gRPC server on its own port) is shared the same way and drained by the same close.
 *
 * Messages between them (IPC):
 *   primary -> process  {type: 'anymax:state', ready, draining}  after every change
 *   primary -> process  {type: 'anymax:drain', signal}            stop: close, finish, exit 0
 *   process -> primary  {type: 'anymax:metrics', id}              its /metrics wants the sum
 *   primary -> process  {type: 'anymax:collect', id}              your registry, please
 *   process -> primary  {type: 'anymax:part', id, metrics}        getMetricsAsJSON()
 *   primary -> process  {type: 'anymax:metrics', id, text | error}
 * The primary asks only the processes that listen, and a scrape does not wait for one that
 * exits meanwhile: prom-client's own clusterMetrics() asks every connected process, so a scrape
 * while a replacement starts (connected, not yet answering) waited 5 s and failed.
 */

const STATE = 'anymax:state';
const DRAIN = 'anymax:drain';
const METRICS = 'anymax:metrics';
const COLLECT = 'anymax:collect';
const PART = 'anymax:part';
/** A scrape gives up on a process that has not answered within this (its loop is stuck). */
const COLLECT_TIMEOUT_MS = 5000;

/** What a serving process knows of the service it is part of (src/app.ts uses it). */
export interface ServiceLink {
  /** Log bindings naming this process. */
  bindings: Record<string, unknown>;
  /** Called once with the process's registry: the primary may ask for it from then on. */
  attach(registry: Registry): void;
  /** The service's part of readiness: every process started once, and no drain under way. */
  ready(): boolean;
  /** The /metrics text of the whole service. */
  metrics(): Promise<string>;
  /**
   * Runs fn once, when the primary says drain or this process gets SIGTERM itself (then it exits
   * and the primary replaces it). SIGINT is left to the primary: a terminal's Ctrl-C reaches the
   * whole group, and a process that drained on its own would exit before the primary knew it
   * was stopping, and be replaced. The caller leaves both signals to this link.
   */
  onDrain(fn: (signal: string) => void): void;
}

/** The link of a serving process forked by runPrimary; undefined when this process is not one. */
export function joinService(): ServiceLink | undefined {
  const worker = cluster.worker;
  if (!cluster.isWorker || !worker) return undefined;
  let state = { ready: false, draining: false };
  let drain: ((signal: string) => void) | undefined;
  let drainSignal: string | undefined;
  let nextId = 0;
  let registry: Registry | undefined;
  const pending = new Map<number, { resolve(text: string): void; reject(e: Error): void }>();
  const drainOnce = (signal: string) => {
    if (drainSignal) return;
    drainSignal = signal;
    drain?.(signal);
  };
  process.on('SIGTERM', () => drainOnce('SIGTERM'));
  process.on('SIGINT', () => {});
  process.on('message', (msg: { type?: string; id?: number; text?: string; error?: string; signal?: string; ready?: boolean; draining?: boolean }) => {
    if (msg?.type === STATE) state = { ready: msg.ready === true, draining: msg.draining === true };
    else if (msg?.type === DRAIN) drainOnce(msg.signal ?? 'SIGTERM');
    else if (msg?.type === COLLECT && registry) {
      const id = msg.id;
      registry.getMetricsAsJSON().then(
        (metrics) => process.send?.({ type: PART, id, metrics }),
        (err: Error) => process.send?.({ type: PART, id, error: err.message }),
      );
    }
    else if (msg?.type === METRICS && typeof msg.id === 'number') {
      const p = pending.get(msg.id);
      pending.delete(msg.id);
      if (msg.error !== undefined) p?.reject(new Error(msg.error));
      else p?.resolve(msg.text ?? '');
    }
  });
  return {
    bindings: { proc: worker.id },
    attach(r) {
      registry = r;
    },
    ready: () => state.ready && !state.draining,
    metrics() {
      const id = nextId++;
      return new Promise<string>((resolve, reject) => {
        // The primary gives up on a silent process after COLLECT_TIMEOUT_MS; this is a backstop.
        const timer = setTimeout(() => {
          pending.delete(id);
          reject(new Error(`the primary did not answer within ${COLLECT_TIMEOUT_MS + 2000} ms`));
        }, COLLECT_TIMEOUT_MS + 2000);
        pending.set(id, {
          resolve: (t) => (clearTimeout(timer), resolve(t)),
          reject: (e) => (clearTimeout(timer), reject(e)),
        });
        process.send!({ type: METRICS, id });
      });
    },
    onDrain(fn) {
      drain = fn;
      if (drainSignal) fn(drainSignal);
    },
  };
}

/**
 * The primary: forks config.processes serving processes (each runs this same entry point, whose
 * config is read from the same environment), keeps that many running, and drains them on a
 * signal. Resolves with the exit code once the last one has exited after a drain.
 */
export function runPrimary(config: Config): Promise<number> {
  const log: Logger = pino({ level: config.logLevel, base: { pid: process.pid, hostname: hostname(), proc: 'primary' } });
  const registry = new Registry();
  const listening = new Set<number>();
  const restarts = new Counter({ name: 'anymax_process_restarts_total', help: 'Serving processes replaced after they died', registers: [registry] });
  new Gauge({
    name: 'anymax_processes',
    help: 'Serving processes listening (PROCESSES is the target)',
    registers: [registry],
    collect() {
      this.set(listening.size);
    },
  });
  let started = false;
  let draining: NodeJS.Signals | undefined;
  let failedExits = 0;
  // Replacement backoff: a process that dies within a second of its start doubles the wait
  // before the next one (100 ms to 10 s), so a crash at start-up does not become a fork loop.
  let backoffMs = 0;
  // Live processes by id, kept here: Node removes a worker from cluster.workers at its exit or
  // at its IPC channel's close, whichever comes last, so at the last 'exit' cluster.workers
  // could still list it (and nothing would end the drain).
  const bornAt = new Map<number, number>();
  // With PORT=0 the first listen picks the port and Node's cluster gives every later listen(0)
  // the same one while a process holds it (naming that port instead would ask for a second
  // socket on it: EADDRINUSE). Only logged here.
  let port = config.port;

  const broadcast = () => {
    const msg = { type: STATE, ready: started, draining: draining !== undefined };
    for (const w of Object.values(cluster.workers ?? {})) if (w?.isConnected()) w.send(msg);
  };
  const fork = () => {
    const w = cluster.fork();
    bornAt.set(w.id, Date.now());
    return w;
  };

  let onDone: (code: number) => void;
  const done = new Promise<number>((resolve) => (onDone = resolve));

  cluster.on('listening', (w: Worker, address) => {
    listening.add(w.id);
    if (port === 0 && typeof address.port === 'number') port = address.port;
    if (!started && listening.size >= config.processes) {
      started = true;
      log.info({ processes: config.processes, workers: config.workers, port }, 'all processes listening');
    }
    broadcast();
  });
  // Scrapes in progress: the processes still to answer, and the answers.
  type Part = Awaited<ReturnType<Registry['getMetricsAsJSON']>>;
  const scrapes = new Map<number, { waiting: Set<number>; parts: Part[]; settle(err?: Error): void }>();
  let nextScrape = 0;
  /** The sum over every listening process (AggregatorRegistry.aggregate), and the primary's own. */
  const scrape = (): Promise<string> =>
    new Promise((resolve, reject) => {
      const id = nextScrape++;
      const targets = [...listening].map((wid) => cluster.workers?.[wid]).filter((w): w is Worker => !!w?.isConnected());
      const s = {
        waiting: new Set(targets.map((w) => w.id)),
        parts: [] as Part[],
        settle: (err?: Error) => {
          if (!scrapes.delete(id)) return;
          clearTimeout(timer);
          if (err) return reject(err);
          registry
            .getMetricsAsJSON()
            .then((own) => AggregatorRegistry.aggregate([...s.parts, own]).metrics())
            .then(resolve, reject);
        },
      };
      const timer = setTimeout(() => s.settle(new Error(`a process did not give its metrics within ${COLLECT_TIMEOUT_MS} ms`)), COLLECT_TIMEOUT_MS);
      scrapes.set(id, s);
      for (const w of targets) w.send({ type: COLLECT, id });
      if (s.waiting.size === 0) s.settle();
    });
  const answered = (wid: number, id: number, part?: Part, error?: string) => {
    const s = scrapes.get(id);
    if (!s || !s.waiting.delete(wid)) return;
    if (error !== undefined) return s.settle(new Error(error));
    if (part) s.parts.push(part);
    if (s.waiting.size === 0) s.settle();
  };
  cluster.on('message', (w: Worker, msg: { type?: string; id?: number; metrics?: Part; error?: string }) => {
    if (msg?.type === PART && typeof msg.id === 'number') answered(w.id, msg.id, msg.metrics, msg.error);
    if (msg?.type !== METRICS) return;
    scrape().then(
      (text) => w.isConnected() && w.send({ type: METRICS, id: msg.id, text }),
      (err: Error) => w.isConnected() && w.send({ type: METRICS, id: msg.id, error: err.message }),
    );
  });
  cluster.on('exit', (w: Worker, code, signal) => {
    listening.delete(w.id);
    // A scrape does not wait for a process that is gone (its counts went with it).
    for (const id of [...scrapes.keys()]) answered(w.id, id);
    const lived = Date.now() - (bornAt.get(w.id) ?? 0);
    bornAt.delete(w.id);
    if (draining) {
      if (code !== 0) failedExits++;
      log.info({ exited: w.process.pid, code, signal }, 'process exited');
      if (bornAt.size === 0) onDone(failedExits ? 1 : 0);
      return;
    }
    backoffMs = lived < 1000 ? Math.min(Math.max(backoffMs * 2, 100), 10_000) : 0;
    log.error({ exited: w.process.pid, code, signal, replaceInMs: backoffMs }, 'process died, replacing it');
    restarts.inc();
    broadcast();
    setTimeout(() => {
      if (!draining) fork();
    }, backoffMs);
  });

  const stop = (signal: NodeJS.Signals) => {
    if (draining) {
      // A second signal: as close-with-grace does in one process, stop now.
      log.error({ signal }, 'second signal, killing the processes');
      for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGKILL');
      process.exit(1);
    }
    draining = signal;
    log.info({ signal }, 'shutting down');
    broadcast();
    for (const w of Object.values(cluster.workers ?? {})) if (w?.isConnected()) w.send({ type: DRAIN, signal });
    if (bornAt.size === 0) onDone(0);
    // Each process bounds its own drain (REQUEST_TIMEOUT_MS + 5 s, src/server.ts); past that
    // and a margin, whatever is left is killed. (process.exit ends the primary before it when
    // the drain ends in time.)
    setTimeout(() => {
      log.error('processes still running after the drain deadline, killing them');
      for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGKILL');
      onDone(1);
    }, config.requestTimeoutMs + 10_000);
  };
  for (const sig of ['SIGTERM', 'SIGINT'] as const) process.on(sig, stop);

  for (let i = 0; i < config.processes; i++) fork();
  return done;
}
