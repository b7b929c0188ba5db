import { readFileSync } from "node:fs";
import { UsageError } from "./errors.js";

/**
 * The producer key: from `--key-file` (trailing newline trimmed) or TIDINGS_INGEST_KEY. Never taken from
 * argv itself, where every user of the machine could read it in the process list.
 */
export function producerKey(keyFile: string | undefined, env: NodeJS.ProcessEnv): string | undefined {
  if (keyFile !== undefined) {
    let text: string;
    try {
      text = readFileSync(keyFile, "utf8");
    } catch (err) {
      throw new UsageError(`--key-file ${keyFile}: ${(err as Error).message}`);
    }
    const key = text.trim();
    if (key === "") throw new UsageError(`--key-file ${keyFile} is empty`);
    return key;
  }
  const fromEnv = env["TIDINGS_INGEST_KEY"];
  return fromEnv === undefined || fromEnv === "" ? undefined : fromEnv;
}
