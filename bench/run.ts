// Runs every benchmark in bench/ (files named *.bench.ts, each exporting `run`), one after another.
// Benchmarks print our throughput beside the same workload on the raw local disk or socket, as a ratio.
import { readdirSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { dirname, join } from 'node:path';

const here = dirname(fileURLToPath(import.meta.url));
const only = process.argv.slice(2);
const files = readdirSync(here)
  .filter((name) => name.endsWith('.bench.ts'))
  .filter((name) => only.length === 0 || only.some((filter) => name.includes(filter)))
  .sort();

for (const file of files) {
  const module = (await import(pathToFileURL(join(here, file)).href)) as { run: () => Promise<void> };
  console.log(`\n== ${file.replace(/\.bench\.ts$/, '')} ==`);
  await module.run();
}
