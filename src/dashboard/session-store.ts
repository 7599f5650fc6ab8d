/**
 * Dashboard sessions, in memory: an API key exchanged at login for a random session id (the
 * cookie) and a CSRF token. Pure apart from the random ids; the clock is injected. A session
 * ends after `idleMs` without use, `maxAgeMs` after login, at logout, or when the store is
 * full and it is the oldest. Sessions do not survive a restart: the operator signs in again.
 */
import { randomBytes, timingSafeEqual } from "node:crypto";
import type { Role } from "../auth/index.js";

export interface Session {
  id: string;
  keyId: string;
  role: Role;
  /** The client address at login; the session is good from that address only. */
  ip: string;
  csrfToken: string;
  createdAt: number;
  lastSeenAt: number;
}

export interface SessionStoreOptions {
  /** A session unused this long ends (default 30 min). */
  idleMs: number;
  /** A session ends this long after login, used or not (default 12 h). */
  maxAgeMs: number;
  /** Bound on memory: past it, the least recently used session ends (default 1000). */
  maxSessions: number;
}

const token = () => randomBytes(32).toString("base64url");

export class SessionStore {
  private readonly sessions = new Map<string, Session>();

  constructor(
    private readonly o: SessionStoreOptions,
    private readonly now: () => number = Date.now,
  ) {}

  create(keyId: string, role: Role, ip: string): Session {
    const at = this.now();
    const session: Session = {
      id: token(),
      keyId,
      role,
      ip,
      csrfToken: token(),
      createdAt: at,
      lastSeenAt: at,
    };
    while (this.sessions.size >= this.o.maxSessions) {
      // A Map iterates in insertion order and get() re-inserts: the first is the least recent.
      const oldest = this.sessions.keys().next().value;
      if (oldest === undefined) break;
      this.sessions.delete(oldest);
    }
    this.sessions.set(session.id, session);
    return session;
  }

  /** The live session with this id (its use renews the idle timer), or undefined. */
  get(id: string): Session | undefined {
    const session = this.sessions.get(id);
    if (!session) return undefined;
    const at = this.now();
    if (at - session.lastSeenAt >= this.o.idleMs || at - session.createdAt >= this.o.maxAgeMs) {
      this.sessions.delete(id);
      return undefined;
    }
    session.lastSeenAt = at;
    this.sessions.delete(id);
    this.sessions.set(id, session);
    return session;
  }

  delete(id: string): void {
    this.sessions.delete(id);
  }

  /** Whether `presented` is the session's CSRF token, compared in constant time. */
  checkCsrf(session: Session, presented: string | undefined): boolean {
    if (!presented) return false;
    const a = Buffer.from(session.csrfToken);
    const b = Buffer.from(presented);
    return a.length === b.length && timingSafeEqual(a, b);
  }

  get size(): number {
    return this.sessions.size;
  }
}
