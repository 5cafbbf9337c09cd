/**
 * Turns a DICOM conversation (ordered turns of bytes per direction) into Ethernet/IPv4/TCP frames with a
 * handshake, segmentation at chosen sizes, and a FIN teardown, so the whole pipeline can be driven from
 * frames exactly as a capture would drive it.
 */
import { ACK, FIN, PSH, SYN, ethernetIpv4Tcp } from "../capture/builders.js";
import type { Turn } from "../dicom/ul/conversation.js";

export interface SessionOptions {
  client?: string;
  server?: string;
  sport?: number;
  dport?: number;
  clientIsn?: number;
  serverIsn?: number;
  /** Returns the size of the next segment cut from a turn (default 1460, the MSS at MTU 1500). */
  segmentSize?: () => number;
  handshake?: boolean;
}

export interface Frame {
  data: Buffer;
  tsMicros: number;
}

export function sessionFrames(turns: Turn[], o: SessionOptions = {}): Frame[] {
  const client = o.client ?? "10.20.0.1";
  const server = o.server ?? "10.20.0.2";
  const sport = o.sport ?? 40123;
  const dport = o.dport ?? 104;
  let cseq = o.clientIsn ?? 1000;
  let sseq = o.serverIsn ?? 5000;
  const size = o.segmentSize ?? (() => 1460);
  const frames: Frame[] = [];
  let ts = turns[0]?.ts ?? 1_700_000_000_000_000;
  const c2s = (flags: number, payload: Buffer = Buffer.alloc(0)) => {
    frames.push({
      data: ethernetIpv4Tcp({ src: client, dst: server, sport, dport, seq: cseq, ack: sseq, flags, payload }),
      tsMicros: ts++,
    });
    cseq = (cseq + payload.length + (flags & (SYN | FIN) ? 1 : 0)) >>> 0;
  };
  const s2c = (flags: number, payload: Buffer = Buffer.alloc(0)) => {
    frames.push({
      data: ethernetIpv4Tcp({
        src: server,
        dst: client,
        sport: dport,
        dport: sport,
        seq: sseq,
        ack: cseq,
        flags,
        payload,
        srcMac: "02:00:00:00:00:02",
        dstMac: "02:00:00:00:00:01",
      }),
      tsMicros: ts++,
    });
    sseq = (sseq + payload.length + (flags & (SYN | FIN) ? 1 : 0)) >>> 0;
  };
  if (o.handshake !== false) {
    c2s(SYN);
    s2c(SYN | ACK);
    c2s(ACK);
  }
  for (const t of turns) {
    ts = Math.max(ts, t.ts);
    for (let p = 0; p < t.bytes.length;) {
      const n = Math.max(1, Math.min(size(), t.bytes.length - p));
      const chunk = t.bytes.subarray(p, p + n);
      if (t.dir === 0) c2s(ACK | PSH, chunk);
      else s2c(ACK | PSH, chunk);
      p += n;
    }
  }
  c2s(FIN | ACK);
  s2c(FIN | ACK);
  c2s(ACK);
  return frames;
}
