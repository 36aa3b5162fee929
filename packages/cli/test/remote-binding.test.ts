// SPDX-License-Identifier: MIT
/**
 * Remote mode binds each signature to the server it talks to: the context is the host and the
 * SHA-256 of the certificate that server presented in the handshake, so a request captured by
 * (or replayed to) another server answering to the same name with the same trusted key fails.
 * Real HTTPS on 127.0.0.1; the servers verify with the web package's own verifier.
 * @module
 */

import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { after, describe, it } from 'node:test';
import type { TLSSocket } from 'node:tls';
import { generateCertificate, generateSigningKey } from '@start-tunnel/web';
import { SignatureVerifier, signatureContext } from '../../web/src/signature.ts';
import { parseTunnelAddress, RemoteTransport, remoteSignatureContext } from '../src/remote.ts';

interface Panel {
  server: Server;
  port: number;
  /** Signature headers received, in order. */
  headers: string[];
  /** Verifies a header and body as this server would (its name, its certificate). */
  check(header: string, body: Uint8Array): string;
  rootPem: string;
}

const { key } = generateSigningKey();
const panels: Panel[] = [];
after(() => {
  for (const p of panels) p.server.close();
});

/** A stand-in panel on 127.0.0.1 that trusts `key` and answers `{result: "ok"}`. */
async function panel(): Promise<Panel> {
  const made = await generateCertificate(['127.0.0.1'], null);
  const verifier = new SignatureVerifier(Date.now, undefined, Date.now() - 60_000);
  const headers: string[] = [];
  const server = createServer(
    { key: made.certificate.keyPem, cert: made.certificate.chainPem.join('') },
    (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const header = String(req.headers['x-startos-auth-sig'] ?? '');
        headers.push(header);
        const presented = (req.socket as TLSSocket).getCertificate();
        const der = presented && 'raw' in presented ? new Uint8Array(presented.raw) : null;
        let result: string;
        try {
          result = verifier.verify(header, new Uint8Array(Buffer.concat(chunks)), {
            contexts: der ? [signatureContext('127.0.0.1', der)] : [],
            keyName: (pem) => (pem === key.publicKey.pem ? 'laptop' : undefined),
          }).name;
        } catch (err) {
          res.writeHead(401, { 'content-type': 'application/json' });
          res.end(
            JSON.stringify({
              jsonrpc: '2.0',
              id: null,
              error: { code: 31, message: (err as Error).message },
            })
          );
          return;
        }
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ jsonrpc: '2.0', id: 1, result }));
      });
    }
  );
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  const leafDer = new Uint8Array(
    Buffer.from((made.certificate.chainPem[0] ?? '').replace(/-----[A-Z ]+-----|\s/g, ''), 'base64')
  );
  const p: Panel = {
    server,
    port,
    headers,
    rootPem: made.rootCa.certPem,
    check: (header, body) =>
      verifier.verify(header, body, {
        contexts: [signatureContext('127.0.0.1', leafDer)],
        keyName: (pem) => (pem === key.publicKey.pem ? 'laptop' : undefined),
      }).name,
  };
  panels.push(p);
  return p;
}

function transport(p: Panel): RemoteTransport {
  return new RemoteTransport({
    address: parseTunnelAddress(`127.0.0.1:${p.port}`),
    key,
    keyPath: 'key.pem',
    ca: [p.rootPem],
    rootCaPaths: ['root-ca.pem'],
    timeoutMs: 10_000,
  });
}

describe('remote signatures are bound to the server', () => {
  it('the CLI and the server compute the same context', () => {
    const der = Uint8Array.of(0x30, 0x03, 0x02, 0x01, 0x05);
    assert.equal(
      remoteSignatureContext('vpn.example.org', der),
      signatureContext('vpn.example.org', der)
    );
    assert.throws(() => remoteSignatureContext('a'.repeat(240), der), /too long/);
  });

  it('signs for the certificate the server presented; the server accepts it', async () => {
    const a = await panel();
    const out = await transport(a).send({ jsonrpc: '2.0', id: 1, method: 'status', params: {} });
    assert.deepEqual(out, { jsonrpc: '2.0', id: 1, result: 'laptop' });
  });

  it('a request captured by one server is refused by another with the same name and key', async () => {
    const a = await panel();
    const b = await panel();
    const request = { jsonrpc: '2.0' as const, id: 1, method: 'status', params: {} };
    await transport(a).send(request);
    const captured = a.headers.at(-1) ?? '';
    const body = new TextEncoder().encode(JSON.stringify(request));
    assert.throws(() => b.check(captured, body), /does not verify for this server/);
  });
});
