/** Response bodies the bench servers send; shared by the servers and the checks that expect them. */

/** A JSON document of exactly n bytes (n >= 11). */
export function sizedJson(n: number): string {
  const frame = '{"data":""}';
  return `{"data":"${'x'.repeat(Math.max(0, n - frame.length))}"}`;
}

/** What bench/hello-uws.ts answers to a request that carried `bytes` of body. */
export function receivedJson(bytes: number): string {
  return `{"received":${bytes}}`;
}
