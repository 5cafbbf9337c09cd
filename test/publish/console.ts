// A console-side MQTT 5 subscriber for the publish tests: records every message with its messageId
// user property and checks it against the payload schemas.
import { readFileSync } from "node:fs";
import mqtt, { type IClientOptions, type MqttClient } from "mqtt";
import type { SitePki } from "../helpers/mosquitto.js";
import { kindOfTopic, schemaErrors } from "./schemas.js";

export interface Received {
  topic: string;
  payload: Record<string, unknown>;
  retain: boolean;
  /** The MQTT 5 user property. */
  messageId: string | undefined;
  /** Schema errors of the payload, null when valid. */
  invalid: string | null;
}

export class Collector {
  readonly got: Received[] = [];
  private constructor(readonly client: MqttClient) {}

  static async connect(
    url: string,
    pki: SitePki,
    extra: IClientOptions = {},
    filter = "dicomtap/v1/#",
  ): Promise<Collector> {
    const client = mqtt.connect(url, {
      protocolVersion: 5,
      ca: readFileSync(pki.ca),
      cert: readFileSync(pki.console.cert),
      key: readFileSync(pki.console.key),
      rejectUnauthorized: true,
      reconnectPeriod: 200,
      ...extra,
    });
    const c = new Collector(client);
    client.on("message", (topic, buf, packet) => {
      const payload = JSON.parse(buf.toString()) as Record<string, unknown>;
      const up = packet.properties?.userProperties?.messageId;
      c.got.push({
        topic,
        payload,
        retain: packet.retain,
        messageId: Array.isArray(up) ? up[0] : up,
        invalid: schemaErrors(kindOfTopic(topic), payload),
      });
    });
    client.on("error", () => {});
    await new Promise<void>((res, rej) => {
      client.once("connect", () => res());
      client.once("error", rej);
    });
    await client.subscribeAsync(filter, { qos: 1 });
    return c;
  }

  /** Message ids of `findings` messages in arrival order, first occurrence only, and the duplicates. */
  findingIds(): { ids: string[]; duplicates: number } {
    const seen = new Set<string>();
    const ids: string[] = [];
    let duplicates = 0;
    for (const m of this.got) {
      if (!m.topic.endsWith("/findings")) continue;
      const id = m.payload.messageId as string;
      if (seen.has(id)) duplicates++;
      else {
        seen.add(id);
        ids.push(id);
      }
    }
    return { ids, duplicates };
  }

  async close(): Promise<void> {
    await this.client.endAsync(true);
  }
}

export async function until(cond: () => boolean, ms = 20_000, what = "condition"): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
