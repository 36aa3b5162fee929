// SPDX-License-Identifier: MIT
/**
 * `start-tunnel web init`: the original's `init_web` loop
 * (https://github.com/Start9Labs/start-os/blob/v0.4.0-beta.9/core/src/tunnel/web.rs#L464-L685; the
 * codes are `enable_web`'s, L391-L416). It calls `web.enable` and repairs whatever it answers,
 * until the panel is on: 41 (no listen address) → `web.set-listen`, 49 (no certificate) →
 * `web.generate-certificate` (or, asked on a terminal, `web.import-certificate`), 34 (no password)
 * → a random password (the original's `reset-password` form) through `auth.set-password`, which
 * also works in remote mode. Each code is repaired once: if it comes back, the server's message is
 * the error.
 *
 * On a terminal with no flags it asks (listen address among the public IPv4 addresses of the
 * server, port 8443, generate or provide the certificate). With flags, `--yes`, or stdin not a
 * terminal it asks nothing: the listen address is `--listen`, else the WAN address on port 8443
 * (0.0.0.0:8443 when the WAN address is not on an interface, as behind 1:1 NAT, with the WAN
 * address named in the certificate), and the certificate is generated for it plus `--subject`.
 * An explicit `--listen` or `--subject` is applied even on a panel already set up (a new address,
 * a certificate that lacks a name), so re-running `web init` with flags converges.
 *
 * Then it prints the URL, the password (only when it set one), and the root CA with its SHA-256
 * fingerprint; `--format json` prints `{url, password, rootCa}` (rootCa the PEM, or null when the
 * chain has no root of its own).
 * @module
 */

import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { ErrorCode, isPublicIPv4, type WanInfo } from '@start-tunnel/protocol';
import type { RpcClient } from '../client.ts';
import { type Context, leaf, optional } from '../command.ts';
import { CliError, RpcCallError, UsageError } from '../errors.ts';
import { clean } from '../format.ts';
import { InputEnded } from '../terminal.ts';
import { describeGenerated, hostOf, splitPem } from './web-common.ts';

/** The port `web init` suggests (the original's). */
export const DEFAULT_WEB_PORT = 8443;
/** Times an interactive question is asked again after a bad answer. */
const TRIES = 3;

export interface WebInitResult {
  url: string;
  /** The password `web init` set, or null when one was set before (left unchanged). */
  password: string | null;
  /** The root CA to trust, PEM; null when the chain has no self-signed root (imported). */
  rootCa: string | null;
}

/** `WebInitResult` and the root's fingerprint (for the text output). */
interface InitOutcome {
  result: WebInitResult;
  fingerprint: string | null;
}

function isUnspecified(host: string): boolean {
  return host === '0.0.0.0' || host === '::';
}

/** Canonical text of an IP or a DNS name, for comparing with certificate subjects. */
export function canonicalSubject(text: string): string {
  const bare = text.replace(/^\[(.*)\]$/, '$1');
  if (isIP(bare) === 6) return new URL(`http://[${bare}]/`).hostname.slice(1, -1);
  if (isIP(bare) === 4) return bare;
  return bare.toLowerCase().replace(/\.$/, '');
}

/** `IP:PORT` for an IP and a port (IPv6 in brackets). */
function listenOf(ip: string, port: number): string {
  return isIP(ip) === 6 ? `[${ip}]:${port}` : `${ip}:${port}`;
}

class Wizard {
  readonly #ctx: Context;
  readonly #client: RpcClient;
  readonly #interactive: boolean;
  readonly #listen: string | undefined;
  readonly #subjects: string[];
  /** Names the certificate must carry besides the listen IP (the WAN address on 0.0.0.0). */
  readonly #extraSubjects: string[] = [];
  #wan: WanInfo | null | undefined;
  #password: string | null = null;

  constructor(
    ctx: Context,
    client: RpcClient,
    opts: { interactive: boolean; listen: string | undefined; subjects: string[] }
  ) {
    this.#ctx = ctx;
    this.#client = client;
    this.#interactive = opts.interactive;
    this.#listen = opts.listen;
    this.#subjects = opts.subjects;
  }

  #say(text: string): void {
    if (this.#interactive && this.#ctx.options.format === 'text') this.#ctx.io.stderr(`${text}\n`);
  }

  async #wanInfo(): Promise<WanInfo | null> {
    if (this.#wan === undefined) {
      try {
        this.#wan = await this.#client.call('wan.show', {});
      } catch (err) {
        if (!(err instanceof RpcCallError)) throw err;
        this.#wan = null;
      }
    }
    return this.#wan;
  }

  async #ask(question: string, fallback: string): Promise<string> {
    const shown = fallback === '' ? `${question}: ` : `${question} [${fallback}]: `;
    const answer = (await this.#ctx.terminal.ask(shown)).trim();
    return answer === '' ? fallback : answer;
  }

  async run(): Promise<InitOutcome> {
    if (this.#listen !== undefined) await this.#applyListen(this.#listen);
    if (this.#listen !== undefined || this.#subjects.length) await this.#checkCertificate();
    const repaired = new Set<number>();
    for (;;) {
      try {
        const enabled = await this.#client.call('web.enable', {});
        return await this.#result(enabled.url);
      } catch (err) {
        if (!(err instanceof RpcCallError) || repaired.has(err.code)) throw err;
        repaired.add(err.code);
        if (err.code === ErrorCode.ParseNetAddress) {
          await this.#repairListen(err);
          await this.#checkCertificate();
        } else if (err.code === ErrorCode.OpenSsl) await this.#repairCertificate();
        else if (err.code === ErrorCode.Authorization) await this.#repairPassword();
        else throw err;
      }
    }
  }

  // ---- listen address ----------------------------------------------------------------------

  async #applyListen(listen: string): Promise<void> {
    const current = await this.#client.call('web.get-listen', {});
    if (current !== listen) await this.#client.call('web.set-listen', { listen });
    const host = hostOf((await this.#client.call('web.get-listen', {})) ?? listen);
    if (isUnspecified(host)) await this.#nameWanInCertificate();
    this.#say(`Listen address: ${clean(listen)}`);
  }

  /** On 0.0.0.0 the certificate cannot take the listen IP: it names the WAN address instead. */
  async #nameWanInCertificate(): Promise<void> {
    const wan = (await this.#wanInfo())?.address;
    if (wan && !this.#extraSubjects.includes(wan)) this.#extraSubjects.push(wan);
  }

  async #repairListen(err: RpcCallError): Promise<void> {
    if (this.#listen !== undefined) throw err; // the address given cannot be used as it is
    if (this.#interactive) {
      await this.#askListen();
      return;
    }
    const wan = await this.#wanInfo();
    if (!wan?.address) {
      throw new CliError(
        'no WAN address to listen on: pass --listen IP:PORT, or set the address with ' +
          '`start-tunnel wan set IP`'
      );
    }
    const ips = await this.#client.call('web.get-available-ips', {});
    const onInterface = ips.includes(wan.address);
    await this.#client.call('web.set-listen', {
      listen: listenOf(onInterface ? wan.address : '0.0.0.0', DEFAULT_WEB_PORT),
    });
    if (!onInterface) await this.#nameWanInCertificate();
  }

  async #askListen(): Promise<void> {
    const ips = await this.#client.call('web.get-available-ips', {});
    const wan = (await this.#wanInfo())?.address ?? null;
    const candidates = [...new Set(ips.filter(isPublicIPv4))];
    let ip: string;
    if (candidates.length === 1) {
      ip = candidates[0] ?? '';
      this.#say(`Listen address: ${ip} (the only public address of this server)`);
    } else if (candidates.length > 1) {
      this.#ctx.io.stderr('Addresses of this server:\n');
      candidates.forEach((c, i) => {
        this.#ctx.io.stderr(`  ${i + 1}) ${c}${c === wan ? ' (WAN)' : ''}\n`);
      });
      const first = Math.max(0, candidates.indexOf(wan ?? '')) + 1;
      ip = await this.#retry(async () => {
        const answer = await this.#ask('Listen on', String(first));
        const chosen = /^\d+$/.test(answer) ? candidates[Number(answer) - 1] : undefined;
        if (chosen !== undefined) return chosen;
        if (isIP(answer)) return answer;
        throw new CliError(`"${clean(answer)}" is not one of 1..${candidates.length} or an IP`);
      });
    } else {
      // behind 1:1 NAT the public address is on no interface: listen on all of them
      ip = await this.#retry(async () => {
        const answer = await this.#ask('Listen address (an IP of this server)', '0.0.0.0');
        if (isIP(answer.replace(/^\[(.*)\]$/, '$1'))) return answer.replace(/^\[(.*)\]$/, '$1');
        throw new CliError(`"${clean(answer)}" is not an IP address`);
      });
    }
    await this.#retry(async () => {
      const text = await this.#ask('Port', String(DEFAULT_WEB_PORT));
      const port = /^\d{1,5}$/.test(text) ? Number(text) : Number.NaN;
      if (!(port >= 1 && port <= 65535)) throw new CliError(`"${clean(text)}" is not a port`);
      await this.#client.call('web.set-listen', { listen: listenOf(ip, port) });
    });
    if (isUnspecified(ip)) await this.#nameWanInCertificate();
  }

  /** Runs `step` again after a bad answer or a refused address (interactive only). */
  async #retry<T>(step: () => Promise<T>): Promise<T> {
    for (let i = 1; ; i++) {
      try {
        return await step();
      } catch (err) {
        const fixable =
          (err instanceof CliError && !(err instanceof RpcCallError)) ||
          (err instanceof RpcCallError && err.code === ErrorCode.ParseNetAddress);
        if (!fixable || err instanceof InputEnded || i >= TRIES) throw err;
        this.#ctx.io.stderr(`${(err as Error).message}\n`);
      }
    }
  }

  // ---- certificate -------------------------------------------------------------------------

  /** With --listen or --subject: a certificate that lacks a name asked for is made anew. */
  async #checkCertificate(): Promise<void> {
    const cert = await this.#client.call('web.get-certificate', {});
    if (cert === null) return; // web.enable answers 49 and the loop generates one
    const listen = await this.#client.call('web.get-listen', {});
    const host = listen === null ? null : hostOf(listen);
    const wanted = [...this.#subjects, ...this.#extraSubjects];
    if (host !== null && !isUnspecified(host)) wanted.push(host);
    const has = new Set([...cert.subjects.ips, ...cert.subjects.dns].map(canonicalSubject));
    if (wanted.every((s) => has.has(canonicalSubject(s)))) return;
    await this.#generate([...this.#subjects, ...this.#extraSubjects]);
  }

  async #generate(subjects: string[]): Promise<void> {
    const made = await this.#client.call('web.generate-certificate', {
      subject: [...new Set(subjects)],
    });
    this.#say(describeGenerated(made));
  }

  async #repairCertificate(): Promise<void> {
    if (!this.#interactive) {
      await this.#generate([...this.#subjects, ...this.#extraSubjects]);
      return;
    }
    this.#ctx.io.stderr(
      'Certificate:\n' +
        "  1) Generate one, signed by this server's own root CA (name-constrained to it)\n" +
        '  2) Provide your own (private key and chain files, PEM)\n'
    );
    const choice = await this.#retry(async () => {
      const answer = await this.#ask('Choose', '1');
      if (answer === '1' || answer === '2') return answer;
      throw new CliError(`"${clean(answer)}" is not 1 or 2`);
    });
    if (choice === '2') {
      await this.#retry(() => this.#provide());
      return;
    }
    const listen = await this.#client.call('web.get-listen', {});
    const specific = listen !== null && !isUnspecified(hostOf(listen));
    const fallback = specific ? '' : this.#extraSubjects.join(',');
    const question = specific
      ? `Extra DNS names or IPs for the certificate, comma-separated (it has ${hostOf(listen ?? '')})`
      : 'DNS names or IPs browsers will use, comma-separated';
    await this.#retry(async () => {
      const answer = await this.#ask(question, fallback);
      const names = answer
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
      await this.#generate([...this.#subjects, ...names]);
    });
  }

  async #provide(): Promise<void> {
    const keyPath = await this.#ask('Private key file (PEM)', '');
    const chainPath = await this.#ask('Certificate chain file (PEM, leaf first)', '');
    const read = async (path: string) => {
      try {
        return await readFile(path, 'utf8');
      } catch (err) {
        throw new CliError(
          `cannot read ${clean(path)}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`
        );
      }
    };
    const { keys } = splitPem(await read(keyPath));
    const { certificates } = splitPem(await read(chainPath));
    if (keys.length !== 1) throw new CliError(`${clean(keyPath)} must hold one private key`);
    if (certificates.length === 0) throw new CliError(`no certificate in ${clean(chainPath)}`);
    const info = await this.#client.call('web.import-certificate', {
      key: keys[0] ?? '',
      cert: certificates.join(''),
    });
    this.#say(`Certificate imported, valid until ${info.notAfter}`);
  }

  // ---- password ----------------------------------------------------------------------------

  async #repairPassword(): Promise<void> {
    const { randomPassword } = await import('@start-tunnel/web');
    const password = randomPassword();
    await this.#client.call('auth.set-password', { password });
    this.#password = password;
  }

  // ---- result ------------------------------------------------------------------------------

  async #result(url: string): Promise<InitOutcome> {
    const rootCa = await this.#client.call('web.get-root-ca', {});
    const u = new URL(url);
    const host = u.hostname.replace(/^\[(.*)\]$/, '$1');
    if (isUnspecified(host)) {
      // a browser cannot go to 0.0.0.0: use the WAN address, else the certificate's first name
      const cert = await this.#client.call('web.get-certificate', {});
      const name =
        (await this.#wanInfo())?.address ?? cert?.subjects.ips[0] ?? cert?.subjects.dns[0];
      if (name) u.hostname = isIP(name) === 6 ? `[${name}]` : name;
    }
    return {
      result: { url: u.origin, password: this.#password, rootCa: rootCa?.pem ?? null },
      fingerprint: rootCa?.fingerprint ?? null,
    };
  }
}

/** The text `web init` prints. */
export function describeInit(r: WebInitResult, fingerprint: string | null): string {
  const host = new URL(r.url).hostname.replace(/^\[(.*)\]$/, '$1');
  const local = host === '127.0.0.1' || host === '::1' || host.startsWith('127.');
  const lines = [
    'The HTTPS panel is on.',
    '',
    `URL:       ${r.url}${local ? '   (loopback: reachable from this server only)' : ''}`,
    r.password !== null
      ? `Password:  ${r.password}`
      : 'Password:  unchanged (forgot it? start-tunnel auth reset-password)',
  ];
  if (r.rootCa) {
    lines.push(
      '',
      `Root CA (SHA-256 ${fingerprint ?? '?'}):`,
      r.rootCa.trim(),
      '',
      'Save the root CA to a file (or later: start-tunnel web get-root-ca > root-ca.pem) and',
      'trust it in your browser or system to open the panel without a warning. It can only vouch',
      "for this server's own addresses and names (name constraints), and it stays the same when",
      'the certificate is renewed.'
    );
  } else {
    lines.push('', 'The certificate chain has no root CA of its own (an imported certificate).');
  }
  return lines.join('\n');
}

export const webInitCommand = leaf('init', {
  description: 'Set up the HTTPS panel: address, certificate, password, and turn it on',
  details:
    'On a terminal it asks for the listen address (among the public addresses of the server) ' +
    'and port (8443), and whether to generate a certificate or provide one. With --listen, ' +
    '--subject or --yes, or when stdin is not a terminal, it asks nothing: it listens on the ' +
    'WAN address (start-tunnel wan show) on port 8443 and generates the certificate. A random ' +
    'password is set if there is none. Then it prints the URL, the password (only if it set ' +
    'it) and the root CA to trust, with its SHA-256 fingerprint. Safe to run again: what is set ' +
    'stays, except what --listen and --subject ask to change. With --format json: an object ' +
    'with url, password (null when unchanged) and rootCa (the PEM, or null).',
  args: {
    listen: {
      type: 'string',
      valueHint: 'IP:PORT',
      description: 'the listen address (default: the WAN address, port 8443)',
    },
    subject: {
      type: 'string',
      valueHint: 'NAME',
      description: 'an extra DNS name or IP for the certificate (repeatable)',
    },
    yes: { type: 'boolean', alias: 'y', description: 'ask nothing: take the defaults' },
  },
  examples: [
    'start-tunnel web init',
    'start-tunnel web init --yes',
    'start-tunnel web init --listen 203.0.113.5:8443 --subject vpn.example.org',
    'start-tunnel web init --format json',
  ],
  async run(args, ctx) {
    const listen = optional(args.listen);
    if (listen !== undefined && listen.trim() === '')
      throw new UsageError('--listen needs IP:PORT');
    const subjects = ctx.values('subject').map((s) => s.trim());
    if (subjects.some((s) => s === '')) throw new UsageError('--subject needs a name');
    const interactive =
      ctx.terminal.isTTY && listen === undefined && subjects.length === 0 && args.yes !== true;
    const wizard = new Wizard(ctx, await ctx.client(), {
      interactive,
      listen: listen?.trim(),
      subjects,
    });
    const { result, fingerprint } = await wizard.run();
    ctx.emit(result, () => describeInit(result, fingerprint));
  },
});
