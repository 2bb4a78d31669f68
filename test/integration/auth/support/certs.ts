import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Real X.509 material for the TLS suites, made with the openssl CLI in a
 * temporary directory: a CA, server certificates for loopback, and client
 * certificates bound to clusters by a `URI:urn:aiops:cluster:<name>` SAN.
 */
export function opensslMissing(): string | undefined {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return undefined;
  } catch {
    return 'the openssl command is not installed';
  }
}

export class TestPki {
  readonly dir = mkdtempSync(join(tmpdir(), 'aiops-auth-pki-'));
  readonly caCert = join(this.dir, 'ca.crt');
  readonly caKey = join(this.dir, 'ca.key');
  private serial = 0;

  constructor() {
    this.openssl([
      'req',
      '-x509',
      ...newKey(this.caKey),
      '-out',
      this.caCert,
      '-days',
      '1',
      '-subj',
      '/CN=aiops test CA',
    ]);
  }

  /** Issues a certificate into `<name>.crt` / `<name>.key` and returns the paths. */
  issue(name: string, subjectAltName: string): { cert: string; key: string } {
    const key = join(this.dir, `${name}.key`);
    const cert = join(this.dir, `${name}.crt`);
    const csr = join(this.dir, `${name}.csr`);
    const ext = join(this.dir, `${name}.ext`);
    writeFileSync(
      ext,
      `subjectAltName=${subjectAltName}\nextendedKeyUsage=serverAuth,clientAuth\nbasicConstraints=CA:FALSE\n`,
    );
    this.openssl(['req', ...newKey(key), '-out', csr, '-subj', `/CN=${name}`]);
    this.openssl([
      'x509',
      '-req',
      '-in',
      csr,
      '-CA',
      this.caCert,
      '-CAkey',
      this.caKey,
      '-set_serial',
      String(1000 + ++this.serial),
      '-out',
      cert,
      '-days',
      '1',
      '-extfile',
      ext,
    ]);
    return { cert, key };
  }

  private openssl(args: string[]): void {
    execFileSync('openssl', args, { stdio: 'pipe' });
  }
}

function newKey(keyFile: string): string[] {
  return ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', keyFile];
}
