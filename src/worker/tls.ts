/**
 * TLS listener (uWS SSLApp with SNI certificates) and the plain-HTTP redirect listener.
 *
 * What the pinned uWS build (@trufflesuite/uws-js-unofficial 20.30.0, BoringSSL inside) offers, as
 * measured (probe scripts with openssl-made CAs, node:tls clients and `openssl s_client`):
 *
 * - SSLApp({ key_file_name, cert_file_name, passphrase }) serves TLS 1.2 and 1.3 only (1.0/1.1 get
 *   alert 70 "protocol version", as AWS's TLS_1_2 policy); no ALPN, so HTTP/1.1 only. cert_file_name
 *   takes a PEM chain (leaf first). PEM only: a DER certificate makes construction fail. Any bad file
 *   (missing, key not matching the cert, encrypted key without or with a wrong passphrase) throws a
 *   bare "App construction failed" — no reason given, hence the checks in src/config/tls.ts.
 * - addServerName(name, options) adds an SNI certificate; '*.example.com' matches exactly one label
 *   (a.example.com, not a.b.example.com); names are compared byte for byte (an upper-case SNI gets
 *   the default certificate); unknown names and clients without SNI get the default certificate
 *   (missingServerName only reports them). With a bad file addServerName does not throw: the process
 *   dies with SIGSEGV. So every entry is first built as a throwaway SSLApp, which throws instead.
 * - Each SNI name gets its own router: routes added before addServerName do not serve it (the
 *   connection is closed without a response). `app.domain(name)` selects the name's router for the
 *   next route calls, `app.domain('')` goes back to the default router. domain() prints "finding
 *   <name>" / "Browsed to SNI: <name>" to stdout (compiled into the binary); only at start.
 * - ca_file_name (undocumented in the d.ts of some versions, present here): the server sends a
 *   CertificateRequest naming the CA, rejects a client certificate that does not chain to it (alert
 *   48 "unknown ca"), but accepts a client that sends no certificate: uSockets sets SSL_VERIFY_PEER
 *   without SSL_VERIFY_FAIL_IF_NO_PEER_CERT. Nothing exposes the peer certificate, or whether one was
 *   sent, to JS: HttpResponse has no getX509Certificate (its methods: close, collect, cork, end,
 *   endWithoutBody, get(Proxied)RemoteAddress(AsText), getWriteOffset, onAborted, onData, onWritable,
 *   pause, resume, tryEnd, upgrade, write, writeHeader, writeStatus); there is no getNativeHandle.
 *   Upstream uWebSockets.js added a peer-certificate accessor later (uNetworking/uWebSockets.js PR
 *   #1062, 2024); this build predates it. Mutual TLS as AWS does it (a client certificate is
 *   required, its fields go into requestContext.authentication.clientCert) is therefore not possible,
 *   and "verify only if sent" would be theatre (an attacker simply sends none), so it is not offered:
 *   the config rejects it with an explanation.
 */
import uws from '../../native/uws.js';
import type { HttpRequest, HttpResponse, TemplatedApp } from '../../native/uws.js';
import type { Tls } from '../config/schema.js';

type UwsOptions = { key_file_name: string; cert_file_name: string; passphrase?: string };

const optionsOf = (c: { cert: string; key: string; passphrase?: string }): UwsOptions =>
  ({ key_file_name: c.key, cert_file_name: c.cert, ...(c.passphrase !== undefined ? { passphrase: c.passphrase } : {}) });

/** Thrown when uWS refuses certificate files that passed the config checks (node:crypto). */
export class TlsSetupError extends Error {
  override name = 'TlsSetupError';
}

/** SSLApp with the default certificate, or a TlsSetupError naming the files. */
function sslApp(o: UwsOptions, what: string): TemplatedApp {
  try {
    return uws.SSLApp(o);
  } catch (e) {
    throw new TlsSetupError(`uWebSockets.js refused the TLS ${what} (cert ${o.cert_file_name}, key ${o.key_file_name}): ` +
      `${(e as Error).message}; the files must be PEM and the key must belong to the certificate`);
  }
}

/**
 * An SSLApp serving `tls.cert` by default and each `tls.certificates` entry for its SNI names;
 * `register` is called once per router (default first, then one per SNI name) to add the routes.
 *
 * @example
 * const app = createTlsApp(config.listen.tls, (a) => a.any('/*', handler));
 */
export function createTlsApp(tls: Tls, register: (app: TemplatedApp) => void): TemplatedApp {
  const app = sslApp(optionsOf(tls), 'certificate');
  register(app);
  tls.certificates.forEach((c, i) => {
    const o = optionsOf(c);
    // addServerName segfaults on files BoringSSL rejects; a throwaway SSLApp throws instead.
    (sslApp(o, `certificate of listen.tls.certificates[${i}]`) as TemplatedApp & { close(): void }).close();
    for (const host of c.hosts) {
      app.addServerName(host, o);
      register(app.domain(host));
    }
  });
  app.domain(''); // back to the default router ("Cannot browse to SNI" on stdout means exactly that)
  return app;
}

const STATUS_LINE: Record<number, string> = { 301: '301 Moved Permanently', 302: '302 Found', 307: '307 Temporary Redirect', 308: '308 Permanent Redirect' };
/** Host header: a DNS name or IPv4, or a bracketed IPv6 literal; optional port. */
const HOST_HEADER = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(?::\d{1,5})?$/;
/** Visible ASCII: what a request target may hold. uWS already refuses CR/LF and spaces. */
const TARGET_OK = /^[\x21-\x7e]*$/;

/**
 * The plain-HTTP listener's handler: every request gets `status` with Location
 * https://<Host without port>[:httpsPort]<path>?<query>. A missing or malformed Host, or a request
 * target that is not an absolute path, gets 400 (uWS itself closes requests without Host).
 */
export function redirectHandler(status: number, httpsPort: () => number): (res: HttpResponse, req: HttpRequest) => void {
  const statusLine = STATUS_LINE[status] ?? STATUS_LINE[308]!;
  return (res, req) => {
    const m = HOST_HEADER.exec(req.getHeader('host'));
    const url = req.getUrl();
    const q = req.getQuery() ?? '';
    if (m === null || url.charCodeAt(0) !== 47 /* / */ || !TARGET_OK.test(url) || !TARGET_OK.test(q)) {
      res.writeStatus('400 Bad Request').writeHeader('content-type', 'text/plain').end('Bad Request\n', true);
      return;
    }
    const port = httpsPort();
    const location = `https://${m[1]!.toLowerCase()}${port === 443 ? '' : `:${port}`}${url}${q === '' ? '' : `?${q}`}`;
    res.writeStatus(statusLine).writeHeader('location', location).end();
  };
}
