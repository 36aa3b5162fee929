// SPDX-License-Identifier: MIT
/**
 * The UPnP Internet Gateway Device the tunnel presents to its devices: its identity (UUIDs
 * derived from the server's public key), its description documents (UPnP Device Architecture
 * 1.0 §2: the root device InternetGatewayDevice:1 → WANDevice:1 with WANCommonInterfaceConfig:1 →
 * WANConnectionDevice:1 with WANIPConnection:1, as in StartTunnel's
 * https://github.com/Start9Labs/start-technologies/blob/master/shared-libs/crates/start-core/src/net/port_map/server/igd_xml/root_desc.xml),
 * and the SOAP 1.1 envelopes of its control messages (UDA 1.0 §3.2): parsing a request with
 * fast-xml-parser, writing a response or a UPnP fault.
 * @module
 */

import { createHash } from 'node:crypto';
import { XMLParser, XMLValidator } from 'fast-xml-parser';

export const IGD_DEVICE = 'urn:schemas-upnp-org:device:InternetGatewayDevice:1';
export const WAN_DEVICE = 'urn:schemas-upnp-org:device:WANDevice:1';
export const WAN_CONNECTION_DEVICE = 'urn:schemas-upnp-org:device:WANConnectionDevice:1';
export const WANIP_SERVICE = 'urn:schemas-upnp-org:service:WANIPConnection:1';
export const WAN_COMMON_SERVICE = 'urn:schemas-upnp-org:service:WANCommonInterfaceConfig:1';
export const ROOT_DESC_PATH = '/rootDesc.xml';
export const WANIP_SCPD_PATH = '/WANIPCn.xml';
export const WAN_COMMON_SCPD_PATH = '/WANCfg.xml';
/** Both services are controlled here; the action name tells them apart. */
export const CONTROL_PATH = '/ctl/IPConn';
/** UDA 1.1 §1.1.3: `OS/version UPnP/1.1 product/version`. */
export const SERVER_HEADER = 'Linux UPnP/1.1 start-tunnel/1.0';

/** The UDNs of the three devices (without the `uuid:` prefix). */
export interface IgdIdentity {
  root: string;
  wan: string;
  connection: string;
}

/** A UUID (RFC 9562 §5.8, version 8) from SHA-256 of a label and the key. */
function uuidOf(label: string, serverPublicKey: string): string {
  const b = createHash('sha256').update(`start-tunnel ${label}\0${serverPublicKey}`).digest();
  b[6] = (b[6]! & 0x0f) | 0x80;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const hex = b.subarray(0, 16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/**
 * The devices' UUIDs: stable for one server key, different between servers.
 * @param serverPublicKey the tunnel's WireGuard public key (base64)
 * @example
 * igdIdentity(key).root; // '5f0c…-…'
 */
export function igdIdentity(serverPublicKey: string): IgdIdentity {
  return {
    root: uuidOf(IGD_DEVICE, serverPublicKey),
    wan: uuidOf(WAN_DEVICE, serverPublicKey),
    connection: uuidOf(WAN_CONNECTION_DEVICE, serverPublicKey),
  };
}

/** Escapes text for an XML element or attribute. */
export function xmlEscape(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function device(type: string, uuid: string, name: string, inner: string): string {
  return (
    `<device><deviceType>${type}</deviceType><friendlyName>${name}</friendlyName>` +
    '<manufacturer>start-tunnel</manufacturer>' +
    '<manufacturerURL>https://github.com/Start9Labs/start-technologies</manufacturerURL>' +
    `<modelName>start-tunnel</modelName><modelNumber>1</modelNumber><UDN>uuid:${uuid}</UDN>` +
    `${inner}</device>`
  );
}

function service(type: string, id: string, scpd: string): string {
  return (
    `<serviceList><service><serviceType>${type}</serviceType><serviceId>${id}</serviceId>` +
    `<SCPDURL>${scpd}</SCPDURL><controlURL>${CONTROL_PATH}</controlURL><eventSubURL></eventSubURL>` +
    '</service></serviceList>'
  );
}

/** The root device description (UDA 1.0 §2.1), served at `/rootDesc.xml`. */
export function rootDescription(identity: IgdIdentity): string {
  const connection = device(
    WAN_CONNECTION_DEVICE,
    identity.connection,
    'WANConnectionDevice',
    service(WANIP_SERVICE, 'urn:upnp-org:serviceId:WANIPConn1', WANIP_SCPD_PATH)
  );
  const wan = device(
    WAN_DEVICE,
    identity.wan,
    'WANDevice',
    service(WAN_COMMON_SERVICE, 'urn:upnp-org:serviceId:WANCommonIFC1', WAN_COMMON_SCPD_PATH) +
      `<deviceList>${connection}</deviceList>`
  );
  const root = device(IGD_DEVICE, identity.root, 'start-tunnel', `<deviceList>${wan}</deviceList>`);
  return (
    '<?xml version="1.0"?>\r\n<root xmlns="urn:schemas-upnp-org:device-1-0">' +
    `<specVersion><major>1</major><minor>0</minor></specVersion>${root}</root>\r\n`
  );
}

/** An action: its name, its in arguments and its out arguments as [argument, state variable]. */
type ActionSpec = readonly [
  string,
  readonly (readonly [string, string])[],
  readonly (readonly [string, string])[],
];

const MAPPING_KEY = [
  ['NewRemoteHost', 'RemoteHost'],
  ['NewExternalPort', 'ExternalPort'],
  ['NewProtocol', 'PortMappingProtocol'],
] as const;
const MAPPING_VALUE = [
  ['NewInternalPort', 'InternalPort'],
  ['NewInternalClient', 'InternalClient'],
  ['NewEnabled', 'PortMappingEnabled'],
  ['NewPortMappingDescription', 'PortMappingDescription'],
  ['NewLeaseDuration', 'PortMappingLeaseDuration'],
] as const;

/** WANIPConnection:1 §2.4, the actions served (AddAnyPortMapping from WANIPConnection:2). */
const WANIP_ACTIONS: readonly ActionSpec[] = [
  [
    'GetConnectionTypeInfo',
    [],
    [
      ['NewConnectionType', 'ConnectionType'],
      ['NewPossibleConnectionTypes', 'PossibleConnectionTypes'],
    ],
  ],
  [
    'GetStatusInfo',
    [],
    [
      ['NewConnectionStatus', 'ConnectionStatus'],
      ['NewLastConnectionError', 'LastConnectionError'],
      ['NewUptime', 'Uptime'],
    ],
  ],
  [
    'GetNATRSIPStatus',
    [],
    [
      ['NewRSIPAvailable', 'RSIPAvailable'],
      ['NewNATEnabled', 'NATEnabled'],
    ],
  ],
  [
    'GetGenericPortMappingEntry',
    [['NewPortMappingIndex', 'PortMappingNumberOfEntries']],
    [...MAPPING_KEY, ...MAPPING_VALUE],
  ],
  ['GetSpecificPortMappingEntry', MAPPING_KEY, MAPPING_VALUE],
  ['AddPortMapping', [...MAPPING_KEY, ...MAPPING_VALUE], []],
  ['AddAnyPortMapping', [...MAPPING_KEY, ...MAPPING_VALUE], [['NewReservedPort', 'ExternalPort']]],
  ['DeletePortMapping', MAPPING_KEY, []],
  ['GetExternalIPAddress', [], [['NewExternalIPAddress', 'ExternalIPAddress']]],
];

const WANIP_VARIABLES: readonly (readonly [string, string, string?])[] = [
  ['ConnectionType', 'string'],
  ['PossibleConnectionTypes', 'string', 'IP_Routed'],
  ['ConnectionStatus', 'string', 'Connected'],
  ['Uptime', 'ui4'],
  ['LastConnectionError', 'string', 'ERROR_NONE'],
  ['RSIPAvailable', 'boolean'],
  ['NATEnabled', 'boolean'],
  ['ExternalIPAddress', 'string'],
  ['PortMappingNumberOfEntries', 'ui2'],
  ['PortMappingEnabled', 'boolean'],
  ['PortMappingLeaseDuration', 'ui4'],
  ['RemoteHost', 'string'],
  ['ExternalPort', 'ui2'],
  ['InternalPort', 'ui2'],
  ['PortMappingProtocol', 'string', 'TCP UDP'],
  ['InternalClient', 'string'],
  ['PortMappingDescription', 'string'],
];

/** WANCommonInterfaceConfig:1 §2.4: the one action served. */
const WAN_COMMON_ACTIONS: readonly ActionSpec[] = [
  [
    'GetCommonLinkProperties',
    [],
    [
      ['NewWANAccessType', 'WANAccessType'],
      ['NewLayer1UpstreamMaxBitRate', 'Layer1UpstreamMaxBitRate'],
      ['NewLayer1DownstreamMaxBitRate', 'Layer1DownstreamMaxBitRate'],
      ['NewPhysicalLinkStatus', 'PhysicalLinkStatus'],
    ],
  ],
];

const WAN_COMMON_VARIABLES: readonly (readonly [string, string, string?])[] = [
  ['WANAccessType', 'string', 'Ethernet'],
  ['Layer1UpstreamMaxBitRate', 'ui4'],
  ['Layer1DownstreamMaxBitRate', 'ui4'],
  ['PhysicalLinkStatus', 'string', 'Up'],
];

/** A service description (UDA 1.0 §2.3) from its actions and state variables. */
function scpd(actions: readonly ActionSpec[], variables: typeof WANIP_VARIABLES): string {
  const argument =
    (direction: string) =>
    ([name, variable]: readonly [string, string]) =>
      `<argument><name>${name}</name><direction>${direction}</direction>` +
      `<relatedStateVariable>${variable}</relatedStateVariable></argument>`;
  const actionList = actions
    .map(
      ([name, ins, outs]) =>
        `<action><name>${name}</name><argumentList>${ins.map(argument('in')).join('')}` +
        `${outs.map(argument('out')).join('')}</argumentList></action>`
    )
    .join('');
  const stateTable = variables
    .map(([name, type, allowed]) => {
      const list = allowed
        ? `<allowedValueList>${allowed
            .split(' ')
            .map((v) => `<allowedValue>${v}</allowedValue>`)
            .join('')}</allowedValueList>`
        : '';
      return `<stateVariable sendEvents="no"><name>${name}</name><dataType>${type}</dataType>${list}</stateVariable>`;
    })
    .join('');
  return (
    '<?xml version="1.0"?>\r\n<scpd xmlns="urn:schemas-upnp-org:service-1-0">' +
    '<specVersion><major>1</major><minor>0</minor></specVersion>' +
    `<actionList>${actionList}</actionList><serviceStateTable>${stateTable}</serviceStateTable></scpd>\r\n`
  );
}

/** `/WANIPCn.xml`. */
export const WANIP_SCPD = scpd(WANIP_ACTIONS, WANIP_VARIABLES);
/** `/WANCfg.xml`. */
export const WAN_COMMON_SCPD = scpd(WAN_COMMON_ACTIONS, WAN_COMMON_VARIABLES);

/** The service an action belongs to. */
export function serviceOf(action: string): string | null {
  if (WANIP_ACTIONS.some(([name]) => name === action)) return WANIP_SERVICE;
  if (WAN_COMMON_ACTIONS.some(([name]) => name === action)) return WAN_COMMON_SERVICE;
  return null;
}

const ENVELOPE_OPEN =
  '<?xml version="1.0"?>\r\n<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" ' +
  's:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/"><s:Body>';
const ENVELOPE_CLOSE = '</s:Body></s:Envelope>\r\n';

/**
 * An action response (UDA 1.0 §3.2.2): `<u:ActionResponse>` with the out arguments in order.
 * @param args out arguments as [name, value]; values are escaped here
 */
export function soapResponse(
  action: string,
  args: readonly (readonly [string, string | number])[]
): string {
  const service = serviceOf(action) ?? WANIP_SERVICE;
  const inner = args
    .map(([name, value]) => `<${name}>${xmlEscape(String(value))}</${name}>`)
    .join('');
  return `${ENVELOPE_OPEN}<u:${action}Response xmlns:u="${service}">${inner}</u:${action}Response>${ENVELOPE_CLOSE}`;
}

/** UDA 1.0 §3.2.2 and WANIPConnection:1 §2.4: the fault codes used. */
export const UPNP_ERRORS: Readonly<Record<number, string>> = {
  401: 'Invalid Action',
  402: 'Invalid Args',
  501: 'Action Failed',
  606: 'Action not authorized',
  713: 'SpecifiedArrayIndexInvalid',
  714: 'NoSuchEntryInArray',
  716: 'WildCardNotPermittedInExtPort',
  718: 'ConflictInMappingEntry',
  725: 'OnlyPermanentLeasesSupported',
  726: 'RemoteHostOnlySupportsWildcard',
};

/** A UPnP error in a SOAP fault (UDA 1.0 §3.2.2), sent with HTTP 500. */
export function soapFault(code: number): string {
  const description = UPNP_ERRORS[code] ?? 'Action Failed';
  return (
    `${ENVELOPE_OPEN}<s:Fault><faultcode>s:Client</faultcode><faultstring>UPnPError</faultstring>` +
    '<detail><UPnPError xmlns="urn:schemas-upnp-org:control-1-0">' +
    `<errorCode>${code}</errorCode><errorDescription>${description}</errorDescription>` +
    `</UPnPError></detail></s:Fault>${ENVELOPE_CLOSE}`
  );
}

/** A parsed control request: the action (the first element in the Body) and its arguments. */
export interface SoapCall {
  action: string;
  args: ReadonlyMap<string, string>;
}

const parser = new XMLParser({
  removeNSPrefix: true,
  ignoreAttributes: true,
  parseTagValue: false,
  trimValues: true,
  ignoreDeclaration: true,
  ignorePiTags: true,
  maxNestedTags: 8,
});

/**
 * The action and arguments of a SOAP request body, or null when the body is not one. A DOCTYPE
 * (and so any entity declaration) is refused before parsing: SOAP 1.1 §3 forbids it, and it is
 * where entity expansion attacks live. An argument given twice or holding elements is refused.
 * @example
 * parseSoap(body)?.action; // 'AddPortMapping'
 */
export function parseSoap(body: string): SoapCall | null {
  if (/<!DOCTYPE|<!ENTITY/i.test(body)) return null;
  let document: unknown;
  try {
    if (XMLValidator.validate(body) !== true) return null;
    document = parser.parse(body);
  } catch {
    return null;
  }
  const envelope = child(document, 'Envelope');
  const soapBody = child(envelope, 'Body');
  if (!soapBody || typeof soapBody !== 'object' || Array.isArray(soapBody)) return null;
  const names = Object.keys(soapBody);
  if (names.length !== 1) return null;
  const action = names[0]!;
  const inner = (soapBody as Record<string, unknown>)[action];
  const args = new Map<string, string>();
  if (inner !== '' && inner !== undefined) {
    if (!inner || typeof inner !== 'object' || Array.isArray(inner)) return null;
    for (const [name, value] of Object.entries(inner)) {
      if (typeof value !== 'string') return null;
      args.set(name, value);
    }
  }
  return { action, args };
}

function child(node: unknown, name: string): unknown {
  if (!node || typeof node !== 'object' || Array.isArray(node)) return undefined;
  return Object.hasOwn(node, name) ? (node as Record<string, unknown>)[name] : undefined;
}
