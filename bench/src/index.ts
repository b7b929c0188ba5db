/** What other benchmarks need to write results the summary understands. */
export type { HarnessResult, MachineInfo, ResultRow, Target } from "./results.js";
export { machineInfo } from "./results.js";
