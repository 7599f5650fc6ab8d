/**
 * One spelling per path, before the router sees it: escaped unreserved characters are decoded
 * (RFC 3986 §6.2.2.2: `%6D` and `m` are the same character), dot segments are removed (§5.2.4)
 * and doubled slashes are collapsed. So `/%6detrics`, `/v1/../metrics`, `/./metrics` and
 * `//metrics` all reach `/metrics`, as they would through nginx, and every listener sees the
 * path its client meant. Other escapes (`%2F`, `%3F`, …) stay as they are: decoding them
 * would change what the path says.
 */

const UNRESERVED = /^[A-Za-z0-9\-._~]$/;

function decodeUnreserved(path: string): string {
  return path.replace(/%([0-9A-Fa-f]{2})/g, (escaped, hex: string) => {
    const char = String.fromCharCode(parseInt(hex, 16));
    return UNRESERVED.test(char) ? char : escaped;
  });
}

/** The normal form of an absolute path (one that starts with "/"). */
export function normalizePath(path: string): string {
  const segments = decodeUnreserved(path).split("/").slice(1);
  const out: string[] = [];
  segments.forEach((segment, i) => {
    const last = i === segments.length - 1;
    if (segment === "..") {
      out.pop();
      if (last) out.push("");
    } else if (segment === ".") {
      if (last) out.push("");
    } else if (segment !== "" || last) {
      // An empty segment before the last is a doubled slash; the last one a trailing slash.
      out.push(segment);
    }
  });
  return "/" + out.join("/");
}

/** A request target with its path in normal form; the query string is left alone. */
export function normalizeUrl(url: string): string {
  const q = url.indexOf("?");
  const path = q === -1 ? url : url.slice(0, q);
  // "*" (OPTIONS) and absolute-form targets are left to the router.
  if (!path.startsWith("/")) return url;
  return normalizePath(path) + (q === -1 ? "" : url.slice(q));
}
