// SPDX-License-Identifier: MIT
/**
 * Remote mode: `-t/--tunnel HOST:PORT --key FILE --root-ca FILE` manages a server from another
 * machine through its HTTPS panel, as StartTunnel's CLI does
 * (https://github.com/Start9Labs/start-os/blob/v0.4.0-beta.9/core/src/tunnel/context.rs#L248-L307 and
 * https://github.com/Start9Labs/start-os/blob/v0.4.0-beta.9/core/src/middleware/auth/signature.rs#L293-L356).
 * Every request goes to `https://HOST:PORT/rpc/v0`, trusting only the root CAs named by
 * `--root-ca` (the server's own, printed by `web init` and `web get-root-ca`; without `--root-ca`,
 * the system's public CAs), and carries an `X-StartOS-Auth-Sig` header: an Ed25519 signature over
 * the exact body with the key in `--key` (PKCS#8 PEM or an unencrypted OpenSSH key). Its context
 * string binds it to the one server: HOST as typed (the name or address the server's certificate
 * carries) and the SHA-256 of the certificate the server presented in this connection's TLS
 * handshake (`signatureContext`), read after the handshake and before the body is sent; so another
 * server that answers to the same name, even one trusting the same key, cannot replay it. There is
 * no `--insecure`: trusting the root CA is one file.
 *
 * Every way this can fail is one line: the key file unreadable or not a key, a root CA file
 * that is no certificate, nothing listening, a certificate not from the given root (naming the
 * `--root-ca` files), a key the server does not know (with the command that adds it).
 * @module
 */

import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { ErrorCode, RPC_PATH, type RpcRequest, type RpcResponse } from '@start-tunnel/protocol';
import {
  KeyFormatError,
  parseSigningKey,
  SIGNATURE_HEADER,
  type SigningKey,
  signatureContext,
  signRequest,
} from '@start-tunnel/web';
import { type RemoteOptions, readAnswer, type Transport, TransportError } from './client.ts';
import { CliError, ClientError, UsageError } from './errors.ts';
import { clean } from './format.ts';

/** The panel's port when `--tunnel` names none (`web init`'s default). */
export const DEFAULT_PANEL_PORT = 8443;

export interface TunnelAddress {
  /** As typed, without brackets: the signature's context string and the TLS name. */
  host: string;
  port: number;
  /** `host:port`, IPv6 in brackets. */
  display: string;
}

/** Parses `HOST:PORT`, `[IPv6]:PORT` or `HOST` (port 8443). */
export function parseTunnelAddress(text: string): TunnelAddress {
  const bad = (why: string) =>
    new UsageError(`invalid --tunnel "${clean(text)}": ${why}, e.g. 203.0.113.5:8443`);
  let host: string;
  let portText: string | undefined;
  const v6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(text);
  if (v6) {
    host = v6[1] ?? '';
    portText = v6[2];
    if (isIP(host) !== 6) throw bad('expected an IPv6 address in the brackets');
  } else if ((text.match(/:/g) ?? []).length > 1) {
    throw bad('put an IPv6 address in brackets: [2001:db8::1]:8443');
  } else {
    const colon = text.lastIndexOf(':');
    host = colon < 0 ? text : text.slice(0, colon);
    portText = colon < 0 ? undefined : text.slice(colon + 1);
    if (!/^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$/.test(host)) {
      throw bad('expected HOST:PORT with an IP address or a DNS name');
    }
  }
  let port = DEFAULT_PANEL_PORT;
  if (portText !== undefined) {
    port = /^\d{1,5}$/.test(portText) ? Number(portText) : Number.NaN;
    if (!(port >= 1 && port <= 65535)) throw bad('the port must be 1..65535');
  }
  const display = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
  return { host, port, display };
}

async function readOptionFile(flag: string, path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT'
        ? 'no such file'
        : code === 'EACCES' || code === 'EPERM'
          ? 'permission denied'
          : code === 'EISDIR'
            ? 'it is a directory'
            : (code ?? (err as Error).message);
    throw new CliError(`cannot read ${flag} ${path}: ${why}`);
  }
}

/** Reads and parses the signing key of `--key FILE`. */
export async function loadSigningKey(path: string): Promise<SigningKey> {
  const text = await readOptionFile('--key', path);
  try {
    return parseSigningKey(text);
  } catch (err) {
    if (err instanceof KeyFormatError) {
      throw new CliError(
        `invalid --key ${path}: ${err.message} (expected an Ed25519 private key; make one with ` +
          '`start-tunnel auth key generate --out FILE`)'
      );
    }
    throw err;
  }
}

const CERTIFICATE_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;

/** Reads the PEM certificates of one `--root-ca FILE`. */
export async function loadRootCa(path: string): Promise<string[]> {
  const text = await readOptionFile('--root-ca', path);
  const blocks = text.match(CERTIFICATE_BLOCK) ?? [];
  if (blocks.length === 0) {
    throw new CliError(
      `invalid --root-ca ${path}: no PEM certificate in it (expected -----BEGIN CERTIFICATE-----)`
    );
  }
  for (const pem of blocks) {
    try {
      new X509Certificate(pem);
    } catch {
      throw new CliError(`invalid --root-ca ${path}: a certificate in it does not parse`);
    }
  }
  return blocks.map((b) => `${b}\n`);
}

/** OpenSSL's verification codes that mean "not from a root we trust". */
const UNTRUSTED = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_SIGNATURE_FAILURE',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'INVALID_CA',
]);

export interface RemoteTransportOptions {
  address: TunnelAddress;
  key: SigningKey;
  keyPath: string;
  /** PEM roots; empty: the system's public CAs. */
  ca: string[];
  rootCaPaths: string[];
  timeoutMs: number;
}

/**
 * The signature context for `host` and the certificate the server presented: the server's own
 * `signatureContext` of @start-tunnel/web, with a message in the CLI's words.
 */
export function remoteSignatureContext(host: string, certificateDer: Uint8Array): string {
  try {
    return signatureContext(host, certificateDer);
  } catch {
    throw new Error(`the host "${clean(host)}" is too long to sign requests for`);
  }
}

/** HTTPS to the panel with signed requests; failures become remote advice. */
export class RemoteTransport implements Transport {
  readonly description: string;
  readonly #opts: RemoteTransportOptions;

  constructor(opts: RemoteTransportOptions) {
    this.#opts = opts;
    this.description = `the tunnel at ${opts.address.display}`;
  }

  async send(request: RpcRequest): Promise<RpcResponse> {
    try {
      return await this.#post(request);
    } catch (err) {
      if (!(err instanceof TransportError)) throw err;
      throw this.#explain(err);
    }
  }

  /**
   * One POST on a fresh connection. The signature needs the certificate this connection
   * presented, so the headers go out only after the handshake (and its verification against
   * `--root-ca`) completed: nothing is written before `secureConnect`.
   */
  async #post(rpc: RpcRequest): Promise<RpcResponse> {
    const { address, key, ca, timeoutMs } = this.#opts;
    const body = new TextEncoder().encode(JSON.stringify(rpc));
    const { status, text } = await new Promise<{ status: number; text: string }>(
      (resolve, reject) => {
        const req = httpsRequest(
          `https://${address.display}${RPC_PATH}`,
          {
            method: 'POST',
            agent: false,
            headers: {
              'content-type': 'application/json',
              'content-length': body.length,
              accept: 'application/json',
              connection: 'close',
            },
            ...(ca.length ? { ca } : {}),
          },
          (res: IncomingMessage) => readAnswer(req, res, resolve, reject)
        );
        req.setTimeout(timeoutMs, () =>
          req.destroy(new TransportError('timeout', `${Math.round(timeoutMs / 1000)} s`))
        );
        req.on('error', (err: NodeJS.ErrnoException) => {
          if (err instanceof TransportError) reject(err);
          else if (err.code === 'ECONNREFUSED') reject(new TransportError('refused', err.code));
          else reject(new TransportError('network', err.code ?? err.message));
        });
        req.once('socket', (socket) => {
          (socket as TLSSocket).once('secureConnect', () => {
            const presented = (socket as TLSSocket).getPeerCertificate().raw;
            if (!presented) {
              req.destroy(new TransportError('network', 'NO_PEER_CERTIFICATE'));
              return;
            }
            let context: string;
            try {
              context = remoteSignatureContext(address.host, new Uint8Array(presented));
            } catch (err) {
              req.destroy(new TransportError('protocol', (err as Error).message));
              return;
            }
            req.setHeader(SIGNATURE_HEADER, signRequest(key, body, context));
            req.end(body);
          });
        });
      }
    );
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new TransportError('protocol', `HTTP ${status}, not JSON`);
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      throw new TransportError('protocol', `HTTP ${status}, not a JSON-RPC response`);
    }
    const response = parsed as Partial<RpcResponse> & { error?: { message?: string } };
    if (status === 401) {
      throw new TransportError('unauthorized', response.error?.message ?? 'HTTP 401');
    }
    if (!('result' in response) && !('error' in response && response.error)) {
      throw new TransportError('protocol', `HTTP ${status}, not a JSON-RPC response`);
    }
    return response as RpcResponse;
  }

  #explain(err: TransportError): ClientError {
    const { address, key, keyPath } = this.#opts;
    const where = this.description;
    switch (err.kind) {
      case 'refused':
        return new ClientError(
          `nothing answers on ${address.display}: is the HTTPS panel enabled there ` +
            '(`start-tunnel web init` on the server) and is this its address and port?',
          ErrorCode.Network
        );
      case 'timeout':
        return new ClientError(`${where} did not answer within ${err.detail}`, ErrorCode.Network);
      case 'unauthorized': {
        if (/not authori[sz]ed/i.test(err.detail)) {
          return new ClientError(
            `the server does not know this key (${keyPath}, ${key.publicKey.fingerprint}): add ` +
              `it with \`start-tunnel auth key add NAME '${key.publicKey.openssh}'\` on the server`,
            ErrorCode.Authorization
          );
        }
        const hint = /does not verify for this server/.test(err.detail)
          ? `; address the server by an IP or name of its certificate (not ${address.host}?)`
          : '';
        return new ClientError(
          `${where} refused the signed request: ${err.detail}${hint}`,
          ErrorCode.Authorization
        );
      }
      case 'network':
        return this.#network(err.detail);
      default:
        return new ClientError(
          `unexpected answer from ${where} (${err.detail}); is ${address.display} the HTTPS ` +
            'panel of a start-tunnel server?',
          ErrorCode.Network
        );
    }
  }

  #network(code: string): ClientError {
    const { address, rootCaPaths } = this.#opts;
    const cert = `the certificate of ${address.display}`;
    const roots = rootCaPaths.join(', ');
    const getRoot = '`start-tunnel web get-root-ca` on the server prints the right one';
    if (UNTRUSTED.has(code) || /SUBTREE_VIOLATION/.test(code)) {
      return new ClientError(
        rootCaPaths.length
          ? `${cert} is not trusted (${code}): it is not issued by the root CA in --root-ca ` +
              `${roots}; ${getRoot}`
          : `${cert} is not trusted (${code}): pass the server's root CA with --root-ca FILE; ` +
              getRoot,
        ErrorCode.Network
      );
    }
    if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
      return new ClientError(
        `${cert} is not for "${address.host}" (${code}): use an address or name it was made ` +
          'for (`start-tunnel web get-certificate` on the server), or add this one with ' +
          '`start-tunnel web generate-certificate`',
        ErrorCode.Network
      );
    }
    if (code === 'CERT_HAS_EXPIRED' || code === 'CERT_NOT_YET_VALID') {
      return new ClientError(
        `${cert} is not valid now (${code}): check the clocks, or renew it with ` +
          '`start-tunnel web generate-certificate` on the server',
        ErrorCode.Network
      );
    }
    return new ClientError(`cannot reach ${this.description}: ${code}`, ErrorCode.Network);
  }
}

/** The `RemoteConnector` of the command line. */
export async function remoteConnector(options: RemoteOptions): Promise<Transport> {
  const address = parseTunnelAddress(options.tunnel);
  if (options.key === undefined) {
    throw new UsageError(
      '--tunnel needs --key FILE, the Ed25519 private key that signs the requests (make one ' +
        'with `start-tunnel auth key generate --out FILE`, then `start-tunnel auth key add` ' +
        'its public key on the server)'
    );
  }
  const key = await loadSigningKey(options.key);
  const ca: string[] = [];
  for (const path of options.rootCa) ca.push(...(await loadRootCa(path)));
  return new RemoteTransport({
    address,
    key,
    keyPath: options.key,
    ca,
    rootCaPaths: options.rootCa,
    timeoutMs: options.timeoutMs,
  });
}
