import { appendFileSync } from "node:fs";
import fc from "fast-check";

export { fc };

/**
 * Generated inputs per fuzz run, across all `*.fuzz.test.ts` targets: TIDINGS_FUZZ_RUNS (default
 * 10,000, what the test command runs; `pnpm fuzz` sets 100,000). Each target takes a fixed share.
 */
export const DEFAULT_FUZZ_RUNS = 10_000;

export function fuzzBudget(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env["TIDINGS_FUZZ_RUNS"];
  if (raw === undefined || raw === "") return DEFAULT_FUZZ_RUNS;
  const total = Number(raw);
  if (!Number.isSafeInteger(total) || total < 1) throw new RangeError(`TIDINGS_FUZZ_RUNS must be a positive integer, got ${raw}`);
  return total;
}

/** Time limit of a fuzz test: generous, since the machine may be shared; a hang still ends the run. */
export function fuzzTimeoutMs(): number {
  return 60_000 + fuzzBudget() * 5;
}

/** This target's number of inputs: `share` of the budget (a fraction), at least 1. */
export function fuzzRuns(share: number): number {
  return Math.max(1, Math.round(fuzzBudget() * share));
}

export interface FuzzOutcome {
  target: string;
  inputs: number;
  seconds: number;
  inputsPerSecond: number;
  /** Slowest single input, in milliseconds. */
  slowestMs: number;
}

export interface FuzzOptions {
  /** Fraction of the budget this target runs. */
  share: number;
  /** An input slower than this is a failure (a hang, or a pathological slow path). */
  maxMsPerInput: number;
  /** Inputs checked at once (for I/O-bound targets); fast-check then generates and shrinks groups of this many. */
  concurrency?: number;
  /** Reproduce a failure: the seed fast-check printed. */
  seed?: number;
}

/**
 * Runs `check` on `fuzzRuns(share)` generated inputs (fast-check shrinks any failure to a minimal
 * counterexample and prints its seed). `check` fails by throwing or returning false; every input
 * must also finish within maxMsPerInput. Prints `fuzz <target>: …` with inputs/s and, when
 * TIDINGS_FUZZ_REPORT names a file, appends the outcome to it as one JSON line.
 */
export async function fuzz<T>(
  target: string,
  arbitrary: fc.Arbitrary<T>,
  check: (input: T) => boolean | void | Promise<boolean | void>,
  options: FuzzOptions,
): Promise<FuzzOutcome> {
  const concurrency = options.concurrency ?? 1;
  const runs = Math.max(1, Math.round(fuzzRuns(options.share) / concurrency));
  const inputs = runs * concurrency;
  let slowestMs = 0;
  const timed = async (input: T): Promise<boolean> => {
    const started = performance.now();
    const verdict = await check(input);
    const ms = performance.now() - started;
    slowestMs = Math.max(slowestMs, ms);
    if (ms > options.maxMsPerInput) throw new Error(`input took ${ms.toFixed(0)} ms (limit ${options.maxMsPerInput} ms)`);
    return verdict !== false;
  };
  // Always groups (of one when sequential), so that one property type serves both.
  const property = fc.asyncProperty(fc.array(arbitrary, { minLength: concurrency, maxLength: concurrency }), async (group) =>
    (await Promise.all(group.map(timed))).every(Boolean),
  );
  const started = performance.now();
  await fc.assert(property, { numRuns: runs, ...(options.seed === undefined ? {} : { seed: options.seed }) });
  const seconds = (performance.now() - started) / 1000;
  const outcome: FuzzOutcome = { target, inputs, seconds, inputsPerSecond: Math.round(inputs / seconds), slowestMs: Math.round(slowestMs) };
  report(outcome);
  return outcome;
}

/** Prints one target's figures and records them for `pnpm fuzz`'s summary. */
export function report(outcome: FuzzOutcome): void {
  console.log(
    `fuzz ${outcome.target}: ${outcome.inputs} inputs in ${outcome.seconds.toFixed(1)} s ` +
      `(${outcome.inputsPerSecond} inputs/s, slowest ${outcome.slowestMs} ms), 0 crashes, 0 hangs`,
  );
  const file = process.env["TIDINGS_FUZZ_REPORT"];
  if (file !== undefined && file !== "") appendFileSync(file, `${JSON.stringify(outcome)}\n`);
}

export { chunked, concatBytes, mutated } from "./bytes.js";
export { audienceText, envelope, jsonJunk, maybe } from "./envelopes.js";
