// SPDX-License-Identifier: MIT
/**
 * `start-tunnel dns list | add <NAME> <VALUE> --type T [--ttl S] | remove <NAME> [--type T]`:
 * StartTunnel 1.5's records of the subnets' resolvers
 * (https://github.com/Start9Labs/start-os/tree/master/core/startos/src/tunnel): answered by the
 * resolver on each gateway for every subnet, the rest forwarded (`subnet set-dns`). Records a
 * device published itself (RFC 2136, `device set-dns-injection`) are listed with it as their
 * source. Methods `dns.list`, `dns.add {name, type, value, ttl?}`, `dns.remove {name, type?}`.
 * The type is read in any case, as in the original.
 * @module
 */

import { type DnsType, dnsTypeSchema } from '@start-tunnel/protocol';
import { group, leaf, optional } from '../command.ts';
import { UsageError } from '../errors.ts';
import { choiceOf, clean, table } from '../format.ts';

const TYPES: readonly DnsType[] = dnsTypeSchema.options;

/** `--type a` is `A`. */
function recordType(value: string): DnsType {
  return choiceOf('type', value.toUpperCase(), TYPES);
}

const NAME_ARG = {
  type: 'positional',
  required: true,
  description: 'the DNS name, e.g. nas.home.arpa',
} as const;

const TYPE_HINT = TYPES.join('|');

const list = leaf('list', {
  description: 'List the DNS records the resolvers answer themselves',
  aliases: ['ls'],
  details:
    'SOURCE is the device that published the record (DNS UPDATE), or manual for the records ' +
    'added here. With --format json: an array of objects with name, type, value, ttl and ' +
    'source (null for manual ones).',
  args: {},
  examples: ['start-tunnel dns list', 'start-tunnel dns list --format json'],
  async run(_args, ctx) {
    const records = await (await ctx.client()).call('dns.list', {});
    ctx.emit(records, () =>
      records.length === 0
        ? 'No DNS records; add one with `start-tunnel dns add NAME VALUE --type A`'
        : table(
            ['NAME', 'TYPE', 'VALUE', 'TTL', 'SOURCE'],
            records.map((r) => [r.name, r.type, r.value, String(r.ttl), r.source ?? 'manual'])
          )
    );
  },
});

const add = leaf('add', {
  description: 'Add a DNS record for the devices of every subnet',
  details:
    'Devices asking the resolver on their gateway get this record; a name held here is never ' +
    'asked upstream (a type it lacks is answered empty). The same name, type and value again ' +
    'changes the TTL. With --format json: the record, as in dns list.',
  args: {
    name: NAME_ARG,
    value: {
      type: 'positional',
      required: true,
      description: 'the address (A, AAAA), the name it points to (CNAME) or the text (TXT)',
    },
    type: {
      type: 'string',
      required: true,
      valueHint: TYPE_HINT,
      description: 'the record type',
    },
    ttl: { type: 'string', valueHint: 'SECONDS', description: 'time to live (default: 300)' },
  },
  examples: [
    'start-tunnel dns add nas.home.arpa 10.59.7.10 --type A',
    'start-tunnel dns add nas.home.arpa 2001:db8:7::a3b:70a --type AAAA --ttl 60',
    'start-tunnel dns add files.home.arpa nas.home.arpa --type CNAME',
  ],
  async run(args, ctx) {
    const ttlText = optional(args.ttl);
    if (ttlText !== undefined && !/^[0-9]{1,6}$/.test(ttlText)) {
      throw new UsageError(`invalid --ttl "${clean(ttlText)}": expected a number of seconds`);
    }
    const record = await (await ctx.client()).call('dns.add', {
      name: args.name,
      type: recordType(args.type),
      value: args.value,
      ...(ttlText !== undefined ? { ttl: Number(ttlText) } : {}),
    });
    ctx.emit(
      record,
      () =>
        `Added DNS record ${clean(record.name)} ${record.type} ${clean(record.value)} ` +
        `(TTL ${record.ttl})`
    );
  },
});

const remove = leaf('remove', {
  description: 'Remove the DNS records of a name (of one type with --type)',
  aliases: ['rm'],
  details:
    'Removes manual and published records alike. With --format json: an object with removed ' +
    '(how many).',
  args: {
    name: NAME_ARG,
    type: { type: 'string', valueHint: TYPE_HINT, description: 'only the records of this type' },
  },
  examples: [
    'start-tunnel dns remove nas.home.arpa',
    'start-tunnel dns remove nas.home.arpa --type AAAA',
  ],
  async run(args, ctx) {
    const type = optional(args.type);
    const r = await (await ctx.client()).call('dns.remove', {
      name: args.name,
      ...(type !== undefined ? { type: recordType(type) } : {}),
    });
    ctx.emit(
      r,
      `Removed ${r.removed} DNS record${r.removed === 1 ? '' : 's'} of ${clean(args.name)}`
    );
  },
});

export const dnsCommand = group('dns', {
  description: 'DNS records: names the resolvers on the gateways answer for every subnet',
  details:
    'Each subnet has a resolver on its gateway address, the DNS server of its devices. It ' +
    'answers these records and forwards every other name (start-tunnel subnet set-dns).',
  children: [list, add, remove],
  examples: [
    'start-tunnel dns add nas.home.arpa 10.59.7.10 --type A',
    'start-tunnel dns list',
    'start-tunnel dns remove nas.home.arpa',
  ],
});
