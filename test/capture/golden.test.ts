/**
 * Golden tests against tshark: the third-party captures in ../shared/captures/, and captures written by our
 * own builders for every link type and file variant. Packet counts and the TCP ports we decode must match
 * what tshark decodes.
 */
import { execFileSync, spawn } from "node:child_process";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { PcapStreamParser, readCaptureFile } from "../../agent/capture/file.js";
import {
  LINKTYPE_ETHERNET,
  LINKTYPE_LINUX_SLL,
  LINKTYPE_LINUX_SLL2,
  LINKTYPE_NULL,
  LINKTYPE_RAW,
  type PacketSink,
} from "../../agent/capture/types.js";
import { decodeFrame } from "../../agent/decode/decode.js";
import { DecodeResult, TcpPacket } from "../../agent/decode/types.js";
import {
  ethernetIpv4Tcp,
  ethernetIpv6Tcp,
  ipv4Tcp,
  ipv6Tcp,
  nullFrame,
  pcapFile,
  pcapngFile,
  sll2Frame,
  sllFrame,
} from "./builders.js";
import { withTempFile } from "./helpers.js";
import { requires } from "../helpers/requires.js";

const test = requires("tshark");

const SHARED = "../shared/captures";

function tsharkPorts(path: string): string[] {
  const out = execFileSync(
    "tshark",
    ["-n", "-r", path, "-T", "fields", "-e", "tcp.srcport", "-e", "tcp.dstport"],
    {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "ignore"],
    },
  );
  return out.split("\n").slice(0, -1);
}

class PortSink implements PacketSink {
  readonly lines: string[] = [];
  private readonly pkt = new TcpPacket();
  packet(buf: Buffer, start: number, end: number, _ts: number, linktype: number): void {
    const r = decodeFrame(buf, start, end, linktype, this.pkt);
    this.lines.push(r === DecodeResult.Tcp ? `${this.pkt.srcPort}\t${this.pkt.dstPort}` : "");
  }
}

async function ourPorts(path: string, chunkSize?: number): Promise<string[]> {
  const sink = new PortSink();
  const summary = await readCaptureFile(path, sink, chunkSize ? { chunkSize } : {});
  if (summary.error) throw new Error(`${path}: ${summary.error.code} ${summary.error.detail}`);
  if (summary.packets !== sink.lines.length) throw new Error("packet count differs from the summary");
  return sink.lines;
}

const shared = readdirSync(SHARED).filter((f) => /\.(pcap|pcapng|cap)$/.test(f));

test("the shared captures are there", (t) => {
  t.true(shared.length >= 5);
});

for (const name of shared) {
  test(`golden: ${name} decodes to tshark's packets and ports`, async (t) => {
    const path = join(SHARED, name);
    const want = tsharkPorts(path);
    t.true(want.length > 0);
    t.deepEqual(await ourPorts(path), want);
    t.deepEqual(await ourPorts(path, 61), want, "with records straddling small reads");
  });
}

/** Pipe a capture through `tcpdump -r FILE -U -w -` (the live source's output format) into the stream parser. */
async function tcpdumpStreamPorts(path: string): Promise<{ lines: string[]; error: unknown }> {
  const sink = new PortSink();
  const parser = new PcapStreamParser(sink);
  const child = spawn("tcpdump", ["-n", "-r", path, "-U", "-w", "-"], {
    stdio: ["ignore", "pipe", "ignore"],
  });
  child.stdout.on("data", (chunk: Buffer) => parser.push(chunk));
  await new Promise<void>((resolve, reject) => {
    child.on("error", reject);
    child.on("close", () => resolve());
  });
  return { lines: sink.lines, error: parser.end().error };
}

for (const name of shared) {
  test(`golden: ${name} through tcpdump -U -w - and the stream parser`, async (t) => {
    const path = join(SHARED, name);
    const { lines, error } = await tcpdumpStreamPorts(path);
    t.is(error, null);
    t.deepEqual(lines, tsharkPorts(path));
  });
}

const F4 = { src: "10.0.0.5", dst: "10.0.0.9", seq: 1000, ack: 2000, payload: "\x01\x00\x00\x00\x00\x10" };
const F6 = { ...F4, src: "2001:db8:1::5", dst: "2001:db8:2::9" };

function variety(n: number, kind: "eth" | "sll" | "sll2" | "raw" | "null"): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < n; i++) {
    const ports = { sport: 30000 + i * 7, dport: [104, 11112, 4242][i % 3]! };
    const v6 = i % 2 === 1;
    const ip = v6
      ? ipv6Tcp({
          ...F6,
          ...ports,
          extensions: i % 4 === 1 ? [{ type: 0 }, { type: 60, body: Buffer.alloc(10) }] : [],
        })
      : ipv4Tcp({ ...F4, ...ports, options: i % 4 === 0 ? Buffer.from([1, 1, 1, 1]) : undefined });
    if (kind === "eth") {
      const vlan = i % 3 === 0 ? undefined : i % 3 === 1 ? 42 : [100, 200];
      out.push(v6 ? ethernetIpv6Tcp({ ...F6, ...ports, vlan }) : ethernetIpv4Tcp({ ...F4, ...ports, vlan }));
    } else if (kind === "sll") out.push(sllFrame({ protocol: v6 ? 0x86dd : 0x0800, payload: ip }));
    else if (kind === "sll2") out.push(sll2Frame({ protocol: v6 ? 0x86dd : 0x0800, payload: ip }));
    else if (kind === "null") out.push(nullFrame(v6 ? 24 : 2, ip));
    else out.push(ip);
  }
  return out;
}

const KINDS = [
  ["eth", LINKTYPE_ETHERNET],
  ["sll", LINKTYPE_LINUX_SLL],
  ["sll2", LINKTYPE_LINUX_SLL2],
  ["raw", LINKTYPE_RAW],
  ["null", LINKTYPE_NULL],
] as const;

for (const [kind, linktype] of KINDS) {
  for (const variant of kind === "eth" ? (["le-us", "be-ns"] as const) : (["le-us"] as const)) {
    test(`golden: builder ${kind} frames in pcap ${variant} agree with tshark`, async (t) => {
      const frames = variety(12, kind);
      const file = pcapFile(frames, { linktype, bigEndian: variant === "be-ns", nanos: variant === "be-ns" });
      await withTempFile(file, async (path) => {
        const want = tsharkPorts(path);
        t.is(want.length, 12);
        t.true(
          want.every((l) => l !== ""),
          "tshark sees TCP in every frame",
        );
        t.deepEqual(await ourPorts(path), want);
      });
    });
  }
}

for (const bigEndian of [false, true]) {
  test(`golden: pcapng (${bigEndian ? "big" : "little"}-endian) with one interface per link type agrees with tshark`, async (t) => {
    const packets = KINDS.flatMap(([kind], ifc) =>
      variety(6, kind).map((data, i) => ({ data, interfaceId: ifc, tsMicros: 1_700_000_000_000_000 + i })),
    );
    const file = pcapngFile(packets, {
      bigEndian,
      interfaces: KINDS.map(([, linktype], i) => ({ linktype, tsresol: i % 2 ? 9 : 6 })),
    });
    await withTempFile(file, async (path) => {
      const want = tsharkPorts(path);
      t.is(want.length, packets.length);
      t.true(
        want.every((l) => l !== ""),
        "tshark sees TCP in every frame",
      );
      t.deepEqual(await ourPorts(path), want);
    });
  });
}

test("golden: pcapng with two interfaces of different link types agrees with tshark", async (t) => {
  const eth = variety(6, "eth");
  const sll2 = variety(6, "sll2");
  const packets = eth.flatMap((e, i) => [
    { data: e, interfaceId: 0, tsMicros: 1_700_000_000_000_000 + i },
    { data: sll2[i]!, interfaceId: 1, tsMicros: 1_700_000_000_000_500 + i },
  ]);
  const file = pcapngFile(packets, {
    interfaces: [{ linktype: LINKTYPE_ETHERNET }, { linktype: LINKTYPE_LINUX_SLL2, tsresol: 9 }],
  });
  await withTempFile(file, async (path) => {
    const want = tsharkPorts(path);
    t.is(want.length, 12);
    t.deepEqual(await ourPorts(path), want);
  });
});
