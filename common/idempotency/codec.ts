/**
 * Results are stored as JSON wrapped in `{ v }`, so `undefined` (a void operation) survives the round trip
 * and is told apart from `null`.
 */
export function encodeResult(result: unknown): string {
  return JSON.stringify({ v: result });
}

export function decodeResult(text: string | null | undefined): unknown {
  if (text === null || text === undefined || text === '') return undefined;
  return (JSON.parse(text) as { v?: unknown }).v;
}
