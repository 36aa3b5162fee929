// SPDX-License-Identifier: MIT
// The SSDP responder on two gateways of a random 127.x.y.0/24 pair and a free high port:
// unicast M-SEARCH to a gateway's own address, and multicast M-SEARCH to 239.255.255.250 sent
// out of the loopback interface (both gateways' group sockets receive it; only the closest
// answers). A fake host decides who is a device.
import assert from 'node:assert/strict';
import { randomBytes, randomInt } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { after, before, describe, it } from 'node:test';
import { PortMapper } from '../src/portmap.ts';
import { FakePortMapHost } from '../src/portmap-fake.ts';
import { igdIdentity } from '../src/portmap-igd.ts';
import { closestGateway, parseMSearch, SSDP_GROUP } from '../src/ssdp.ts';

const A = randomInt(1, 255);
const B = randomInt(0, 255);
const G1 = `127.${A}.${B}.1`;
const G2 = `127.${A}.${B + 1}.1`;
const D1 = `127.${A}.${B}.2`;
const D2 = `127.${A}.${B + 1}.2`;
const STRANGER = `127.${A}.${B}.3`;
const PORT = randomInt(20_000, 60_000);
const HTTP_PORT = PORT + 1;
const IGD = 'urn:schemas-upnp-org:device:InternetGatewayDevice:1';
const id = igdIdentity('ssdp-key');

const host = new FakePortMapHost({
  devices: { [D1]: null, [D2]: null },
  externalIp: '203.0.113.7',
});
const lines: string[] = [];
let mapper: PortMapper;
const clients = new Map<string, Socket>();

before(async () => {
  mapper = new PortMapper({
    host,
    log: (l) => lines.push(l),
    serverPublicKey: 'ssdp-key',
    ports: { pcp: PORT + 2, ssdp: PORT, http: HTTP_PORT },
  });
  await mapper.reconcile([{ address: G1 }, { address: G2 }]);
  for (const l of mapper.listening()) {
    assert.ok(l.ssdp && l.ssdpGroup, lines.join('\n'));
  }
});

after(async () => {
  await mapper.close();
  for (const socket of clients.values()) socket.close();
});

async function client(address: string): Promise<Socket> {
  let socket = clients.get(address);
  if (socket) return socket;
  socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket!.bind(0, address, resolve));
  socket.setMulticastInterface(address);
  clients.set(address, socket);
  return socket;
}

function search(st: string, host = `${SSDP_GROUP}:1900`): string {
  return `M-SEARCH * HTTP/1.1\r\nHOST: ${host}\r\nMAN: "ssdp:discover"\r\nMX: 1\r\nST: ${st}\r\n\r\n`;
}

function fields(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\r\n').slice(1)) {
    const colon = line.indexOf(':');
    if (colon > 0) out.set(line.slice(0, colon).toUpperCase(), line.slice(colon + 1).trim());
  }
  return out;
}

/** Sends `message` from `from` to `to` and collects the answers that come within `windowMs`. */
async function collect(
  message: string | Uint8Array,
  from: string,
  to: string,
  windowMs = 400
): Promise<string[]> {
  const socket = await client(from);
  const answers: string[] = [];
  const onMessage = (m: Buffer) => answers.push(m.toString('latin1'));
  socket.on('message', onMessage);
  socket.send(message, PORT, to);
  await new Promise((resolve) => setTimeout(resolve, windowMs));
  socket.off('message', onMessage);
  return answers;
}

/** Sends `message` and waits for the first answer. */
async function first(message: string, from: string, to: string): Promise<string> {
  const socket = await client(from);
  return new Promise((resolve) => {
    socket.once('message', (m) => resolve(m.toString('latin1')));
    socket.send(message, PORT, to);
  });
}

describe('SSDP M-SEARCH', () => {
  it('answers a unicast search on the gateway address with its LOCATION', async () => {
    const answer = await first(search('ssdp:all', `${G1}:${PORT}`), D1, G1);
    assert.match(answer, /^HTTP\/1\.1 200 OK\r\n/);
    const f = fields(answer);
    assert.equal(f.get('LOCATION'), `http://${G1}:${HTTP_PORT}/rootDesc.xml`);
    assert.equal(f.get('ST'), IGD);
    assert.equal(f.get('USN'), `uuid:${id.root}::${IGD}`);
    assert.equal(f.get('CACHE-CONTROL'), 'max-age=1800');
    assert.equal(f.get('EXT'), '');
    assert.match(f.get('SERVER') ?? '', /UPnP\/1\.1/);
  });

  it('answers a multicast search once, from the gateway of the device subnet', async () => {
    const one = await collect(search(IGD), D1, SSDP_GROUP);
    assert.equal(one.length, 1, one.join('\n'));
    assert.equal(fields(one[0]!).get('LOCATION'), `http://${G1}:${HTTP_PORT}/rootDesc.xml`);
    const two = await collect(search(IGD), D2, SSDP_GROUP);
    assert.equal(two.length, 1, two.join('\n'));
    assert.equal(fields(two[0]!).get('LOCATION'), `http://${G2}:${HTTP_PORT}/rootDesc.xml`);
  });

  it('echoes the kind of search target it matched', async () => {
    const cases: [string, string, string][] = [
      ['upnp:rootdevice', 'upnp:rootdevice', `uuid:${id.root}::upnp:rootdevice`],
      [
        'urn:schemas-upnp-org:service:WANIPConnection:1',
        'urn:schemas-upnp-org:service:WANIPConnection:1',
        `uuid:${id.connection}::urn:schemas-upnp-org:service:WANIPConnection:1`,
      ],
      [
        'urn:schemas-upnp-org:device:WANConnectionDevice:1',
        'urn:schemas-upnp-org:device:WANConnectionDevice:1',
        `uuid:${id.connection}::urn:schemas-upnp-org:device:WANConnectionDevice:1`,
      ],
      ['urn:schemas-upnp-org:device:InternetGatewayDevice:2', IGD, `uuid:${id.root}::${IGD}`],
    ];
    for (const [st, answered, usn] of cases) {
      const f = fields(await first(search(st), D1, G1));
      assert.equal(f.get('ST'), answered, st);
      assert.equal(f.get('USN'), usn, st);
    }
  });

  it('is silent to other targets, to strangers and to garbage, and keeps answering', async () => {
    assert.deepEqual(
      await collect(search('urn:schemas-upnp-org:device:MediaServer:1'), D1, G1),
      []
    );
    assert.deepEqual(await collect(search(IGD), STRANGER, G1), []);
    assert.deepEqual(await collect(search(IGD), STRANGER, SSDP_GROUP), []);
    const socket = await client(D1);
    const garbage = [
      'M-SEARCH * HTTP/1.1\r\nST: ssdp:all\r\n\r\n',
      'M-SEARCH * HTTP/1.1\r\nMAN: ssdp:discover\r\nST: ssdp:all\r\n\r\n',
      `M-SEARCH * HTTP/1.1\r\nMAN: "ssdp:discover"\r\nST: ${IGD}\r\nST: ssdp:all\r\n\r\n`,
      'NOTIFY * HTTP/1.1\r\nNT: upnp:rootdevice\r\n\r\n',
      search('ssdp:all') + 'x'.repeat(4000),
      '',
    ];
    for (const g of garbage) socket.send(g, PORT, G1);
    for (let i = 0; i < 100; i++) socket.send(randomBytes(randomInt(0, 1500)), PORT, G1);
    // none of that is answered: the first answer is the one to this last search
    const f = fields(await first(search('upnp:rootdevice'), D1, G1));
    assert.equal(f.get('ST'), 'upnp:rootdevice');
  });
});

describe('SSDP helpers', () => {
  it('parseMSearch needs the request line, MAN "ssdp:discover" and one ST', () => {
    assert.equal(parseMSearch(search('ssdp:all')), 'ssdp:all');
    assert.equal(parseMSearch(search('ssdp:all').replace('M-SEARCH', 'GET')), null);
    assert.equal(parseMSearch('M-SEARCH * HTTP/1.1\r\nMAN: "ssdp:discover"\r\n\r\n'), null);
    assert.equal(
      parseMSearch('M-SEARCH * HTTP/1.1\nman: "ssdp:discover"\nst: upnp:rootdevice\n\n'),
      'upnp:rootdevice'
    );
  });

  it('closestGateway picks the longest shared prefix', () => {
    const gateways = ['10.59.0.1', '10.59.1.1', '10.59.128.1'];
    assert.equal(closestGateway('10.59.1.77', gateways), '10.59.1.1');
    assert.equal(closestGateway('10.59.0.9', gateways), '10.59.0.1');
    assert.equal(closestGateway('10.59.200.9', gateways), '10.59.128.1');
    assert.equal(closestGateway('fd00::1', gateways), null);
    assert.equal(closestGateway('10.59.0.9', []), null);
  });
});
