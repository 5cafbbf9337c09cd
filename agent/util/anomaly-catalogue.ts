/**
 * The catalogue of anomalies (issue 10): every code a decoder may report, in one table, the way Zeek
 * lists its weirds. For each code: the layers that report it, the clause of the standard it violates
 * ("none" when it violates nothing: a capture artefact, a cap of the sensor's own, or legal traffic that
 * is only noted), who caused it, whether and how high it raises the `dicom.malformed` finding, and one
 * line of description. docs/anomalies.md is generated from it (scripts/anomaly-doc.ts).
 *
 * Codes are typed from this table: AnomalyCode is its keys, and every sink takes an AnomalyCode, so a code
 * that is not catalogued does not compile. Adding a code means adding its row here, then regenerating
 * the page (`node dist/scripts/anomaly-doc.js`); test/util/anomaly-catalogue.test.ts checks both.
 */

/**
 * The layer that noticed an anomaly, as named in the JSON report. "findings": a findings rule failed on an
 * observation (the engine caught it; the detail names the rule).
 */
export type AnomalyLayer =
  "capture" | "decode" | "reassembly" | "tls" | "ul" | "dimse" | "dataset" | "findings" | "hosts";

/**
 * Who caused it:
 * - "peer": bytes a peer put on the wire (the finding may name it);
 * - "capture": what the capture did or lost (snap length, drops, a damaged or odd file, a stream picked up
 *   in the middle): nobody on the network is at fault;
 * - "sensor": one of the sensor's own caps or budgets turned something away (or a bug of ours).
 */
export type AnomalyOrigin = "peer" | "capture" | "sensor";

/** The severity of the `dicom.malformed` finding a code raises, or "none". */
export type MalformedSeverity = "none" | "low" | "medium";

export interface AnomalyEntry {
  /** The layers that report the code (AnomalyLayer), the usual one first. */
  readonly layers: readonly AnomalyLayer[];
  /** The clause violated ("PS3.8 §9.3.5.1", "RFC 9293 §3.10.7.4", ...), or "none" and why not. */
  readonly clause: string;
  readonly origin: AnomalyOrigin;
  /**
   * The `dicom.malformed` finding it raises (findings/rules/malformed.ts reads it through
   * malformedSeverity). Only a peer's doing on the "ul" and "dimse" layers raises one; capture artefacts,
   * the sensor's own caps and reserved fields do not.
   */
  readonly malformed: MalformedSeverity;
  /** One line: what was seen. */
  readonly description: string;
}

const PS38_RESERVED = "none (PS3.8 §9.3.1: reserved fields are sent as zero and not tested on receipt)";

export const ANOMALY_CATALOGUE = {
  // ── capture files and the capture itself ──────────────────────────────────────────────────────
  "capture.aborted": {
    layers: ["capture"],
    clause: "none",
    origin: "sensor",
    malformed: "none",
    description: "Reading the capture was aborted by the caller; what was read before is reported.",
  },
  "capture.empty": {
    layers: ["capture"],
    clause: "none",
    origin: "capture",
    malformed: "none",
    description: "The input holds no bytes at all.",
  },
  "capture.unknown-format": {
    layers: ["capture"],
    clause: "none (neither the pcap nor the pcapng magic)",
    origin: "capture",
    malformed: "none",
    description: "The input is neither a pcap nor a pcapng file.",
  },
  "capture.truncated": {
    layers: ["capture"],
    clause: "none",
    origin: "capture",
    malformed: "none",
    description:
      "The input ends inside a file header, block or record (a capture still being written, or cut).",
  },
  "capture.unreadable": {
    layers: ["capture"],
    clause: "none",
    origin: "capture",
    malformed: "none",
    description: "The capture file could not be opened or read (the operating system's error is the detail).",
  },
  "capture.pcapng-unknown-interface": {
    layers: ["capture"],
    clause: "draft-ietf-opsawg-pcapng §4.3 (Interface ID names an Interface Description Block)",
    origin: "capture",
    malformed: "none",
    description: "A pcapng packet block names an interface no Interface Description Block defined; skipped.",
  },
  "capture.timestamp-out-of-range": {
    layers: ["capture"],
    clause: "draft-ietf-opsawg-pcapng §4.2 (if_tsresol, if_tsoffset)",
    origin: "capture",
    malformed: "none",
    description:
      "A pcapng timestamp cannot be held in microseconds exactly; the packet is kept, its time is not.",
  },
  "capture.time-backwards": {
    layers: ["capture"],
    clause: "none",
    origin: "capture",
    malformed: "none",
    description: "A packet is stamped earlier than the one before it (merged captures, a clock step).",
  },
  "pcap.bad-magic": {
    layers: ["capture"],
    clause: "draft-ietf-opsawg-pcap §4 (File Header: Magic Number)",
    origin: "capture",
    malformed: "none",
    description: "The pcap file header has an unknown magic number.",
  },
  "pcap.bad-version": {
    layers: ["capture"],
    clause: "draft-ietf-opsawg-pcap §4 (Major Version 2)",
    origin: "capture",
    malformed: "none",
    description: "The pcap file has a major version other than 2.",
  },
  "pcap.bad-caplen": {
    layers: ["capture"],
    clause: "draft-ietf-opsawg-pcap §5 (Captured Packet Length within SnapLen)",
    origin: "capture",
    malformed: "none",
    description:
      "A pcap record claims more captured bytes than the record limit; the file is not read further.",
  },
  "pcapng.no-section-header": {
    layers: ["capture"],
    clause: "draft-ietf-opsawg-pcapng §4.1 (a file begins with a Section Header Block)",
    origin: "capture",
    malformed: "none",
    description: "A pcapng block comes before any Section Header Block.",
  },
  "pcapng.bad-byte-order-magic": {
    layers: ["capture"],
    clause: "draft-ietf-opsawg-pcapng §4.1 (Byte-Order Magic)",
    origin: "capture",
    malformed: "none",
    description: "A pcapng Section Header Block has an unknown byte-order magic.",
  },
  "pcapng.bad-version": {
    layers: ["capture"],
    clause: "draft-ietf-opsawg-pcapng §4.1 (Major Version 1)",
    origin: "capture",
    malformed: "none",
    description: "A pcapng section has a major version other than 1.",
  },
  "pcapng.bad-block-length": {
    layers: ["capture"],
    clause:
      "draft-ietf-opsawg-pcapng §3.1 (Block Total Length: a multiple of 4, at least the block's fields)",
    origin: "capture",
    malformed: "none",
    description: "A pcapng block's total length is not a multiple of 4 or too short for its type.",
  },
  "pcapng.block-too-large": {
    layers: ["capture"],
    clause: "none (the sensor's record limit)",
    origin: "capture",
    malformed: "none",
    description: "A pcapng block is larger than the record limit; the file is not read further.",
  },
  "pcapng.length-mismatch": {
    layers: ["capture"],
    clause: "draft-ietf-opsawg-pcapng §3.1 (the trailing Block Total Length repeats the leading one)",
    origin: "capture",
    malformed: "none",
    description: "A pcapng block's trailing length differs from its leading length.",
  },
  "pcapng.too-many-interfaces": {
    layers: ["capture"],
    clause: "none (the sensor's cap on interfaces per section)",
    origin: "sensor",
    malformed: "none",
    description: "A pcapng section describes more interfaces than the sensor keeps.",
  },
  "pcapng.bad-caplen": {
    layers: ["capture"],
    clause: "draft-ietf-opsawg-pcapng §4.3 (Captured Packet Length within the block)",
    origin: "capture",
    malformed: "none",
    description: "A pcapng packet block's captured length does not fit the block.",
  },

  // ── link, IP and TCP headers (decode/decode.ts) ───────────────────────────────────────────────
  "decode.bad-bounds": {
    layers: ["decode"],
    clause: "none (a caller's error)",
    origin: "sensor",
    malformed: "none",
    description: "A frame was handed to the decoder with bounds outside its buffer.",
  },
  "decode.unsupported-linktype": {
    layers: ["decode"],
    clause: "none",
    origin: "capture",
    malformed: "none",
    description:
      "The capture's link type is not one the decoder reads (Ethernet, SLL, SLL2, raw IP, loopback).",
  },
  "decode.truncated-ethernet": {
    layers: ["decode"],
    clause: "none (cut by the snap length)",
    origin: "capture",
    malformed: "none",
    description: "The frame ends inside its Ethernet header.",
  },
  "decode.truncated-vlan": {
    layers: ["decode"],
    clause: "none (cut by the snap length)",
    origin: "capture",
    malformed: "none",
    description: "The frame ends inside an IEEE 802.1Q tag.",
  },
  "decode.vlan-too-many-tags": {
    layers: ["decode"],
    clause: "none (the decoder's cap on stacked 802.1Q/802.1ad tags)",
    origin: "peer",
    malformed: "none",
    description: "More stacked VLAN tags than any real network uses.",
  },
  "decode.truncated-sll": {
    layers: ["decode"],
    clause: "none (cut by the snap length)",
    origin: "capture",
    malformed: "none",
    description: "The frame ends inside its Linux cooked (SLL) header.",
  },
  "decode.truncated-sll2": {
    layers: ["decode"],
    clause: "none (cut by the snap length)",
    origin: "capture",
    malformed: "none",
    description: "The frame ends inside its Linux cooked v2 (SLL2) header.",
  },
  "decode.truncated-loopback": {
    layers: ["decode"],
    clause: "none (cut by the snap length)",
    origin: "capture",
    malformed: "none",
    description: "The frame ends inside its BSD loopback header.",
  },
  "decode.truncated-ip": {
    layers: ["decode"],
    clause: "none (cut by the snap length)",
    origin: "capture",
    malformed: "none",
    description: "A raw-IP frame without even the version byte.",
  },
  "decode.ip-bad-version": {
    layers: ["decode"],
    clause: "RFC 791 §3.1 / RFC 8200 §3 (Version 4 or 6)",
    origin: "peer",
    malformed: "none",
    description: "A raw-IP frame whose version nibble is neither 4 nor 6.",
  },
  "decode.truncated-ipv4": {
    layers: ["decode"],
    clause: "none (cut by the snap length)",
    origin: "capture",
    malformed: "none",
    description: "The frame ends inside the fixed IPv4 header.",
  },
  "decode.ipv4-bad-version": {
    layers: ["decode"],
    clause: "RFC 791 §3.1 (Version)",
    origin: "peer",
    malformed: "none",
    description: "An IPv4 EtherType carries a header whose version is not 4.",
  },
  "decode.ipv4-bad-ihl": {
    layers: ["decode"],
    clause: "RFC 791 §3.1 (IHL: at least 5 words)",
    origin: "peer",
    malformed: "none",
    description: "An IPv4 header length below 20 bytes.",
  },
  "decode.ipv4-bad-total-length": {
    layers: ["decode"],
    clause: "RFC 791 §3.1 (Total Length includes the header)",
    origin: "peer",
    malformed: "none",
    description: "An IPv4 total length smaller than its own header.",
  },
  "decode.truncated-ipv4-options": {
    layers: ["decode"],
    clause: "none (cut by the snap length)",
    origin: "capture",
    malformed: "none",
    description: "The frame ends inside the IPv4 options.",
  },
  "decode.truncated-ipv6": {
    layers: ["decode"],
    clause: "none (cut by the snap length)",
    origin: "capture",
    malformed: "none",
    description: "The frame ends inside the fixed IPv6 header.",
  },
  "decode.ipv6-bad-version": {
    layers: ["decode"],
    clause: "RFC 8200 §3 (Version)",
    origin: "peer",
    malformed: "none",
    description: "An IPv6 EtherType carries a header whose version is not 6.",
  },
  "decode.truncated-ipv6-ext": {
    layers: ["decode"],
    clause: "none (cut by the snap length)",
    origin: "capture",
    malformed: "none",
    description: "The frame ends inside an IPv6 extension header.",
  },
  "decode.ipv6-too-many-ext": {
    layers: ["decode"],
    clause: "none (the decoder's cap on chained extension headers; RFC 8200 §4.1 orders at most a few)",
    origin: "peer",
    malformed: "none",
    description: "More chained IPv6 extension headers than the decoder follows.",
  },
  "decode.ipv6-ext-beyond-payload": {
    layers: ["decode"],
    clause: "RFC 8200 §4 (extension headers lie within the Payload Length)",
    origin: "peer",
    malformed: "none",
    description: "An IPv6 extension header runs past the payload length.",
  },
  "decode.ip-fragment": {
    layers: ["decode"],
    clause: "none (legal, RFC 791 §3.2 / RFC 8200 §4.5; not reassembled)",
    origin: "peer",
    malformed: "none",
    description: "An IP fragment: counted, not reassembled (DICOM peers use TCP segmentation).",
  },
  "decode.tcp-segment-too-short": {
    layers: ["decode"],
    clause: "RFC 9293 §3.1 (the TCP header is at least 20 bytes)",
    origin: "peer",
    malformed: "none",
    description: "The IP payload is too short to hold a TCP header.",
  },
  "decode.truncated-tcp": {
    layers: ["decode"],
    clause: "none (cut by the snap length)",
    origin: "capture",
    malformed: "none",
    description: "The frame ends inside the fixed TCP header.",
  },
  "decode.tcp-bad-offset": {
    layers: ["decode"],
    clause: "RFC 9293 §3.1 (Data Offset: at least 5 words)",
    origin: "peer",
    malformed: "none",
    description: "A TCP data offset below 20 bytes.",
  },
  "decode.tcp-offset-beyond-segment": {
    layers: ["decode"],
    clause: "RFC 9293 §3.1 (Data Offset within the segment)",
    origin: "peer",
    malformed: "none",
    description: "A TCP data offset past the end of the segment.",
  },
  "decode.truncated-tcp-options": {
    layers: ["decode"],
    clause: "none (cut by the snap length)",
    origin: "capture",
    malformed: "none",
    description: "The frame ends inside the TCP options.",
  },
  "decode.udp-datagram-too-short": {
    layers: ["decode"],
    clause: "RFC 768 (the UDP header is 8 bytes)",
    origin: "peer",
    malformed: "none",
    description: "The IP payload is too short to hold a UDP header.",
  },
  "decode.truncated-udp": {
    layers: ["decode"],
    clause: "none (cut by the snap length)",
    origin: "capture",
    malformed: "none",
    description: "The frame ends inside the UDP header.",
  },
  "decode.udp-length": {
    layers: ["decode"],
    clause: "RFC 768 (Length counts the 8-byte header and the data; RFC 2675 §4: 0 only in a jumbogram)",
    origin: "peer",
    malformed: "none",
    description: "A UDP length below 8 bytes or beyond the IP payload that carries it.",
  },

  // ── TCP reassembly (reassembly/tcp.ts) ────────────────────────────────────────────────────────
  "tcp.bad-packet-struct": {
    layers: ["reassembly"],
    clause: "none (a decoder's error)",
    origin: "sensor",
    malformed: "none",
    description: "A decoded packet the reassembler cannot use (inconsistent fields); dropped.",
  },
  "tcp.rst-out-of-window": {
    layers: ["reassembly"],
    clause: "RFC 9293 §3.10.7.4 (a RST is accepted only within the window)",
    origin: "peer",
    malformed: "none",
    description: "A RST outside its sender's window: ignored, as the receiver ignores it.",
  },
  "tcp.resumed-after-idle": {
    layers: ["reassembly"],
    clause: "none (the sensor's idle timeout)",
    origin: "sensor",
    malformed: "none",
    description: "A segment after the idle timeout on a connection thought gone; the connection continues.",
  },
  "tcp.flow-table-full": {
    layers: ["reassembly"],
    clause: "none (the sensor's cap on tracked connections)",
    origin: "sensor",
    malformed: "none",
    description: "More connections than the flow table holds; the least recently active was evicted.",
  },
  "tcp.ooo-cap-exceeded": {
    layers: ["reassembly"],
    clause: "none (the sensor's cap on held out-of-order data)",
    origin: "sensor",
    malformed: "none",
    description: "Out-of-order data beyond the buffer cap; the hole before it was given up as a gap.",
  },
  "tcp.gap": {
    layers: ["reassembly"],
    clause: "none (bytes the capture missed)",
    origin: "capture",
    malformed: "none",
    description:
      "Bytes of a direction never seen before the connection ended; reported to the stream as a gap.",
  },
  "tcp.payload-not-captured": {
    layers: ["reassembly"],
    clause: "none (the snap length)",
    origin: "capture",
    malformed: "none",
    description: "Segments cut by the snap length; the missing bytes are reported as gaps.",
  },

  // ── TLS (tls/sniffer.ts) ──────────────────────────────────────────────────────────────────────
  "tls.invalid-record": {
    layers: ["tls"],
    clause: "RFC 8446 §5.1 / RFC 5246 §6.2.1 (record type, legacy version, length at most 2^14 + 2048)",
    origin: "peer",
    malformed: "none",
    description: "A TLS record header with an unknown type, version or an impossible length.",
  },
  "tls.record-shorter-than-mac": {
    layers: ["tls"],
    clause: "RFC 5246 §6.2.3.1 (a NULL-cipher record carries its MAC)",
    origin: "peer",
    malformed: "none",
    description: "A NULL-cipher record shorter than the suite's MAC.",
  },
  "tls.renegotiation": {
    layers: ["tls"],
    clause: "none (legal, RFC 5246 §7.1 / RFC 5746; not followed)",
    origin: "peer",
    malformed: "none",
    description: "ChangeCipherSpec again under the NULL cipher; the plaintext is not followed further.",
  },
  "tls.compressed-plaintext": {
    layers: ["tls"],
    clause: "none (legal in TLS 1.2, RFC 5246 §6.2.2; not decoded)",
    origin: "peer",
    malformed: "none",
    description: "A NULL cipher with a compression method: the plaintext is not decoded.",
  },
  "tls.invalid-alert": {
    layers: ["tls"],
    clause: "RFC 8446 §5.1 (alerts are not fragmented across records)",
    origin: "peer",
    malformed: "none",
    description: "A TLS 1.3 alert split across records.",
  },
  "tls.handshake-too-large": {
    layers: ["tls"],
    clause: "none (the sensor's cap on held handshake bytes)",
    origin: "sensor",
    malformed: "none",
    description: "A handshake message or flight larger than the sensor holds.",
  },
  "tls.budget-exhausted": {
    layers: ["tls"],
    clause: "none (the budget shared by all connections)",
    origin: "sensor",
    malformed: "none",
    description: "A handshake straddling segments not held: the shared budget is spent.",
  },
  "tls.invalid-client-hello": {
    layers: ["tls"],
    clause: "RFC 8446 §4.1.2 (ClientHello)",
    origin: "peer",
    malformed: "none",
    description: "A ClientHello that does not parse.",
  },
  "tls.invalid-server-hello": {
    layers: ["tls"],
    clause: "RFC 8446 §4.1.3 (ServerHello)",
    origin: "peer",
    malformed: "none",
    description: "A ServerHello that is truncated or inconsistent.",
  },
  "tls.invalid-certificate": {
    layers: ["tls"],
    clause: "RFC 8446 §4.4.2 / RFC 5246 §7.4.2 (Certificate), RFC 5280 §4.1",
    origin: "peer",
    malformed: "none",
    description: "A Certificate message, or its first certificate, that does not parse.",
  },
  "tls.plaintext-gap": {
    layers: ["tls"],
    clause: "none (bytes the capture missed)",
    origin: "capture",
    malformed: "none",
    description: "Bytes of a NULL-cipher record stream not captured; its plaintext is not followed further.",
  },

  // ── the system beside DICOM: SSH (hosts/ssh.ts) ───────────────────────────────────────────────
  "hosts.ssh-bad-identification": {
    layers: ["hosts"],
    clause: "RFC 4253 §4.2 (SSH-protoversion-softwareversion, printable US-ASCII)",
    origin: "peer",
    malformed: "none",
    description:
      "An SSH identification line that does not have the form the RFC gives; not used as evidence.",
  },

  // ── DICOM Upper Layer: PDU framing (dicom/ul/framer.ts, dicom/connection.ts) ──────────────────
  "ul.not-dicom-on-dicom-port": {
    layers: ["ul"],
    clause: "none (another protocol on a DICOM port)",
    origin: "peer",
    malformed: "low",
    description: "A DICOM port carries something other than DICOM (no dicom.malformed when the flow is TLS).",
  },
  "ul.invalid-pdu-header": {
    layers: ["ul"],
    clause: "PS3.8 §9.3.1 (PDU header: type, reserved, length)",
    origin: "peer",
    malformed: "medium",
    description: "A direction whose opening was seen does not start with a PDU header.",
  },
  "ul.unknown-pdu-type": {
    layers: ["ul"],
    clause: "PS3.8 §9.3.1 (PDU types 01H-07H)",
    origin: "peer",
    malformed: "medium",
    description: "A PDU type outside 01H-07H: framing is lost and the framer resynchronises.",
  },
  "ul.invalid-pdu-length": {
    layers: ["ul"],
    clause: "PS3.8 §9.3.1, §9.3.4-9.3.8 (fixed PDU lengths; a P-DATA-TF holds PDV items)",
    origin: "peer",
    malformed: "medium",
    description: "A PDU length no PDU of its type can have (beyond any sane size, or not the fixed 4).",
  },
  "ul.pdu-too-large": {
    layers: ["ul"],
    clause: "none (the sensor's cap on association PDUs; PS3.8 sets no limit)",
    origin: "peer",
    malformed: "medium",
    description: "An association control PDU larger than the sensor's cap; skipped, never buffered.",
  },
  "ul.pdu-too-short": {
    layers: ["ul"],
    clause: "PS3.8 §9.3.2, §9.3.4, §9.3.6-9.3.8 (fixed fields of the PDU)",
    origin: "peer",
    malformed: "medium",
    description: "A PDU shorter than its fixed fields.",
  },
  "ul.pdv-too-short": {
    layers: ["ul"],
    clause: "PS3.8 §9.3.5.1 (a PDV item holds its context ID and message control header)",
    origin: "peer",
    malformed: "medium",
    description: "A PDV item length below 2.",
  },
  "ul.pdv-exceeds-pdu": {
    layers: ["ul"],
    clause: "PS3.8 §9.3.5.1 (PDV items lie within their P-DATA-TF)",
    origin: "peer",
    malformed: "medium",
    description: "A PDV item that runs past the end of its P-DATA-TF.",
  },
  "ul.pdu-exceeds-max-length": {
    layers: ["ul"],
    clause: "PS3.8 D.1.1 (a P-DATA-TF within the receiver's Maximum Length)",
    origin: "peer",
    malformed: "low",
    description: "A P-DATA-TF larger than the maximum length its receiver announced.",
  },
  "ul.nonzero-reserved": {
    layers: ["ul"],
    clause: PS38_RESERVED,
    origin: "peer",
    malformed: "none",
    description: "A reserved field of a PDU, item or PDV message control header is not zero (a fingerprint).",
  },
  "ul.pc-id-invalid": {
    layers: ["ul"],
    clause: "PS3.8 §9.3.2.2 (presentation context IDs are odd, 1-255)",
    origin: "peer",
    malformed: "low",
    description: "An even presentation context ID.",
  },
  "ul.pdu-lost-in-gap": {
    layers: ["ul"],
    clause: "none (bytes the capture missed)",
    origin: "capture",
    malformed: "none",
    description: "An association PDU partly lost to a gap in the capture; not decoded.",
  },
  "ul.collect-budget-exhausted": {
    layers: ["ul"],
    clause: "none (the budget shared by all connections)",
    origin: "sensor",
    malformed: "none",
    description:
      "An association PDU straddling segments not held: the budget shared by all connections is spent.",
  },
  "ul.resync": {
    layers: ["ul"],
    clause: "none (framing regained after lost or foreign bytes)",
    origin: "capture",
    malformed: "none",
    description: "The framer found a PDU header again after skipping bytes.",
  },
  "ul.resync-failed": {
    layers: ["ul"],
    clause: "none (framing not regained)",
    origin: "capture",
    malformed: "none",
    description: "No PDU header found within the scan budget; the direction is ignored.",
  },

  // ── DICOM Upper Layer: association PDUs (dicom/ul/pdu.ts) ─────────────────────────────────────
  "ul.protocol-version": {
    layers: ["ul"],
    clause: "PS3.8 §9.3.2, §9.3.3 (Protocol-version bit 0)",
    origin: "peer",
    malformed: "low",
    description: "An A-ASSOCIATE-RQ or -AC with a protocol version other than 1.",
  },
  "ul.nonzero-reserved-header": {
    layers: ["ul"],
    clause: PS38_RESERVED,
    origin: "peer",
    malformed: "none",
    description:
      "The reserved bytes of the A-ASSOCIATE-RQ header (offsets 42-73) are not zero (a fingerprint).",
  },
  "ul.ae-title-blank": {
    layers: ["ul"],
    clause: "PS3.5 §6.2 Table 6.2-1 (AE: a value of only spaces shall not be used)",
    origin: "peer",
    malformed: "low",
    description: "A called or calling AE title that is all spaces or NULs.",
  },
  "ul.ae-title-invalid": {
    layers: ["ul"],
    clause: "PS3.5 §6.2 Table 6.2-1 (AE: default repertoire, no control characters or backslash)",
    origin: "peer",
    malformed: "low",
    description: "An AE title with bytes outside ISO 646 or control characters.",
  },
  "ul.ae-title-nul-padded": {
    layers: ["ul"],
    clause: "PS3.8 §9.3.2 (AE titles are padded with spaces), PS3.5 §6.2",
    origin: "peer",
    malformed: "low",
    description: "An AE title padded with NULs, not spaces.",
  },
  "ul.ae-title-leading-spaces": {
    layers: ["ul"],
    clause: "none (legal, PS3.5 §6.2 Table 6.2-1; peers may still mis-compare)",
    origin: "peer",
    malformed: "none",
    description: "An AE title that starts with spaces: noted, not malformed.",
  },
  "ul.ae-title-lower-case": {
    layers: ["ul"],
    clause: "none (legal, PS3.5 §6.2 Table 6.2-1; peers may still mis-compare)",
    origin: "peer",
    malformed: "none",
    description: "An AE title with lower-case letters: noted, not malformed.",
  },
  "ul.uid-invalid": {
    layers: ["ul", "dimse"],
    clause: "PS3.5 §9.1 (UIDs: digits and dots, at most 64 characters)",
    origin: "peer",
    malformed: "low",
    description:
      "A UID of an association item or a command set that is not digits and dots up to 64 characters.",
  },
  "ul.item-truncated": {
    layers: ["ul"],
    clause: "PS3.8 §9.3.2, §9.3.3 (item header: type, reserved, length)",
    origin: "peer",
    malformed: "medium",
    description: "Bytes left in an item or PDU are too few for an item header or its fields.",
  },
  "ul.item-exceeds-parent": {
    layers: ["ul"],
    clause: "PS3.8 §9.3.2, §9.3.3 (items lie within their PDU or parent item)",
    origin: "peer",
    malformed: "medium",
    description: "An item whose length runs past its parent PDU or item.",
  },
  "ul.item-length-invalid": {
    layers: ["ul"],
    clause: "PS3.8 D.1 (Maximum Length sub-item), PS3.7 D.3.3.3 (Asynchronous Operations Window): length 4",
    origin: "peer",
    malformed: "medium",
    description: "A fixed-size sub-item of the wrong length.",
  },
  "ul.unknown-item": {
    layers: ["ul"],
    clause: "PS3.8 §9.3.2, §9.3.3 (item types), PS3.7 D.3.3 (user information sub-items)",
    origin: "peer",
    malformed: "low",
    description: "An item or sub-item of an unknown type; skipped.",
  },
  "ul.unexpected-item": {
    layers: ["ul"],
    clause: "PS3.8 §9.3.2, §9.3.3; PS3.7 D.3.3.7 (items of the other PDU)",
    origin: "peer",
    malformed: "low",
    description: "An item that belongs to the other A-ASSOCIATE PDU (RQ items in an AC, or the reverse).",
  },
  "ul.duplicate-item": {
    layers: ["ul"],
    clause: "PS3.8 §9.3.2, §9.3.3 (one Application Context item, one User Information item)",
    origin: "peer",
    malformed: "low",
    description: "A second application context or user information item.",
  },
  "ul.missing-item": {
    layers: ["ul"],
    clause: "PS3.8 §9.3.2, §9.3.3 (required items)",
    origin: "peer",
    malformed: "low",
    description:
      "An A-ASSOCIATE PDU without its application context, presentation contexts or user information.",
  },
  "ul.list-capped": {
    layers: ["ul"],
    clause: "none (the sensor's caps on negotiation lists)",
    origin: "sensor",
    malformed: "none",
    description: "More presentation contexts, transfer syntaxes or negotiation items than the sensor keeps.",
  },
  "ul.pc-abstract-syntax-count": {
    layers: ["ul"],
    clause: "PS3.8 §9.3.2.2 (exactly one Abstract Syntax sub-item)",
    origin: "peer",
    malformed: "low",
    description: "A proposed presentation context with no or several abstract syntaxes.",
  },
  "ul.pc-no-transfer-syntax": {
    layers: ["ul"],
    clause: "PS3.8 §9.3.2.2 (one or more Transfer Syntax sub-items)",
    origin: "peer",
    malformed: "low",
    description: "A proposed presentation context without a transfer syntax.",
  },
  "ul.pc-transfer-syntax-count": {
    layers: ["ul"],
    clause: "PS3.8 §9.3.3.2 (one Transfer Syntax sub-item)",
    origin: "peer",
    malformed: "low",
    description: "An accepted presentation context with more than one transfer syntax.",
  },
  "ul.pc-result-invalid": {
    layers: ["ul"],
    clause: "PS3.8 §9.3.3.2 (Result/Reason 0-4)",
    origin: "peer",
    malformed: "low",
    description: "A presentation context result outside 0-4.",
  },
  "ul.role-invalid": {
    layers: ["ul"],
    clause: "PS3.7 D.3.3.4 (SCU-role and SCP-role are 0 or 1)",
    origin: "peer",
    malformed: "low",
    description: "SCP/SCU role selection values other than 0 or 1.",
  },
  "ul.version-name-invalid": {
    layers: ["ul"],
    clause: "PS3.7 D.3.3.2 (Implementation Version Name: 1-16 characters of the default repertoire)",
    origin: "peer",
    malformed: "low",
    description: "An implementation version name that is not 1-16 ISO 646 characters.",
  },
  "ul.user-identity-type-invalid": {
    layers: ["ul"],
    clause: "PS3.7 D.3.3.7.1 (User-Identity-Type 1-5)",
    origin: "peer",
    malformed: "low",
    description: "A user identity type outside 1-5.",
  },
  "ul.user-identity-length-mismatch": {
    layers: ["ul"],
    clause: "PS3.7 D.3.3.7.1 (primary and secondary field lengths fill the sub-item)",
    origin: "peer",
    malformed: "low",
    description: "User identity field lengths that do not fill the sub-item; no username is kept.",
  },
  "ul.user-identity-no-passcode": {
    layers: ["ul"],
    clause: "PS3.7 D.3.3.7.1 (type 2 carries a passcode)",
    origin: "peer",
    malformed: "low",
    description: "User identity type 2 (username and passcode) without a passcode; no username is kept.",
  },
  "ul.user-identity-username-invalid": {
    layers: ["ul"],
    clause: "PS3.7 D.3.3.7.1 (the username is UTF-8 text)",
    origin: "peer",
    malformed: "low",
    description:
      "A username that is not UTF-8 text of at most 128 bytes without control characters; not kept.",
  },
  "ul.reject-invalid": {
    layers: ["ul"],
    clause: "PS3.8 §9.3.4 Table 9-21 (Result, Source, Reason)",
    origin: "peer",
    malformed: "low",
    description: "An A-ASSOCIATE-RJ result or source outside the table.",
  },
  "ul.abort-invalid": {
    layers: ["ul"],
    clause: "PS3.8 §9.3.8 Table 9-26 (Source, Reason/Diag.)",
    origin: "peer",
    malformed: "low",
    description: "An A-ABORT source or reason outside the table.",
  },

  // ── DICOM Upper Layer: association state (dicom/connection.ts) ────────────────────────────────
  "ul.associate-rq-while-open": {
    layers: ["ul"],
    clause: "PS3.8 §9.2 Table 9-10 (A-ASSOCIATE-RQ only in Sta2)",
    origin: "peer",
    malformed: "low",
    description: "An A-ASSOCIATE-RQ before the previous association on the connection ended.",
  },
  "ul.unexpected-direction": {
    layers: ["ul"],
    clause: "PS3.8 §9.1.1, §9.2 (the requestor opens the connection; the acceptor answers)",
    origin: "peer",
    malformed: "low",
    description:
      "An A-ASSOCIATE-RQ from the side that accepted TCP, or an A-ASSOCIATE-AC from the requestor.",
  },
  "ul.duplicate-ac": {
    layers: ["ul"],
    clause: "PS3.8 §9.2 Table 9-10 (A-ASSOCIATE-AC only in Sta5)",
    origin: "peer",
    malformed: "low",
    description: "A second A-ASSOCIATE-AC for one association.",
  },
  "ul.pc-id-duplicate": {
    layers: ["ul"],
    clause: "PS3.8 §9.3.2.2 (each presentation context has its own ID)",
    origin: "peer",
    malformed: "low",
    description: "A presentation context ID proposed twice in one A-ASSOCIATE-RQ.",
  },
  "ul.pc-not-proposed": {
    layers: ["ul"],
    clause: "PS3.8 §9.3.3.2 (the AC answers the proposed presentation contexts)",
    origin: "peer",
    malformed: "low",
    description: "An A-ASSOCIATE-AC answers a presentation context that was not proposed.",
  },
  "ul.pdu-after-association-end": {
    layers: ["ul"],
    clause: "PS3.8 §9.2 Table 9-10 (nothing follows A-RELEASE-RP or A-ABORT)",
    origin: "peer",
    malformed: "low",
    description: "A PDU sent after the association was released, aborted or rejected.",
  },
  "ul.messages-capped": {
    layers: ["ul"],
    clause: "none (the sensor's caps on listed messages)",
    origin: "sensor",
    malformed: "none",
    description: "DIMSE messages counted but not listed in the association record.",
  },

  // ── DIMSE (dicom/dimse/assembler.ts, command.ts) ──────────────────────────────────────────────
  "dimse.command-too-large": {
    layers: ["dimse"],
    clause: "none (the sensor's cap on a command set; PS3.7 §6.3.1 command sets are small)",
    origin: "peer",
    malformed: "medium",
    description: "A command set longer than the sensor's cap; dropped.",
  },
  "dimse.command-truncated-element": {
    layers: ["dimse"],
    clause: "PS3.5 §7.1.3 (implicit VR element header: tag and 4-byte length), PS3.7 §6.3.1",
    origin: "peer",
    malformed: "medium",
    description: "A command set ends with fewer bytes than an element header.",
  },
  "dimse.command-element-beyond-end": {
    layers: ["dimse"],
    clause: "PS3.5 §7.1.3, PS3.7 §6.3.1 (elements lie within the command set)",
    origin: "peer",
    malformed: "medium",
    description: "A command element whose length runs past the command set.",
  },
  "dimse.command-not-group-0000": {
    layers: ["dimse"],
    clause: "PS3.7 §6.3.1, E.1 (a command set holds group 0000 only)",
    origin: "peer",
    malformed: "low",
    description: "An element of a group other than 0000 in a command set.",
  },
  "dimse.command-tag-order": {
    layers: ["dimse"],
    clause: "PS3.5 §7.1 (elements in ascending tag order)",
    origin: "peer",
    malformed: "low",
    description: "Command elements out of ascending order (decoding goes on).",
  },
  "dimse.command-group-length-mismatch": {
    layers: ["dimse"],
    clause: "PS3.7 E.1 Table E.1-1 (Command Group Length (0000,0000))",
    origin: "peer",
    malformed: "low",
    description: "A command group length that differs from the bytes that follow it.",
  },
  "dimse.missing-command-field": {
    layers: ["dimse"],
    clause: "PS3.7 E.1 Table E.1-1 (Command Field (0000,0100) is required)",
    origin: "peer",
    malformed: "low",
    description: "A command set without a Command Field.",
  },
  "dimse.unknown-command-field": {
    layers: ["dimse"],
    clause: "PS3.7 E.1 Table E.1-1 (Command Field values)",
    origin: "peer",
    malformed: "low",
    description: "A Command Field value that names no DIMSE command.",
  },
  "dimse.missing-data-set-type": {
    layers: ["dimse"],
    clause: "PS3.7 E.1 Table E.1-1 (Command Data Set Type (0000,0800) is required)",
    origin: "peer",
    malformed: "low",
    description: "A command set without a Command Data Set Type.",
  },
  "dimse.data-without-command": {
    layers: ["dimse"],
    clause: "PS3.7 §6.3.1, PS3.8 E.2 (a data set follows its command set)",
    origin: "peer",
    malformed: "low",
    description: "A data set PDV without a preceding command set.",
  },
  "dimse.data-inside-command": {
    layers: ["dimse"],
    clause: "PS3.8 E.2 (a command's fragments end with the last-fragment bit before its data set)",
    origin: "peer",
    malformed: "low",
    description: "A data set PDV before the last command fragment.",
  },
  "dimse.command-inside-dataset": {
    layers: ["dimse"],
    clause: "PS3.8 E.2, PS3.7 §6.3.1 (messages do not interleave within one direction)",
    origin: "peer",
    malformed: "low",
    description: "A command PDV before the data set of the previous message ended.",
  },
  "dimse.missing-dataset": {
    layers: ["dimse"],
    clause: "PS3.7 E.1 Table E.1-1 (Command Data Set Type announces a data set)",
    origin: "peer",
    malformed: "low",
    description: "A command PDV where the previous command announced a data set.",
  },
  "dimse.pc-id-mismatch": {
    layers: ["dimse"],
    clause: "PS3.8 §9.3.5.1, E.2 (a message's fragments share one presentation context)",
    origin: "peer",
    malformed: "low",
    description: "A command or data set fragment on another presentation context than its message's.",
  },

  // ── data sets (dicom/dataset/walker.ts) ───────────────────────────────────────────────────────
  "dataset.truncated": {
    layers: ["dataset"],
    clause: "PS3.5 §7.1, §7.5 (element values and sequences lie within the data set)",
    origin: "peer",
    malformed: "none",
    description: "A data set that ends inside an element value or an undefined-length sequence.",
  },
  "dataset.invalid-vr": {
    layers: ["dataset"],
    clause: "PS3.5 §6.2, §7.1.2 (explicit VR: two upper-case letters)",
    origin: "peer",
    malformed: "none",
    description: "An explicit VR that is not two upper-case letters.",
  },
  "dataset.odd-length": {
    layers: ["dataset"],
    clause: "PS3.5 §7.1.1 (value lengths are even)",
    origin: "peer",
    malformed: "none",
    description: "An odd value length.",
  },
  "dataset.unexpected-delimiter": {
    layers: ["dataset"],
    clause: "PS3.5 §7.5 (items and delimiters only inside sequences, in order)",
    origin: "peer",
    malformed: "none",
    description: "An item or delimitation tag at the top level or out of place in a sequence.",
  },
  "dataset.tag-order": {
    layers: ["dataset"],
    clause: "PS3.5 §7.1 (data elements in ascending tag order)",
    origin: "peer",
    malformed: "none",
    description: "Top-level tags not ascending.",
  },
  "dataset.undefined-length-value": {
    layers: ["dataset"],
    clause: "PS3.5 §7.1.1 (undefined length only for SQ, UN and encapsulated pixel data)",
    origin: "peer",
    malformed: "none",
    description: "Undefined length on a string element.",
  },
  "dataset.element-outside-item": {
    layers: ["dataset"],
    clause: "PS3.5 §7.5 (a sequence holds items)",
    origin: "peer",
    malformed: "none",
    description: "An element directly inside a sequence, not inside an item.",
  },
  "dataset.nesting-too-deep": {
    layers: ["dataset"],
    clause: "none (the walker's cap on nested sequences)",
    origin: "peer",
    malformed: "none",
    description: "Sequences nested deeper than the walker follows.",
  },
  "dataset.invalid-value": {
    layers: ["dataset"],
    clause: "PS3.5 §6.1, §6.2 (character repertoire of text VRs)",
    origin: "peer",
    malformed: "none",
    description: "Control bytes inside a text value (a wrong length, most likely).",
  },
  "dataset.inflate-failed": {
    layers: ["dataset"],
    clause: "PS3.5 §A.5 (Deflated Explicit VR Little Endian: RFC 1951 deflate)",
    origin: "peer",
    malformed: "none",
    description: "A deflated data set that does not inflate.",
  },

  // ── hosts: SMB and NTLMSSP (hosts/smb.ts, hosts/ntlm.ts) ──────────────────────────────────────
  "hosts.smb-not-smb": {
    layers: ["hosts"],
    clause: "[MS-SMB2] 2.1, RFC 1002 §4.3.1 (a Direct TCP or NetBIOS session message holds an SMB message)",
    origin: "peer",
    malformed: "none",
    description:
      "A stream on an SMB port whose framing or protocol identifier is not SMB (another protocol, or a pick-up mid-message); not read further.",
  },
  "hosts.smb-malformed": {
    layers: ["hosts"],
    clause:
      "[MS-CIFS] 2.2.4.52-53, [MS-SMB] 2.2.4.6, [MS-SMB2] 2.2.3-2.2.6 (counts, offsets and lengths stay in the message)",
    origin: "peer",
    malformed: "none",
    description:
      "An SMB NEGOTIATE or SESSION_SETUP whose header, counts, offsets or lengths leave the message; what lies within is kept.",
  },
  "hosts.smb-string-too-long": {
    layers: ["hosts"],
    clause: "none (the sensor's cap on a system string; [MS-CIFS] 2.2.4.53 sets none)",
    origin: "sensor",
    malformed: "none",
    description:
      "An SMB1 NativeOS, NativeLanMan or PrimaryDomain string longer than the sensor keeps; dropped.",
  },
  "hosts.ntlm-malformed": {
    layers: ["hosts"],
    clause: "[MS-NLMP] 2.2.1 (message fields and AV pairs stay in the message)",
    origin: "peer",
    malformed: "none",
    description:
      "An NTLMSSP message of an unknown type, shorter than its fixed header, or whose field or AV pair leaves the message.",
  },
  "hosts.ntlm-name-too-long": {
    layers: ["hosts"],
    clause: "none (the sensor's cap; NetBIOS names have 15 characters, DNS names 255, RFC 1035 §2.3.4)",
    origin: "sensor",
    malformed: "none",
    description: "An NTLMSSP computer or domain name longer than the sensor keeps; dropped.",
  },

  // ── hosts: RDP, RFB, FTP, Telnet, HTTP (hosts/rdp.ts, rfb.ts, cleartext-login.ts, http.ts) ──────────
  "hosts.rdp-bad-tpkt": {
    layers: ["hosts"],
    clause: "RFC 1006 §6 (TPKT: version 3, length at least 7)",
    origin: "peer",
    malformed: "none",
    description: "An RDP connection does not start with a TPKT header; the stream is not followed.",
  },
  "hosts.rdp-bad-x224": {
    layers: ["hosts"],
    clause:
      "ITU-T X.224 §13.3-13.4 / MS-RDPBCGR 2.2.1.1-2.2.1.2 (CR/CC TPDU, cookie ending in CR LF, RDP_NEG length 8)",
    origin: "peer",
    malformed: "none",
    description:
      "An X.224 Connection Request or Confirm that is not one, or whose cookie or RDP_NEG structure is broken.",
  },
  "hosts.rdp-bad-user-data": {
    layers: ["hosts"],
    clause: "MS-RDPBCGR 2.2.1.3.1-2.2.1.4.2 (TS_UD_HEADER length within the GCC user data, core block sizes)",
    origin: "peer",
    malformed: "none",
    description:
      "An MCS Connect Initial or Response whose user data blocks overrun it or whose core block is too short.",
  },
  "hosts.rfb-bad-version": {
    layers: ["hosts"],
    clause: 'RFC 6143 §7.1.1 (ProtocolVersion "RFB xxx.yyy\\n")',
    origin: "peer",
    malformed: "none",
    description: "An RFB (VNC) ProtocolVersion message that is not twelve bytes of the form RFB xxx.yyy.",
  },
  "hosts.ftp-line-too-long": {
    layers: ["hosts"],
    clause: "none (RFC 959 sets no line limit; the decoder's own cap of 512 bytes)",
    origin: "sensor",
    malformed: "none",
    description:
      "An FTP command or reply line longer than 512 bytes; the control connection is not followed further.",
  },
  "hosts.ftp-bad-reply": {
    layers: ["hosts"],
    clause: "RFC 959 §4.2 (a reply starts with a three-digit code and a space or hyphen)",
    origin: "peer",
    malformed: "none",
    description:
      "A server line on an FTP control connection that is no reply; the connection is not followed further.",
  },
  "hosts.telnet-subnegotiation-too-long": {
    layers: ["hosts"],
    clause: "none (RFC 855 sets no limit; the decoder's own cap of 512 bytes)",
    origin: "sensor",
    malformed: "none",
    description: "A Telnet subnegotiation (IAC SB) not closed by IAC SE within 512 bytes.",
  },
  "hosts.http-head-too-large": {
    layers: ["hosts"],
    clause: "none (RFC 9112 §2.3 leaves the limit to the recipient; the decoder's own cap of 16 KiB)",
    origin: "sensor",
    malformed: "none",
    description:
      "An HTTP request or response head without its empty line within 16 KiB; the direction is not followed.",
  },
  "hosts.http-bad-message": {
    layers: ["hosts"],
    clause: "RFC 9112 §3, §4, §6.3 (request line, status line, Content-Length)",
    origin: "peer",
    malformed: "none",
    description: "An HTTP head with a malformed start line or Content-Length; the direction is not followed.",
  },
  // ── the sensor itself ─────────────────────────────────────────────────────────────────────────
  "internal.exception": {
    layers: ["decode", "reassembly", "hosts"],
    clause: "none (a bug of ours, caught at the packet boundary)",
    origin: "sensor",
    malformed: "none",
    description:
      "A decoder threw; the packet boundary caught it and the sensor goes on (the error name is the detail).",
  },
  "hosts.decoders-capped": {
    layers: ["hosts"],
    clause: "none (the sensor's cap: MAX_HOST_STREAMS decoders at once, agent/hosts/router.ts)",
    origin: "sensor",
    malformed: "none",
    description:
      "A connection got no OS or remote-access decoder because as many were already reading; its DICOM is unaffected.",
  },
  "findings.rule-failed": {
    layers: ["findings"],
    clause: "none (a bug of ours, caught around one rule)",
    origin: "sensor",
    malformed: "none",
    description:
      "A findings rule threw on one observation; the engine caught it, the other rules and the parser went on (the detail names the rule and the error name).",
  },
  "report.associations-capped": {
    layers: ["ul"],
    clause: "none (the report's caps on listed associations)",
    origin: "sensor",
    malformed: "none",
    description: "Associations counted and observed but not listed in the report (list caps).",
  },
  "anomaly-rows-capped": {
    layers: ["capture", "decode", "reassembly", "tls", "ul", "dimse", "dataset"],
    clause: "none (the cap on distinct anomaly rows)",
    origin: "sensor",
    malformed: "none",
    description: "More distinct (code, flow) rows than the report keeps; the rest are counted on this row.",
  },
} as const satisfies Record<string, AnomalyEntry>;

/** Every anomaly code: a code not in the catalogue does not compile. */
export type AnomalyCode = keyof typeof ANOMALY_CATALOGUE;

/** The codes a capture file reader may fail with (CaptureError). */
export type CaptureErrorCode = Extract<
  AnomalyCode,
  `capture.${string}` | `pcap.${string}` | `pcapng.${string}`
>;

/** The codes of the link, IP and TCP header decoder (TcpPacket.anomaly). */
export type DecodeAnomalyCode = Extract<AnomalyCode, `decode.${string}`>;

/** The codes of the command set decoder (dimse/command.ts). */
export type CommandAnomalyCode = Extract<
  AnomalyCode,
  `dimse.command-${string}` | `dimse.missing-command-field`
>;

/** The codes of the data set walker. */
export type DatasetAnomalyCode = Extract<AnomalyCode, `dataset.${string}`>;

/** The catalogue's codes, in table order. */
export const ANOMALY_CODES: readonly AnomalyCode[] = Object.keys(ANOMALY_CATALOGUE) as AnomalyCode[];

/** Whether a string (from a stored observation, say) is a catalogued code. */
export function isAnomalyCode(code: string): code is AnomalyCode {
  return Object.prototype.hasOwnProperty.call(ANOMALY_CATALOGUE, code);
}

/** The catalogue's row of a code. */
export function anomalyEntry(code: AnomalyCode): AnomalyEntry {
  return ANOMALY_CATALOGUE[code];
}

/**
 * The severity of the `dicom.malformed` finding an anomaly raises, or null for none: the findings rule's
 * decision, made here once per code. Codes not in the catalogue (an older store's observations) raise
 * none. The rule keeps one judgement of its own: `ul.not-dicom-on-dicom-port` on a flow seen to be TLS
 * (DICOM TLS is no malformed DICOM).
 */
export function malformedSeverity(code: string): "low" | "medium" | null {
  if (!isAnomalyCode(code)) return null;
  const m = ANOMALY_CATALOGUE[code].malformed;
  return m === "none" ? null : m;
}
