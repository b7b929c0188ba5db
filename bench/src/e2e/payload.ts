/**
 * The notification the end-to-end producer sends and how a client reads it back without
 * `JSON.parse`: the body carries `benchSeq` (sequence) and `benchTs` (send time in ms,
 * `performance.timeOrigin + performance.now()`), found by a byte search in the delivered frame.
 */

export type Audience = "global" | "group";

/**
 * The producer envelope of sequence `seq` of case `caseId` (ids are unique per case and run);
 * `caseNo` lets a client tell a late delivery of an earlier case from one of the current case.
 */
export function benchEnvelope(caseId: string, caseNo: number, seq: number, audience: Audience, groups: number, sentMs: number): string {
  const routing = audience === "global" ? '{"audienceType":1}' : `{"audienceType":3,"audienceValue":"g-${seq % groups}"}`;
  return (
    `{"id":"${caseId}-${seq}","type":"bench","body":{"benchCase":${caseNo},"benchSeq":${seq},"benchTs":${sentMs.toFixed(3)}},` +
    `"routing":${routing},"metadata":{"producer":"bench-e2e"}}`
  );
}

const CASE_KEY = Buffer.from('"benchCase":');
const SEQ_KEY = Buffer.from('"benchSeq":');
const TS_KEY = Buffer.from('"benchTs":');

/** Reads a JSON number starting at `at` (digits, sign, dot, exponent). */
function numberAt(buf: Buffer, at: number, end: number): number {
  let p = at;
  while (p < end) {
    const c = buf[p]!;
    // 0-9 . - + e E
    if ((c >= 0x30 && c <= 0x39) || c === 0x2e || c === 0x2d || c === 0x2b || c === 0x65 || c === 0x45) p++;
    else break;
  }
  return p === at ? Number.NaN : Number(buf.toString("latin1", at, p));
}

/** The case, sequence and send time in one SignalR JSON record `buf[start, end)`, or null when absent. */
export function readBenchFields(buf: Buffer, start: number, end: number): { caseNo: number; seq: number; sentMs: number } | null {
  const c = buf.indexOf(CASE_KEY, start);
  if (c === -1 || c >= end) return null;
  const s = buf.indexOf(SEQ_KEY, c);
  if (s === -1 || s >= end) return null;
  const t = buf.indexOf(TS_KEY, s);
  if (t === -1 || t >= end) return null;
  const caseNo = numberAt(buf, c + CASE_KEY.length, end);
  const seq = numberAt(buf, s + SEQ_KEY.length, end);
  const sentMs = numberAt(buf, t + TS_KEY.length, end);
  return Number.isFinite(caseNo) && Number.isFinite(seq) && Number.isFinite(sentMs) ? { caseNo, seq, sentMs } : null;
}

/** The sequence numbers a producer has sent by `elapsedMs` into a paced run at `rate` per second. */
export function dueBy(elapsedMs: number, rate: number, total: number): number {
  return Math.min(total, Math.floor((elapsedMs * rate) / 1000) + 1);
}
