/**
 * Roles and what each may do. Admin routes live on the admin listener only; the public listener
 * serves inference and a key's own usage.
 */
export const roles = ["admin", "operator", "user", "auditor"] as const;
export type Role = (typeof roles)[number];

export type Permission =
  | "inference" // chat, completions, embeddings, tokenize
  | "models.read" // /v1/models, /health
  | "usage.own" // /v1/usage for the calling key
  | "usage.all" // any key's usage (admin API)
  | "keys.read"
  | "keys.write" // create, revoke, rotate user and auditor keys
  | "keys.admin" // create, revoke, rotate admin and operator keys
  | "bans.read"
  | "bans.write"
  | "audit.read"
  | "metrics.read"
  | "cache.read" // response cache statistics (admin API)
  | "cache.write" // clear the response cache (admin API)
  | "models.manage"; // unload and reload served models (admin API, dashboard)

const matrix: Record<Role, readonly Permission[]> = {
  admin: [
    "inference",
    "models.read",
    "usage.own",
    "usage.all",
    "keys.read",
    "keys.write",
    "keys.admin",
    "bans.read",
    "bans.write",
    "audit.read",
    "metrics.read",
    "cache.read",
    "cache.write",
    "models.manage",
  ],
  operator: [
    "inference",
    "models.read",
    "usage.own",
    "usage.all",
    "keys.read",
    "keys.write",
    "bans.read",
    "bans.write",
    "metrics.read",
    "cache.read",
    "cache.write",
    "models.manage",
  ],
  user: ["inference", "models.read", "usage.own"],
  auditor: [
    "models.read",
    "usage.own",
    "usage.all",
    "keys.read",
    "bans.read",
    "audit.read",
    "cache.read",
  ],
};

export function isRole(value: string): value is Role {
  return (roles as readonly string[]).includes(value);
}

export function can(role: Role, permission: Permission): boolean {
  return matrix[role].includes(permission);
}
