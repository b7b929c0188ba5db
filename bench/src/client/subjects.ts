/** JWT subjects of bench client connections: unique across the client processes of a case. */
export function subjectOf(spec: { subPrefix: string }, clientIndex: number, n: number): string {
  return `${spec.subPrefix}${clientIndex}-${n}`;
}
