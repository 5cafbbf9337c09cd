/**
 * The mutual-TLS part of every MQTT connection dicomtap makes (agent, console, doctor), in one place so
 * that none of them can drift from the others: MQTT 5, the site CA only, a client certificate, TLS 1.2 or
 * later, and the broker's host name checked against its certificate.
 */
import { readFileSync } from "node:fs";
import { isIP } from "node:net";
import type { ConnectionOptions } from "node:tls";
import type { IClientOptions } from "mqtt";

/** mqtt.js hands all its options to tls.connect, so Node's TLS options apply (its types omit them). */
export type MqttTlsOptions = IClientOptions & Pick<ConnectionOptions, "minVersion" | "servername">;

export interface TlsFiles {
  ca: string;
  cert: string;
  key: string;
}

export interface TlsMaterial {
  ca: Buffer;
  cert: Buffer;
  key: Buffer;
}

/** Reads the CA, certificate and key (at every connection attempt: a renewed certificate needs no restart). */
export function readTlsFiles(files: TlsFiles): TlsMaterial {
  return { ca: readFileSync(files.ca), cert: readFileSync(files.cert), key: readFileSync(files.key) };
}

/** The broker's host as its certificate must name it: the URL's host name, IPv6 brackets removed. */
function brokerHost(url: string): string {
  return new URL(url).hostname.replace(/^\[(.*)\]$/, "$1");
}

export function mutualTlsOptions(url: string, tls: TlsMaterial): MqttTlsOptions {
  const host = brokerHost(url);
  return {
    protocolVersion: 5,
    ...tls,
    // Only the site CA: `ca` replaces Node's default roots, so no public CA can vouch for a broker.
    rejectUnauthorized: true,
    minVersion: "TLSv1.2",
    // Host name checked against the certificate (Node's checkServerIdentity, RFC 6125); SNI only for
    // names, since RFC 6066 §3 forbids IP literals in SNI.
    ...(isIP(host) === 0 ? { servername: host } : {}),
  };
}
