// SPDX-License-Identifier: MIT
/**
 * `start-tunnel web …`: the HTTPS panel
 * (https://github.com/Start9Labs/start-os/blob/v0.4.0-beta.9/core/src/tunnel/web.rs#L95-L177).
 * Every change is live: the daemon moves, starts or stops the listener and swaps the certificate
 * without a restart. Methods `web.enable`, `web.disable`, `web.reset` (upstream's later
 * `web uninit`, an alias here), `web.set-listen {listen}`, `web.get-listen`,
 * `web.get-available-ips`, `web.generate-certificate {subject}`,
 * `web.import-certificate {key, cert}`, `web.get-certificate`, `web.get-root-ca`, `web.status`.
 * `web init` is in `web-init.ts`.
 * @module
 */

import { readFile } from 'node:fs/promises';
import { type Context, group, leaf, optional, restOf } from '../command.ts';
import { CliError } from '../errors.ts';
import { clean, fields } from '../format.ts';
import { describeGenerated, hostOf, splitPem, subjectsText } from './web-common.ts';
import { webInitCommand } from './web-init.ts';

const enable = leaf('enable', {
  description: 'Turn the HTTPS panel on',
  details:
    'Needs a listen address (web set-listen), a certificate (web generate-certificate or ' +
    'import-certificate) and a password (auth set-password); `web init` sets all three. ' +
    'Refused with the code of the first one missing: 41, 49 or 34. With --format json: an ' +
    'object with listen and url.',
  args: {},
  examples: ['start-tunnel web enable'],
  async run(_args, ctx) {
    const r = await (await ctx.client()).call('web.enable', {});
    ctx.emit(r, `HTTPS panel on: ${r.url}`);
  },
});

const disable = leaf('disable', {
  description: 'Turn the HTTPS panel off (settings are kept)',
  details:
    'The listener stops at once; remote mode (--tunnel) stops working with it. With --format ' +
    'json the result is null.',
  args: {},
  examples: ['start-tunnel web disable'],
  async run(_args, ctx) {
    const r = await (await ctx.client()).call('web.disable', {});
    ctx.emit(r, 'HTTPS panel off');
  },
});

const reset = leaf('reset', {
  description: 'Turn the panel off and forget its address, certificate and password',
  aliases: ['uninit'],
  details:
    'Every panel session ends. The root CA is kept, so a later `web init` signs with the root ' +
    'browsers already trust; authorised keys are kept too. With --format json the result is ' +
    'null.',
  args: {},
  examples: ['start-tunnel web reset'],
  async run(_args, ctx) {
    const r = await (await ctx.client()).call('web.reset', {});
    ctx.emit(r, 'HTTPS panel reset: off, no listen address, certificate or password');
  },
});

const setListen = leaf('set-listen', {
  description: 'Set the address and port the panel listens on',
  details:
    'An IP address of this server (0.0.0.0 for all) and a port, e.g. 203.0.113.5:8443. The ' +
    'address is tried first; a running panel moves to it at once. The certificate must name ' +
    'the address browsers use: a note says when it does not. With --format json the result is ' +
    'null.',
  args: {
    listen: {
      type: 'positional',
      required: true,
      valueHint: 'IP:PORT',
      description: 'e.g. 203.0.113.5:8443 or [2001:db8::1]:8443',
    },
  },
  examples: [
    'start-tunnel web set-listen 203.0.113.5:8443',
    'start-tunnel web set-listen 0.0.0.0:443',
  ],
  async run(args, ctx) {
    const client = await ctx.client();
    const r = await client.call('web.set-listen', { listen: args.listen });
    const listen = (await client.call('web.get-listen', {})) ?? args.listen;
    const cert = await client.call('web.get-certificate', {});
    const host = hostOf(listen);
    if (cert && host !== '0.0.0.0' && host !== '::' && !cert.subjects.ips.includes(host)) {
      ctx.io.stderr(
        `note: the certificate is not for ${host} (it is for ${subjectsText(cert)}): ` +
          `run \`start-tunnel web generate-certificate\` to add it\n`
      );
    }
    ctx.emit(r, `Listen address set to ${clean(listen)}`);
  },
});

const getListen = leaf('get-listen', {
  description: 'Print the address the panel listens on',
  details: 'With --format json: the address as a string, or null when none is set.',
  args: {},
  examples: ['start-tunnel web get-listen'],
  async run(_args, ctx) {
    const r = await (await ctx.client()).call('web.get-listen', {});
    ctx.emit(r, r ?? 'not set (start-tunnel web set-listen IP:PORT)');
  },
});

const availableIps = leaf('get-available-ips', {
  description: 'List the addresses of this server the panel could listen on',
  details: 'Every address on every interface but the tunnel. With --format json: an array.',
  args: {},
  examples: ['start-tunnel web get-available-ips'],
  async run(_args, ctx) {
    const r = await (await ctx.client()).call('web.get-available-ips', {});
    ctx.emit(r, r.join('\n'));
  },
});

const generateCertificate = leaf('generate-certificate', {
  description: 'Issue a new certificate for the listen address and the names given',
  details:
    'The certificate names the listen IP (unless it is 0.0.0.0) and every SUBJECT (IP addresses ' +
    'and DNS names). It is signed by the root CA this server keeps, so browsers that trust it ' +
    'need nothing new; a new root is made only when the names fall outside what the root may ' +
    'sign for, and then the output says so. Prints the root CA to trust. With --format json: ' +
    'an object with chain, rootCa, fingerprint, rootRegenerated, rootReason and certificate.',
  variadic: true,
  args: {
    subject: {
      type: 'positional',
      required: false,
      description: 'an extra IP address or DNS name, e.g. vpn.example.org',
    },
  },
  examples: [
    'start-tunnel web generate-certificate',
    'start-tunnel web generate-certificate vpn.example.org 198.51.100.7',
  ],
  async run(args, ctx) {
    const r = await (await ctx.client()).call('web.generate-certificate', {
      subject: restOf(args),
    });
    ctx.emit(
      r,
      () =>
        `${describeGenerated(r)}\nRoot CA (SHA-256 ${r.fingerprint ?? '-'}):\n${r.rootCa.trim()}`
    );
  },
});

async function readPemFile(flag: string, path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    throw new CliError(
      `cannot read ${flag} ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`
    );
  }
}

/** The key and chain of `import-certificate`: from the files given, stdin for the rest. */
export async function importInput(
  ctx: Context,
  keyFile: string | undefined,
  certFile: string | undefined
): Promise<{ key: string; cert: string }> {
  let text = '';
  if (keyFile !== undefined) text += await readPemFile('--key-file', keyFile);
  if (certFile !== undefined) text += `\n${await readPemFile('--cert-file', certFile)}`;
  if (keyFile === undefined || certFile === undefined) {
    if (ctx.terminal.isTTY) {
      throw new CliError(
        'give --key-file FILE and --cert-file FILE, or pipe the key and the chain (PEM) on stdin'
      );
    }
    text += `\n${await ctx.terminal.readAll()}`;
  }
  const { keys, certificates } = splitPem(text);
  if (keys.length !== 1) {
    throw new CliError(
      keys.length === 0
        ? 'no private key (-----BEGIN PRIVATE KEY-----) in the input'
        : `${keys.length} private keys in the input: give exactly one`
    );
  }
  if (certificates.length === 0) {
    throw new CliError('no certificate (-----BEGIN CERTIFICATE-----) in the input');
  }
  return { key: keys[0] ?? '', cert: certificates.join('') };
}

const importCertificate = leaf('import-certificate', {
  description: 'Use your own certificate and key for the panel',
  details:
    'Reads the private key (PEM) and the certificate chain (PEM, the leaf first, then each ' +
    'issuer) from --key-file and --cert-file, or from stdin for whichever is not given. The ' +
    'server checks that the key matches the leaf and that each certificate is signed by the ' +
    'next. With --format json: an object with subjects, notBefore, notAfter, fingerprint, ' +
    'issuer and chainLength.',
  args: {
    'key-file': { type: 'string', valueHint: 'FILE', description: 'the private key (PEM)' },
    'cert-file': {
      type: 'string',
      valueHint: 'FILE',
      description: 'the certificate chain (PEM, leaf first)',
    },
  },
  examples: [
    'start-tunnel web import-certificate --key-file key.pem --cert-file fullchain.pem',
    'start-tunnel web import-certificate < key-and-chain.pem',
  ],
  async run(args, ctx) {
    const input = await importInput(ctx, optional(args['key-file']), optional(args['cert-file']));
    const info = await (await ctx.client()).call('web.import-certificate', input);
    ctx.emit(
      info,
      `Certificate imported for ${subjectsText(info)}, valid until ${info.notAfter} ` +
        `(chain of ${info.chainLength})`
    );
  },
});

const getCertificate = leaf('get-certificate', {
  description: 'Print the certificate chain the panel serves (PEM)',
  details:
    'The leaf first, then its issuers. Nothing is printed when there is none. With --format ' +
    'json: an object with chain (PEM), subjects, notBefore, notAfter, fingerprint, issuer and ' +
    'chainLength, or null.',
  args: {},
  examples: ['start-tunnel web get-certificate', 'start-tunnel web get-certificate --format json'],
  async run(_args, ctx) {
    const r = await (await ctx.client()).call('web.get-certificate', {});
    if (r === null && ctx.options.format === 'text') {
      ctx.io.stderr('note: no certificate (start-tunnel web generate-certificate)\n');
    }
    ctx.emit(r, r?.chain ?? '');
  },
});

const getRootCa = leaf('get-root-ca', {
  description: 'Print the root CA that signed the certificate (PEM), to trust in browsers',
  details:
    'Save it (> root-ca.pem) and trust it in a browser or the system, or give it to remote ' +
    'mode with --root-ca. Its SHA-256 fingerprint goes to stderr. Nothing is printed when the ' +
    'chain has no self-signed root. With --format json: an object with pem and fingerprint, or ' +
    'null.',
  args: {},
  examples: ['start-tunnel web get-root-ca > root-ca.pem'],
  async run(_args, ctx) {
    const r = await (await ctx.client()).call('web.get-root-ca', {});
    if (ctx.options.format === 'text') {
      ctx.io.stderr(
        r ? `SHA-256 fingerprint: ${r.fingerprint}\n` : 'note: no root CA in the chain\n'
      );
    }
    ctx.emit(r, r?.pem ?? '');
  },
});

const status = leaf('status', {
  description: 'Show whether the panel is on, where, and with what certificate',
  details:
    'With --format json: an object with enabled, listen, running, url, passwordSet, ' +
    'certificate (subjects, notBefore, notAfter, fingerprint, issuer, chainLength) and rootCa ' +
    '{fingerprint}.',
  args: {},
  examples: ['start-tunnel web status'],
  async run(_args, ctx) {
    const s = await (await ctx.client()).call('web.status', {});
    ctx.emit(s, () =>
      fields([
        [
          'Panel',
          s.running ? 'on' : s.enabled ? 'ON BUT NOT LISTENING (see the daemon log)' : 'off',
        ],
        ['URL', s.url ?? '-'],
        ['Listen', s.listen ?? 'not set'],
        ['Password', s.passwordSet ? 'set' : 'not set'],
        [
          'Certificate',
          s.certificate
            ? `${subjectsText(s.certificate)}, until ${s.certificate.notAfter}`
            : 'none',
        ],
        ['Root CA', s.rootCa ? `SHA-256 ${s.rootCa.fingerprint}` : '-'],
      ])
    );
  },
});

export const webCommand = group('web', {
  description: 'The HTTPS panel: set it up, turn it on or off, its certificate',
  details:
    'The panel serves the same commands on https://ADDRESS/rpc/v0 for the browser and for ' +
    'remote mode (-t HOST:PORT --key FILE --root-ca FILE). `web init` sets it up in one go.',
  children: [
    webInitCommand,
    enable,
    disable,
    reset,
    setListen,
    getListen,
    availableIps,
    generateCertificate,
    importCertificate,
    getCertificate,
    getRootCa,
    status,
  ],
  examples: [
    'start-tunnel web init',
    'start-tunnel web init --listen 203.0.113.5:8443 --subject vpn.example.org',
    'start-tunnel web get-root-ca > root-ca.pem',
    'start-tunnel web status',
  ],
});
