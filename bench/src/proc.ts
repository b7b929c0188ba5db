/**
 * Child processes of a benchmark run and the tiny request/response protocol spoken over their IPC
 * channel. The orchestrator (`run.ts`) starts every server and client as its own Node process, so
 * the server's `process.cpuUsage()` measures the server alone.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";

interface Request {
  id: number;
  cmd: string;
  args?: unknown;
}
interface Reply {
  id: number;
  ok: boolean;
  result?: unknown;
  error?: string;
}
interface Event {
  event: string;
  data?: unknown;
}

export type Handler = (args: unknown) => unknown;

/** The tsx loader, so children run TypeScript sources of the workspace packages directly. */
function tsxLoader(): string {
  return import.meta.resolve("tsx");
}

function isReply(m: unknown): m is Reply {
  return typeof m === "object" && m !== null && typeof (m as Reply).id === "number" && typeof (m as Reply).ok === "boolean";
}
function isEvent(m: unknown): m is Event {
  return typeof m === "object" && m !== null && typeof (m as Event).event === "string";
}

export interface ChildOptions {
  /** extra node flags, e.g. --expose-gc, --cpu-prof */
  nodeFlags?: readonly string[];
  env?: Record<string, string>;
  /** how long to wait for the child's `ready` event */
  readyTimeoutMs?: number;
}

/** A child process of the run, started with `node --import tsx`, speaking RPC over IPC. */
export class Child {
  readonly #pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void; cmd: string }>();
  readonly #listeners = new Map<string, (data: unknown) => void>();
  readonly exited: Promise<number | null>;
  #next = 1;
  #alive = true;
  readyData: unknown = undefined;

  private constructor(
    readonly name: string,
    readonly proc: ChildProcess,
  ) {
    this.exited = new Promise((resolve) => {
      proc.once("exit", (code, signal) => {
        this.#alive = false;
        const why = new Error(`${name} exited (code ${code ?? "-"}, signal ${signal ?? "-"})`);
        for (const p of this.#pending.values()) p.reject(why);
        this.#pending.clear();
        resolve(code);
      });
    });
    proc.on("message", (m: unknown) => {
      if (isReply(m)) {
        const p = this.#pending.get(m.id);
        if (p === undefined) return;
        this.#pending.delete(m.id);
        if (m.ok) p.resolve(m.result);
        else p.reject(new Error(`${name} ${p.cmd}: ${m.error ?? "failed"}`));
      } else if (isEvent(m)) {
        this.#listeners.get(m.event)?.(m.data);
      }
    });
  }

  get pid(): number {
    return this.proc.pid ?? -1;
  }

  get alive(): boolean {
    return this.#alive;
  }

  /** Spawns `file` (a .ts module) with `args` as JSON in argv[2]; resolves once it emitted `ready`. */
  static async start(name: string, file: URL, args: unknown, opts: ChildOptions = {}): Promise<Child> {
    const proc = spawn(process.execPath, [...(opts.nodeFlags ?? []), "--import", tsxLoader(), fileURLToPath(file), JSON.stringify(args)], {
      stdio: ["ignore", "inherit", "inherit", "ipc"],
      env: { ...process.env, ...opts.env },
    });
    const child = new Child(name, proc);
    LIVE.add(child);
    void child.exited.then(() => LIVE.delete(child));
    const timeoutMs = opts.readyTimeoutMs ?? 30_000;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${name} not ready after ${timeoutMs} ms`)), timeoutMs);
      child.on("ready", (data) => {
        clearTimeout(timer);
        child.readyData = data;
        resolve();
      });
      child.exited.then(
        () => {
          clearTimeout(timer);
          reject(new Error(`${name} exited before it was ready`));
        },
        () => undefined,
      );
    });
    return child;
  }

  on(event: string, listener: (data: unknown) => void): void {
    this.#listeners.set(event, listener);
  }

  off(event: string): void {
    this.#listeners.delete(event);
  }

  call<T>(cmd: string, args?: unknown): Promise<T> {
    if (!this.#alive) return Promise.reject(new Error(`${this.name} is not running`));
    const id = this.#next++;
    return new Promise<T>((resolve, reject) => {
      this.#pending.set(id, { resolve: resolve as (v: unknown) => void, reject, cmd });
      this.proc.send({ id, cmd, args } satisfies Request);
    });
  }

  /** Fire and forget: no reply is awaited (id 0). */
  tell(cmd: string, args?: unknown): void {
    if (this.#alive) this.proc.send({ id: 0, cmd, args } satisfies Request);
  }

  /** Asks the child to exit (so `--cpu-prof` gets written), then SIGKILLs it after `graceMs`. */
  async stop(graceMs = 5000): Promise<void> {
    if (!this.#alive) return;
    this.tell("exit");
    const timer = setTimeout(() => {
      if (this.#alive) this.proc.kill("SIGKILL");
    }, graceMs);
    await this.exited;
    clearTimeout(timer);
  }
}

/** Children of this run that are still alive; killed on abnormal exit of the orchestrator. */
const LIVE = new Set<Child>();

export function killAllChildren(): void {
  for (const c of LIVE) if (c.alive) c.proc.kill("SIGKILL");
}

// ---- child side --------------------------------------------------------------------------------

/** The JSON argument the parent passed to this child. */
export function childArgs<T>(): T {
  const raw = process.argv[2];
  if (raw === undefined) throw new Error("missing child argument (JSON in argv[2])");
  return JSON.parse(raw) as T;
}

export function emit(event: string, data?: unknown): void {
  process.send?.({ event, data } satisfies Event);
}

/**
 * Serves RPC requests from the parent. `exit` is built in; the process exits when the parent goes
 * away, so an aborted run never leaves servers or clients behind.
 */
export function serve(handlers: Record<string, Handler>): void {
  if (process.send === undefined) throw new Error("not started with an IPC channel");
  process.on("disconnect", () => process.exit(0));
  process.on("message", (m: unknown) => {
    const req = m as Request;
    if (req.cmd === "exit") {
      process.disconnect?.();
      setImmediate(() => process.exit(0));
      return;
    }
    const handler = handlers[req.cmd];
    const reply = (r: Omit<Reply, "id">) => {
      if (req.id !== 0) process.send?.({ id: req.id, ...r });
    };
    if (handler === undefined) return reply({ ok: false, error: `unknown command ${req.cmd}` });
    try {
      const out = handler(req.args);
      if (out instanceof Promise) {
        out.then(
          (result: unknown) => reply({ ok: true, result }),
          (err: unknown) => reply({ ok: false, error: err instanceof Error ? (err.stack ?? err.message) : String(err) }),
        );
      } else {
        reply({ ok: true, result: out });
      }
    } catch (err) {
      reply({ ok: false, error: err instanceof Error ? (err.stack ?? err.message) : String(err) });
    }
  });
}
