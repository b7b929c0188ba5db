import { HttpTransportType, HubConnectionBuilder, HubConnectionState, LogLevel, type HubConnection } from "@microsoft/signalr";

/** A notification as the hub delivers it (docs/contract.md §5); the page keys it by audience and id. */
interface Delivered {
  id: string;
  type: string;
  audienceId: string;
  isRead: boolean;
  body?: unknown;
  metadata: { producer: string; timeStamp: string; isPersisted: boolean };
}
interface ReadChange {
  eventId: string;
  audienceId: string;
  isRead: boolean;
}
interface DeletedChange {
  eventId: string;
  audienceId: string;
  isDeleted: boolean;
}

const READ_EVENT = "EventReadStatusChange";
const DELETED_EVENT = "EventDeletedStatusChange";
const TEST_TYPE = "inbox-test";

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const els = {
  badge: $("badge"),
  status: $("status"),
  banner: $("banner"),
  list: $<HTMLUListElement>("list"),
  empty: $("empty"),
  who: $<HTMLFormElement>("who"),
  user: $<HTMLInputElement>("user"),
  publish: $<HTMLButtonElement>("publish"),
  hint: $("hint"),
};

/** `?user=alice` signs in as a development user; no parameter connects anonymously (Global notifications only). */
const user = new URLSearchParams(location.search).get("user")?.trim() || null;
els.user.value = user ?? "";

const items = new Map<string, Delivered>();
const keyOf = (audienceId: string, id: string) => `${audienceId}\u0000${id}`;

function render(): void {
  const sorted = [...items.values()].sort((a, b) => b.metadata.timeStamp.localeCompare(a.metadata.timeStamp) || b.id.localeCompare(a.id));
  els.list.replaceChildren(...sorted.map(renderItem));
  const unread = sorted.filter((n) => !n.isRead).length;
  els.badge.textContent = String(unread);
  els.badge.dataset["count"] = String(unread);
  els.empty.hidden = sorted.length > 0;
}

function renderItem(n: Delivered): HTMLLIElement {
  const li = document.createElement("li");
  li.className = `item ${n.isRead ? "read" : "unread"}`;
  li.dataset["id"] = n.id;
  li.dataset["audience"] = n.audienceId;
  li.dataset["read"] = String(n.isRead);
  const title = document.createElement("div");
  const type = document.createElement("span");
  type.className = "type";
  type.textContent = n.type;
  const meta = document.createElement("div");
  meta.className = "meta";
  meta.textContent = `${new Date(n.metadata.timeStamp).toLocaleString()} · ${n.audienceId} · from ${n.metadata.producer}${n.metadata.isPersisted ? "" : " · live only"}`;
  title.append(type, meta);
  const buttons = document.createElement("div");
  buttons.className = "buttons";
  // Read state is per user and kept only for stored notifications: anonymous visitors and live-only ones have none.
  const stateless = user === null || !n.metadata.isPersisted;
  buttons.append(
    button(n.isRead ? "Mark unread" : "Mark read", n.isRead ? "mark-unread" : "mark-read", stateless, () =>
      call(n.isRead ? "MarkAsUnread" : "MarkAsRead", n),
    ),
    button("Delete", "delete", stateless, () => call("MarkAsDeleted", n)),
  );
  const body = document.createElement("pre");
  body.textContent = n.body === undefined ? "" : JSON.stringify(n.body, null, 2);
  li.append(title, buttons, body);
  return li;
}

function button(label: string, action: string, disabled: boolean, onClick: () => void): HTMLButtonElement {
  const b = document.createElement("button");
  b.textContent = label;
  b.dataset["action"] = action;
  b.disabled = disabled;
  if (disabled) b.title = user === null ? "Choose a user to keep read state" : "Only stored notifications have read state";
  b.addEventListener("click", onClick);
  return b;
}

/** The state change comes back as an event to every tab of the user, this one included: the list changes then, not before. */
function call(method: "MarkAsRead" | "MarkAsUnread" | "MarkAsDeleted", n: Delivered): void {
  connection.invoke(method, n.audienceId, n.id).catch((err: unknown) => showHint(`${method} failed: ${String(err)}`));
}

function showHint(text: string): void {
  els.hint.textContent = text;
}

function setStatus(text: string, connected: boolean): void {
  els.status.textContent = text;
  els.status.classList.toggle("connected", connected);
}

async function devToken(): Promise<string> {
  const res = await fetch(`/inbox/dev-token?user=${encodeURIComponent(user!)}`);
  if (!res.ok) throw new Error(`no development token for ${user} (${res.status}): start Tidings with pnpm start, without auth settings`);
  return ((await res.json()) as { token: string }).token;
}

const connection: HubConnection = new HubConnectionBuilder()
  .withUrl("/notifications", {
    // Every transport the server offers, WebSockets first; a token is fetched for each (re)connect.
    transport: HttpTransportType.WebSockets | HttpTransportType.ServerSentEvents | HttpTransportType.LongPolling,
    ...(user === null ? {} : { accessTokenFactory: devToken }),
  })
  .withAutomaticReconnect({ nextRetryDelayInMilliseconds: (ctx) => Math.min(1000 * 2 ** ctx.previousRetryCount, 10_000) })
  .configureLogging(LogLevel.Warning)
  .build();

connection.on(READ_EVENT, (e: ReadChange) => {
  const n = items.get(keyOf(e.audienceId, e.eventId));
  if (n !== undefined) n.isRead = e.isRead;
  render();
});
connection.on(DELETED_EVENT, (e: DeletedChange) => {
  if (e.isDeleted) items.delete(keyOf(e.audienceId, e.eventId));
  render();
});
const onNotification = (n: Delivered) => {
  // Replay is at-least-once (every reconnect replays again): the key de-duplicates.
  items.set(keyOf(n.audienceId, n.id), n);
  render();
};
/*
 * A notification's hub target is its producer-chosen type, so an inbox cannot register a handler per
 * type in advance. The stock client looks handlers up by lower-cased target in its `_methods` table;
 * answering every other target from there with one handler receives them all. The state events keep
 * their own handlers, registered above.
 */
const methods = (connection as unknown as { _methods: Record<string, Array<(...args: unknown[]) => void>> })._methods;
const catchAll = [(n: unknown) => onNotification(n as Delivered)];
(connection as unknown as { _methods: object })._methods = new Proxy(methods, {
  get: (table, name): unknown => (typeof name === "string" && !(name in table) ? catchAll : (Reflect.get(table, name) as unknown)),
});

connection.onreconnecting(() => {
  els.banner.hidden = false;
  setStatus("reconnecting…", false);
});
connection.onreconnected(() => {
  els.banner.hidden = true;
  setStatus(statusText(), true);
});
connection.onclose(() => {
  els.banner.hidden = false;
  els.banner.textContent = "Disconnected. Reload the page to connect again.";
  setStatus("disconnected", false);
});

function statusText(): string {
  return `connected ${user === null ? "anonymously" : `as ${user}`}`;
}

els.who.addEventListener("submit", (e) => {
  e.preventDefault();
  const next = els.user.value.trim();
  const url = new URL(location.href);
  if (next === "") url.searchParams.delete("user");
  else url.searchParams.set("user", next);
  location.assign(url);
});

els.publish.addEventListener("click", () => {
  const id = `inbox-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
  const envelope = {
    id,
    type: TEST_TYPE,
    body: { text: user === null ? "Hello, everyone" : `Hello, ${user}`, sentFrom: "the inbox page" },
    routing: user === null ? { audienceType: 1 } : { audienceType: 4, audienceValue: user },
    metadata: { producer: "inbox-page", isPersisted: true },
  };
  fetch("/api/notifications", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(envelope) })
    .then(async (res) => showHint(res.ok ? `published ${id}` : `publish refused: ${res.status} ${await res.text()}`))
    .catch((err: unknown) => showHint(`publish failed: ${String(err)}`));
});

render();
connection.start().then(
  () => setStatus(statusText(), connection.state === HubConnectionState.Connected),
  (err: unknown) => {
    setStatus("not connected", false);
    showHint(String(err));
  },
);
