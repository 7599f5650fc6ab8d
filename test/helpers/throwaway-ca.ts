/** A throwaway certificate authority made with openssl for one test: CA, server and client certs. */
import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";

export interface Issued {
  cert: string;
  key: string;
}

function openssl(args: string[]): void {
  execFileSync("openssl", args, { stdio: ["ignore", "ignore", "pipe"] });
}

/** A CA in `dir` that issues EC P-256 certificates. */
export class ThrowawayCa implements Issued {
  readonly cert: string;
  readonly key: string;
  private serial = 1;

  constructor(
    private readonly dir: string,
    readonly name = "ca",
  ) {
    this.cert = join(dir, `${name}.pem`);
    this.key = join(dir, `${name}-key.pem`);
    openssl([
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-keyout",
      this.key,
      "-out",
      this.cert,
      "-days",
      "2",
      "-subj",
      `/CN=Bulwark test ${name}`,
    ]);
  }

  /** A certificate for `cn`: a server one (SAN 127.0.0.1, localhost) or a client one. */
  issue(cn: string, kind: "server" | "client"): Issued {
    const base = join(this.dir, `${this.name}-${cn}-${this.serial++}`);
    const key = `${base}-key.pem`;
    const csr = `${base}.csr`;
    const cert = `${base}.pem`;
    const ext = `${base}.ext`;
    writeFileSync(
      ext,
      kind === "server"
        ? "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n"
        : "extendedKeyUsage=clientAuth\n",
    );
    openssl([
      "req",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-keyout",
      key,
      "-out",
      csr,
      "-subj",
      `/CN=${cn}`,
    ]);
    openssl([
      "x509",
      "-req",
      "-in",
      csr,
      "-CA",
      this.cert,
      "-CAkey",
      this.key,
      "-set_serial",
      String(Date.now() + this.serial),
      "-days",
      "2",
      "-out",
      cert,
      "-extfile",
      ext,
    ]);
    return { cert, key };
  }
}
