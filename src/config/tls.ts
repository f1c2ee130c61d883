/**
 * TLS config checks: certificate and key files exist, are PEM, parse, and belong together — at config
 * load, so `gateway validate` reports them as `listen.tls...: message` and `gateway start` never hands
 * uWS a file it would choke on.
 *
 * Why this much checking: the uWS build's SSLApp only says "App construction failed" for any bad
 * file, and its addServerName (SNI) crashes the process with SIGSEGV on one (measured on
 * @trufflesuite/uws-js-unofficial 20.30.0: missing file, key not matching the cert, encrypted key
 * without passphrase, unreadable CA file). The worker also builds a throwaway SSLApp per SNI entry
 * before addServerName (src/worker/tls.ts) for whatever passes node:crypto but not BoringSSL.
 */
import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import type { Config } from './schema.js';

type Seg = string | number;
type Report = (segs: Seg[], msg: string) => void;

/**
 * Keys people write for mutual TLS (AWS: `mutualTlsAuthentication.truststoreUri`; node: `ca`,
 * `requestCert`). The uWS build cannot do it; the loader shows this instead of "unknown property".
 */
const MTLS_KEYS = new Set(['ca', 'clientCa', 'clientCA', 'truststore', 'trustStore', 'truststoreUri', 'mutualTls', 'mutualTlsAuthentication', 'mtls', 'mTLS', 'requestCert', 'clientCertificates', 'clientCert', 'verifyClient']);
export const MTLS_UNSUPPORTED =
  'mutual TLS (client certificates) is not supported: the uWebSockets.js build the gateway runs on can check a client ' +
  'certificate that is sent but cannot require one, and exposes no certificate to the gateway (see README, TLS)';

/** The message for a key of listen.tls the schema does not know, when it asks for mutual TLS. */
export function unsupportedTlsKey(segs: readonly Seg[]): string | undefined {
  return segs.length === 3 && segs[0] === 'listen' && segs[1] === 'tls' && MTLS_KEYS.has(String(segs[2])) ? MTLS_UNSUPPORTED : undefined;
}

/** Key types BoringSSL (inside uWS) serves; node:crypto reads more (DSA, RSA-PSS, Ed448...). */
const EC_CURVES = new Set(['prime256v1', 'secp384r1', 'secp521r1']);

/**
 * Makes listen.tls file paths absolute (relative to the config file's directory) and checks each
 * certificate/key pair; semantic checks (duplicate SNI names, redirect port) too. Runs after the
 * schema passed.
 */
export function resolveTlsFiles(cfg: Config, baseDir: string, report: Report): void {
  const tls = cfg.listen.tls;
  if (tls === undefined) return;
  const at: Seg[] = ['listen', 'tls'];
  const pair = (o: { cert: string; key: string; passphrase?: string }, segs: Seg[]) => {
    o.cert = isAbsolute(o.cert) ? o.cert : resolve(baseDir, o.cert);
    o.key = isAbsolute(o.key) ? o.key : resolve(baseDir, o.key);
    checkPair(o.cert, o.key, o.passphrase, segs, report);
  };
  pair(tls, at);
  const owner = new Map<string, number>();
  tls.certificates.forEach((c, i) => {
    const segs: Seg[] = [...at, 'certificates', i];
    c.hosts.forEach((h, j) => {
      // uWS matches SNI names byte for byte; clients send them in lower case.
      const host = h.toLowerCase();
      c.hosts[j] = host;
      const prev = owner.get(host);
      if (prev !== undefined) report([...segs, 'hosts', j], `"${h}" already has a certificate (listen.tls.certificates[${prev}])`);
      else owner.set(host, i);
    });
    pair(c, segs);
  });
  const r = tls.redirectHttp;
  if (r !== undefined && r.port !== 0) {
    if (r.port === cfg.listen.port) report([...at, 'redirectHttp', 'port'], `must differ from listen.port (${cfg.listen.port})`);
    if (cfg.admin.enabled && r.port === cfg.admin.port) report([...at, 'redirectHttp', 'port'], `must differ from admin.port (${cfg.admin.port})`);
  }
}

function readFile(path: string, what: string): Buffer | string {
  try {
    return readFileSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return `${what} file not found: ${path}`;
    if (code === 'EACCES') return `${what} file is not readable (permission denied): ${path}`;
    if (code === 'EISDIR') return `${what} path is a directory, not a file: ${path}`;
    return `cannot read ${what} file ${path}: ${(e as Error).message}`;
  }
}

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** Every certificate of a PEM chain file, leaf first; or what is wrong with it. */
export function readCertificateChain(path: string): X509Certificate[] | string {
  const buf = readFile(path, 'certificate');
  if (typeof buf === 'string') return buf;
  const text = buf.toString('latin1');
  const blocks = text.match(PEM_CERT);
  if (blocks === null) {
    return `not a PEM certificate: ${path} (expected -----BEGIN CERTIFICATE-----; convert DER with ` +
      '`openssl x509 -inform der -in FILE -out FILE.pem`)';
  }
  const out: X509Certificate[] = [];
  for (let i = 0; i < blocks.length; i++) {
    try {
      out.push(new X509Certificate(blocks[i]!));
    } catch (e) {
      return `certificate ${i + 1} of ${path} does not parse: ${(e as Error).message}`;
    }
  }
  return out;
}

/** The private key in a PEM file; or what is wrong with it, in words. */
export function readPrivateKey(path: string, passphrase: string | undefined): KeyObject | string {
  const buf = readFile(path, 'key');
  if (typeof buf === 'string') return buf;
  const text = buf.toString('latin1');
  if (!/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(text)) {
    return `not a PEM private key: ${path} (expected -----BEGIN PRIVATE KEY----- or -----BEGIN RSA/EC PRIVATE KEY-----)`;
  }
  const encrypted = /-----BEGIN ENCRYPTED PRIVATE KEY-----|Proc-Type: 4,ENCRYPTED/.test(text);
  if (encrypted && passphrase === undefined) return `key ${path} is encrypted: give its passphrase`;
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: buf, format: 'pem', ...(passphrase !== undefined ? { passphrase } : {}) });
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (encrypted && (code === 'ERR_OSSL_BAD_DECRYPT' || /bad decrypt/i.test((e as Error).message))) return `wrong passphrase for key ${path}`;
    return `key ${path} does not parse: ${(e as Error).message}`;
  }
  const type = key.asymmetricKeyType;
  if (type === 'ec') {
    const curve = key.asymmetricKeyDetails?.namedCurve;
    if (curve === undefined || !EC_CURVES.has(curve)) return `key ${path}: EC curve ${curve ?? '(unknown)'} is not served by uWS (BoringSSL): use P-256, P-384 or P-521`;
  } else if (type !== 'rsa' && type !== 'ed25519') {
    return `key ${path}: ${type ?? 'unknown'} keys are not served by uWS (BoringSSL): use RSA, ECDSA (P-256/P-384/P-521) or Ed25519`;
  }
  return key;
}

function checkPair(certPath: string, keyPath: string, passphrase: string | undefined, at: Seg[], report: Report): void {
  const chain = readCertificateChain(certPath);
  if (typeof chain === 'string') report([...at, 'cert'], chain);
  const key = readPrivateKey(keyPath, passphrase);
  if (typeof key === 'string') report([...at, 'key'], key);
  if (typeof chain === 'string' || typeof key === 'string') return;
  if (!chain[0]!.checkPrivateKey(key)) {
    report([...at, 'key'], `key ${keyPath} does not belong to the certificate ${certPath} (subject ${chain[0]!.subject.replace(/\n/g, ', ')}); the leaf certificate must come first`);
  }
}
