/** One HTTP request a SignalR client made and the answer it got, as recorded by a client built with `exchanges`. */
export interface HttpExchange {
  method: string;
  url: string;
  status: number;
  /** response body; binary bodies as latin1 text */
  body: string;
}

/**
 * Records a request/answer pair in request order. The SignalR clients throw an HttpError (with
 * `statusCode`) for non-2xx answers: those are recorded with their status; network errors and aborts with 0.
 */
export async function recordExchange<R extends { statusCode: number; content?: string | ArrayBuffer | undefined }>(
  exchanges: HttpExchange[],
  request: { method?: string | undefined; url?: string | undefined },
  send: () => Promise<R>,
): Promise<R> {
  const entry: HttpExchange = { method: request.method ?? "", url: request.url ?? "", status: 0, body: "" };
  exchanges.push(entry);
  let response: R;
  try {
    response = await send();
  } catch (err) {
    const status = (err as { statusCode?: unknown }).statusCode;
    if (typeof status === "number") entry.status = status;
    throw err;
  }
  entry.status = response.statusCode;
  const content = response.content;
  entry.body = content === undefined ? "" : typeof content === "string" ? content : Buffer.from(content).toString("latin1");
  return response;
}
