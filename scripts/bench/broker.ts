/**
 * The console side of the publish benchmark (issue 4): it subscribes to dicomtap/v1/# with its own
 * certificate and stamps every delivery with the wall time it arrived. The site PKI and the broker are
 * those of scripts/lib/mosquitto.ts.
 */
import { readFileSync } from "node:fs";
import { performance } from "node:perf_hooks";
import mqtt, { type MqttClient } from "mqtt";
import type { SitePki } from "../lib/mosquitto.js";

/** One delivery to the console. */
export interface Delivery {
  topic: string;
  /** Wall time of arrival, ms since the epoch with sub-millisecond resolution. */
  atMs: number;
  payload: Record<string, unknown> | null;
}

/** Wall clock in ms with the resolution of performance.now() (Date.now() is whole ms). */
export function wallMs(): number {
  return performance.timeOrigin + performance.now();
}

/** The console: MQTT 5 over mutual TLS with CN=console, subscribed to dicomtap/v1/# at QoS 1. */
export class BenchConsole {
  readonly got: Delivery[] = [];
  private constructor(private readonly client: MqttClient) {}

  static async connect(url: string, pki: SitePki): Promise<BenchConsole> {
    const client = mqtt.connect(url, {
      protocolVersion: 5,
      ca: readFileSync(pki.ca),
      cert: readFileSync(pki.console.cert),
      key: readFileSync(pki.console.key),
      rejectUnauthorized: true,
      clientId: `bench-console-${process.pid.toString()}`,
      clean: true,
      reconnectPeriod: 0,
    });
    const c = new BenchConsole(client);
    client.on("message", (topic, buf) => {
      // Stamp first: parsing is the console's work, not the pipeline's.
      const atMs = wallMs();
      let payload: Record<string, unknown> | null = null;
      try {
        payload = JSON.parse(buf.toString()) as Record<string, unknown>;
      } catch {
        payload = null;
      }
      c.got.push({ topic, atMs, payload });
    });
    await new Promise<void>((res, rej) => {
      client.once("connect", () => res());
      client.once("error", rej);
    });
    client.on("error", () => undefined);
    await client.subscribeAsync("dicomtap/v1/#", { qos: 1 });
    return c;
  }

  async close(): Promise<void> {
    await this.client.endAsync(true);
  }
}
