/**
 * Test helper for the decoders of agent/hosts/ (issue 11): the TCP streams of a capture file, reassembled
 * by the pipeline's own reader, frame decoder and reassembler, each kept as its ordered chunks, so a test
 * can feed them to a HostStreamDecoder whole, split at every offset, or mutated.
 */
import { readCaptureFile } from "../../agent/capture/file.js";
import type { PacketSink } from "../../agent/capture/types.js";
import { decodeFrame } from "../../agent/decode/decode.js";
import { DecodeResult, TcpPacket } from "../../agent/decode/types.js";
import type { HostEvent, HostStreamDecoder, HostStreamSink } from "../../agent/hosts/types.js";
import { TcpReassembler } from "../../agent/reassembly/tcp.js";
import type { ConnectionInfo, Direction, StreamHandler } from "../../agent/reassembly/types.js";
import type { AnomalyCode, AnomalySink } from "../../agent/util/anomaly.js";

/** One piece of a stream, in order: data of a direction (a copy), or a gap. */
export type Chunk =
  { dir: Direction; data: Buffer; tsMicros: number } | { dir: Direction; gap: number; tsMicros: number };

export interface TcpStream {
  info: ConnectionInfo;
  chunks: Chunk[];
}

const noAnomalies: AnomalySink = { anomaly: () => {} };

/** Every TCP connection of a capture file with its chunks, in the order the connections opened. */
export async function tcpStreams(path: string): Promise<TcpStream[]> {
  const streams: TcpStream[] = [];
  const reassembler = new TcpReassembler(
    {
      open(info: ConnectionInfo): StreamHandler {
        const s: TcpStream = { info, chunks: [] };
        streams.push(s);
        return {
          data: (dir, buf, start, end, tsMicros) =>
            s.chunks.push({ dir, data: Buffer.from(buf.subarray(start, end)), tsMicros }),
          gap: (dir, gap, tsMicros) => s.chunks.push({ dir, gap, tsMicros }),
          close: () => {},
        };
      },
      handshake: () => {},
    },
    {},
    { anomalies: noAnomalies, counters: { bytesCopied: 0 } },
  );
  const pkt = new TcpPacket();
  let last = 0;
  const sink: PacketSink = {
    packet(buf, start, end, tsMicros, linktype) {
      last = tsMicros;
      if (decodeFrame(buf, start, end, linktype, pkt) === DecodeResult.Tcp)
        reassembler.segment(pkt, tsMicros);
    },
  };
  await readCaptureFile(path, sink, { anomalies: null });
  reassembler.finish(last);
  return streams;
}

/** A sink that records every event (with who sent it) and anomaly. */
export class RecordingSink implements HostStreamSink {
  readonly events: { dir: Direction; e: HostEvent }[] = [];
  readonly anomalies: { code: AnomalyCode; detail: string }[] = [];
  event(e: HostEvent, dir: Direction): void {
    this.events.push({ dir, e });
  }
  anomaly(code: AnomalyCode, detail: string): void {
    this.anomalies.push({ code, detail });
  }
}

/**
 * Feeds a stream's chunks to a decoder (made by `make` with the sink), until the decoder is done. `cut`
 * gives offsets at which each data chunk is cut into separate calls, so a test can split a message at
 * every offset.
 */
export function feed(
  make: (sink: HostStreamSink) => HostStreamDecoder,
  chunks: readonly Chunk[],
  cut: (data: Buffer) => number[] = () => [],
): RecordingSink {
  const sink = new RecordingSink();
  const d = make(sink);
  for (const c of chunks) {
    if (d.done) break;
    if ("gap" in c) {
      d.gap(c.dir, c.gap, c.tsMicros);
      continue;
    }
    let from = 0;
    for (const at of [
      ...cut(c.data)
        .filter((x) => x > 0 && x < c.data.length)
        .sort((a, b) => a - b),
      c.data.length,
    ]) {
      if (at <= from) continue;
      // A fresh buffer per piece, so a decoder that keeps a view past the call is caught.
      d.data(c.dir, Buffer.from(c.data.subarray(from, at)), 0, at - from, c.tsMicros);
      from = at;
      if (d.done) break;
    }
  }
  return sink;
}
