// Observable Plot and d3, loaded by index.html as classic scripts: their UMD builds, served from
// node_modules by src/plugins/playground.ts (Plot's ES module entry imports d3's sub-packages by
// bare name, which needs a bundler). This module hands them to the page's modules.
export const d3 = globalThis.d3;
export const Plot = globalThis.Plot;
if (!d3 || !Plot) throw new Error('playground: d3 or Observable Plot did not load');
