import { randomBytes } from 'node:crypto';

/**
 * Connection ids that say where the connection lives: 12 bytes, base64url (16 characters, safe in a
 * URL path as `@connections/{id}` needs): node id (4 bytes, random per gateway process tree),
 * worker serial (4 bytes, unique per node for the node's lifetime), 4 random bytes. Any worker can
 * tell from an id alone which worker of which node holds it; the random part keeps ids unguessable
 * enough that one cannot be derived from another (the @connections API is SigV4-protected anyway).
 */
export interface ConnectionOwner {
  node: number;
  worker: number;
}

export function newConnectionId(owner: ConnectionOwner): string {
  const b = Buffer.allocUnsafe(12);
  b.writeUInt32BE(owner.node >>> 0, 0);
  b.writeUInt32BE(owner.worker >>> 0, 4);
  randomBytes(4).copy(b, 8);
  return b.toString('base64url');
}

/** The owner of a well-formed id; null for anything else (treated as unknown: 410 Gone). */
export function ownerOf(id: string): ConnectionOwner | null {
  if (id.length !== 16 || !/^[A-Za-z0-9_-]{16}$/.test(id)) return null;
  const b = Buffer.from(id, 'base64url');
  return { node: b.readUInt32BE(0), worker: b.readUInt32BE(4) };
}

/** AWS-shaped message and request ids (random, base64 like the ones API Gateway writes). */
export function newMessageId(): string {
  return randomBytes(12).toString('base64url');
}
