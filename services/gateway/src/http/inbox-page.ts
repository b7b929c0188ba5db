import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { extname, join, relative, sep } from "node:path";
import { SignJWT } from "jose";
import type { Reply } from "./respond.js";

/** What the inbox page needs: its built files and, in development only, a key to mint users' tokens. */
export interface InboxPageOptions {
  /** The page's build output (apps/inbox/dist): served under `/inbox/`. */
  dir: string;
  /**
   * Development only (`pnpm start` without any auth setting): the HS256 key the gateway verifies, which
   * `GET /inbox/dev-token?user=<id>` signs a one-hour token for any user with. Never set in production.
   */
  devTokenSecret?: string;
}

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".json": "application/json",
  ".ico": "image/x-icon",
  ".png": "image/png",
};

const USER_ID = /^[A-Za-z0-9._@-]{1,64}$/;

export interface InboxPage {
  /** Answers a request under `/inbox`; false (nothing written) for any other path. */
  serve(reply: Reply, method: string, path: string, query: string): boolean;
}

/**
 * The inbox page under `/inbox`: files read once at start (a few kB, built by Vite), answered from
 * memory; anything else under `/inbox` is 404.
 */
export function createInboxPage(opts: InboxPageOptions): InboxPage {
  const files = new Map<string, { body: Buffer; type: string }>();
  for (const file of listFiles(opts.dir)) {
    const urlPath = "/inbox/" + relative(opts.dir, file).split(sep).join("/");
    files.set(urlPath, { body: readFileSync(file), type: TYPES[extname(file)] ?? "application/octet-stream" });
  }
  const index = files.get("/inbox/index.html");
  const devKey = opts.devTokenSecret === undefined ? undefined : new TextEncoder().encode(opts.devTokenSecret);

  return {
    serve(reply, method, path, query) {
      if (path !== "/inbox" && !path.startsWith("/inbox/")) return false;
      if (method !== "GET" && method !== "HEAD") {
        reply.apiError(405, "method_not_allowed", "Use GET.");
        return true;
      }
      if (path === "/inbox/dev-token") {
        const user = new URLSearchParams(query).get("user") ?? "";
        if (devKey === undefined)
          reply.apiError(404, "not_found", "Development tokens are served only by `pnpm start` without auth settings.");
        else if (!USER_ID.test(user)) reply.apiError(400, "invalid_user", "user: 1-64 characters of A-Z a-z 0-9 . _ @ -.");
        else void mintDevToken(user, devKey).then((token) => reply.json(200, { token }));
        return true;
      }
      const file = path === "/inbox" || path === "/inbox/" ? index : files.get(path);
      if (file === undefined) reply.apiError(404, "not_found", `No endpoint at ${path}.`);
      else
        reply.send(200, method === "HEAD" ? undefined : file.body, [
          ["content-type", file.type],
          ["cache-control", "no-cache"],
        ]);
      return true;
    },
  };
}

function mintDevToken(user: string, key: Uint8Array): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ sub: user })
    .setProtectedHeader({ alg: "HS256" })
    .setIssuedAt(now)
    .setExpirationTime(now + 3600)
    .sign(key);
}

function listFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? listFiles(path) : [path];
  });
}
