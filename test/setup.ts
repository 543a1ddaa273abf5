import fc from 'fast-check';

// Property tests run on a fixed seed so CI cannot flake; FC_SEED=random (or a number) explores
// other inputs locally (the property files read FC_RUNS for the number of runs).
const seedEnv = process.env.FC_SEED;
const seed = seedEnv === 'random' ? Date.now() ^ (Math.random() * 2 ** 31) : Number(seedEnv ?? 20261127);
fc.configureGlobal({ seed });
