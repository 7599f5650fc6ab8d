import { join } from "node:path";

/** The SQLite file of a Bulwark home directory. */
export function storePath(home: string): string {
  return join(home, "bulwark.db");
}
