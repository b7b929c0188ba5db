/**
 * Child process for the crash test: opens the embedded store in the data directory given as the
 * first argument, saves one notification and marks it read, prints the results, then kills itself
 * with SIGKILL, so nothing is closed or flushed on the way out.
 */
import { createStore } from "../src/create-store.js";
import { STORE_T0 as T0, storedNote as note } from "@tidings/testkit";

const dataDir = process.argv[2];
if (dataDir === undefined) throw new Error("usage: save-then-crash.ts <dataDir>");
const handle = await createStore({ dataDir, clock: () => T0 });
const saved = await handle.store.save(note("user:u1", "survivor"));
const state = await handle.store.setState({ userId: "u1", audienceId: "user:u1", notificationId: "survivor", now: T0, read: true });
process.stdout.write(JSON.stringify({ saved, changed: state.changed }) + "\n");
process.kill(process.pid, "SIGKILL");
