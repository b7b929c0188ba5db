import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { launchChromium } from "@tidings/testkit";
import type { Browser, Page, WebSocketRoute } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTidings, type TidingsProcess } from "./process.js";

// The inbox page (apps/inbox) as `pnpm start` serves it, in Debian Chromium. Screenshots of every step
// are kept in services/standalone/test-artifacts/inbox/ (gitignored).
const ARTIFACTS = fileURLToPath(new URL("../test-artifacts/inbox/", import.meta.url));
const INBOX_DIST = fileURLToPath(new URL("../../../apps/inbox/dist/index.html", import.meta.url));

let browser: Browser;
let tidings: TidingsProcess;

beforeAll(async () => {
  // `pnpm start` builds the page first; so does this test when no build is there yet.
  if (!existsSync(INBOX_DIST)) {
    const build = spawnSync("pnpm", ["--filter", "@tidings/inbox", "build"], {
      cwd: fileURLToPath(new URL("../../..", import.meta.url)),
      encoding: "utf8",
    });
    if (build.status !== 0) throw new Error(`inbox build failed:\n${build.stdout}${build.stderr}`);
  }
  mkdirSync(ARTIFACTS, { recursive: true });
  // Embedded Postgres may take a while to start on a loaded machine.
  tidings = await startTidings({}, "listening", 120_000);
  browser = await launchChromium();
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await tidings?.stop();
});

async function open(query: string, expectedStatus: string): Promise<Page> {
  const page = await browser.newPage({ viewport: { width: 900, height: 700 } });
  await page.goto(`${tidings.url}/inbox/${query}`);
  await page.getByTestId("status").filter({ hasText: expectedStatus }).waitFor({ timeout: 20_000 });
  return page;
}

const item = (page: Page, type: string, read?: boolean) =>
  page.locator(`li.item${read === undefined ? "" : `[data-read="${read}"]`}`, { hasText: type });
const badge = async (page: Page) => Number(await page.getByTestId("unread-badge").textContent());

describe("inbox page (apps/inbox) served by pnpm start at /inbox, in Chromium", () => {
  it("opened with no parameters it connects anonymously; its button publishes a Global notification that shows at once", async () => {
    const page = await open("", "connected anonymously");
    await page.getByTestId("publish").click();
    await item(page, "inbox-test", false).waitFor({ timeout: 5_000 });
    expect(await item(page, "Hello, everyone").count()).toBe(1);
    expect(await badge(page)).toBe(1);
    // Anonymous visitors have no read state: the buttons are off.
    expect(await item(page, "inbox-test").locator('button[data-action="mark-read"]').isDisabled()).toBe(true);
    await page.screenshot({ path: `${ARTIFACTS}anonymous.png`, fullPage: true });
    await page.close();
  });

  it("two tabs of one user: a read on A shows on B within a second; unread on B and delete on A follow; the badge counts unread", async () => {
    const a = await open("?user=alice", "connected as alice");
    const b = await open("?user=alice", "connected as alice");
    // Global notifications stored earlier are replayed to both tabs; alice's own arrives live, after them.
    await a.getByTestId("publish").click();
    const mine = (p: Page, read?: boolean) => item(p, "Hello, alice", read);
    await mine(a, false).waitFor({ timeout: 5_000 });
    await mine(b, false).waitFor({ timeout: 5_000 });
    // The badge counts the unread items shown.
    const unread = await badge(b);
    expect(unread).toBe(await b.locator('li.item[data-read="false"]').count());
    expect(unread).toBeGreaterThanOrEqual(1);
    const before = unread - 1;
    await a.screenshot({ path: `${ARTIFACTS}alice-a-unread.png`, fullPage: true });

    const clicked = Date.now();
    await mine(a).locator('button[data-action="mark-read"]').click();
    await mine(b, true).waitFor({ timeout: 5_000 });
    const readShownAfterMs = Date.now() - clicked;
    writeFileSync(`${ARTIFACTS}read-sync.json`, JSON.stringify({ readShownAfterMs }) + "\n");
    expect(readShownAfterMs, "the read on A reached B").toBeLessThan(1_000);
    expect(await badge(b)).toBe(before);
    await mine(a, true).waitFor({ timeout: 5_000 });
    await b.screenshot({ path: `${ARTIFACTS}alice-b-read.png`, fullPage: true });

    await mine(b).locator('button[data-action="mark-unread"]').click();
    await mine(a, false).waitFor({ timeout: 5_000 });
    expect(await badge(a)).toBe(before + 1);

    await mine(a).locator('button[data-action="delete"]').click();
    await mine(b).waitFor({ state: "detached", timeout: 5_000 });
    expect(await badge(b)).toBe(before);
    await b.screenshot({ path: `${ARTIFACTS}alice-b-deleted.png`, fullPage: true });
    await a.close();
    await b.close();
  });

  it("the reconnect banner shows while the connection is lost and goes once the client is back", async () => {
    const page = await browser.newPage({ viewport: { width: 900, height: 700 } });
    // The page's WebSockets pass through Playwright: closing them with 1011 is a lost connection to the
    // stock client, and while `offline` every new attempt is refused the same way.
    let offline = false;
    const live: WebSocketRoute[] = [];
    await page.routeWebSocket(/\/notifications/, (ws) => {
      if (offline) return void ws.close({ code: 1011, reason: "test: offline" });
      ws.connectToServer();
      live.push(ws);
    });
    await page.goto(`${tidings.url}/inbox/?user=dave`);
    await page.getByTestId("status").filter({ hasText: "connected as dave" }).waitFor({ timeout: 20_000 });
    expect(await page.getByTestId("reconnect-banner").isVisible()).toBe(false);
    offline = true;
    for (const ws of live.splice(0)) await ws.close({ code: 1011, reason: "test: connection lost" });
    await page.getByTestId("reconnect-banner").waitFor({ state: "visible", timeout: 10_000 });
    expect(await page.getByTestId("status").textContent()).toBe("reconnecting…");
    await page.screenshot({ path: `${ARTIFACTS}reconnecting.png`, fullPage: true });
    offline = false;
    await page.getByTestId("reconnect-banner").waitFor({ state: "hidden", timeout: 30_000 });
    await page.getByTestId("status").filter({ hasText: "connected as dave" }).waitFor({ timeout: 5_000 });
    await page.close();
  });

  it("another user's tab sees neither alice's notification nor her read state", async () => {
    const bob = await open("?user=bob", "connected as bob");
    await bob.getByTestId("publish").click();
    await item(bob, "Hello, bob").waitFor({ timeout: 5_000 });
    expect(await item(bob, "Hello, alice").count()).toBe(0);
    await bob.screenshot({ path: `${ARTIFACTS}bob.png`, fullPage: true });
    await bob.close();
  });

  it("development tokens only for plausible user ids; unknown files are 404, other methods 405", async () => {
    expect((await fetch(`${tidings.url}/inbox/dev-token?user=${encodeURIComponent("a b")}`)).status).toBe(400);
    const ok = await fetch(`${tidings.url}/inbox/dev-token?user=carol`);
    expect(ok.status).toBe(200);
    const token = ((await ok.json()) as { token: string }).token;
    expect(JSON.parse(Buffer.from(token.split(".")[1]!, "base64url").toString())).toMatchObject({ sub: "carol" });
    expect((await fetch(`${tidings.url}/inbox/nope.js`)).status).toBe(404);
    expect((await fetch(`${tidings.url}/inbox/`, { method: "POST" })).status).toBe(405);
  });

  it("with an auth setting of its own, pnpm start still serves the page but mints no development token", { timeout: 180_000 }, async () => {
    const secured = await startTidings({ TIDINGS_AUTH_JWT_SECRET: "an-operator-chosen-secret-0123456789abcdef" }, "listening", 120_000);
    try {
      expect((await fetch(`${secured.url}/inbox/dev-token?user=carol`)).status).toBe(404);
      expect((await fetch(`${secured.url}/inbox/`)).status).toBe(200);
    } finally {
      await secured.stop();
    }
  });
});
