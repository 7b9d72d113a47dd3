import { readFileSync } from 'node:fs';
import { ServerCredentials, credentials, type ChannelCredentials } from '@grpc/grpc-js';

/** PEM material: a Buffer or string holding the PEM text itself, or a string path to a PEM file. */
export type PemSource = string | Buffer;

export interface ServerTlsOptions {
  /** Server certificate chain. */
  cert: PemSource;
  /** Server private key. */
  key: PemSource;
  /** CA that signs client certificates; setting it turns on mutual TLS. */
  clientCa?: PemSource;
  /** Refuse clients without a certificate signed by `clientCa`. @default true when clientCa is set */
  requireClientCert?: boolean;
}

export interface ClientTlsOptions {
  /** CA that signed the server certificate. @default the system roots */
  ca?: PemSource;
  /** Client certificate chain, for mutual TLS (with `key`). */
  cert?: PemSource;
  /** Client private key, for mutual TLS (with `cert`). */
  key?: PemSource;
  /** Name to verify the server certificate against, when it differs from the address host. */
  serverName?: string;
}

/** Reads PEM material; a string containing a PEM header is the PEM text, any other string a path. */
export function readPem(source: PemSource): Buffer {
  if (Buffer.isBuffer(source)) return source;
  if (source.includes('-----BEGIN ')) return Buffer.from(source);
  return readFileSync(source);
}

/** Insecure credentials when `tls` is absent (loopback default), TLS or mutual TLS otherwise. */
export function serverCredentials(tls?: ServerTlsOptions): ServerCredentials {
  if (!tls) return ServerCredentials.createInsecure();
  const clientCa = tls.clientCa === undefined ? null : readPem(tls.clientCa);
  const requireClientCert = tls.requireClientCert ?? clientCa !== null;
  if (requireClientCert && clientCa === null) {
    throw new Error('TLS option requireClientCert needs clientCa, the CA that signs client certificates');
  }
  return ServerCredentials.createSsl(
    clientCa,
    [{ cert_chain: readPem(tls.cert), private_key: readPem(tls.key) }],
    requireClientCert,
  );
}

/** Insecure credentials when `tls` is absent, TLS (optionally with a client certificate) otherwise. */
export function channelCredentials(tls?: ClientTlsOptions): ChannelCredentials {
  if (!tls) return credentials.createInsecure();
  if ((tls.cert === undefined) !== (tls.key === undefined)) {
    throw new Error('TLS options cert and key must be given together for a client certificate');
  }
  return credentials.createSsl(
    tls.ca === undefined ? null : readPem(tls.ca),
    tls.key === undefined ? null : readPem(tls.key),
    tls.cert === undefined ? null : readPem(tls.cert),
  );
}
