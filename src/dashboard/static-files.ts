/**
 * The dashboard's page and assets (web/dashboard in the package: plain ES modules, CSS and an
 * HTML page, no framework and nothing from a CDN), read once into memory and served with a
 * strict Content-Security-Policy: scripts, styles and connections from this origin only, no
 * inline script or style, no framing.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { extname, join } from "node:path";
import { fileURLToPath } from "node:url";

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
};

/** dist/src/dashboard → the package root → web/dashboard. */
export const DEFAULT_ASSET_DIR = fileURLToPath(new URL("../../../web/dashboard/", import.meta.url));

export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
].join("; ");

/** Headers of every dashboard response. */
export const SECURITY_HEADERS: Record<string, string> = {
  "content-security-policy": CONTENT_SECURITY_POLICY,
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "x-frame-options": "DENY",
  "cache-control": "no-store",
};

export interface StaticFile {
  type: string;
  body: Buffer;
}

/** The files of the asset folder by name (no subfolders); empty when it is missing. */
export function loadAssets(dir = DEFAULT_ASSET_DIR): Map<string, StaticFile> {
  const files = new Map<string, StaticFile>();
  if (!existsSync(dir)) return files;
  for (const name of readdirSync(dir)) {
    const type = TYPES[extname(name)];
    if (type) files.set(name, { type, body: readFileSync(join(dir, name)) });
  }
  return files;
}
