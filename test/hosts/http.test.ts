import test from "ava";
import {
  httpAuthToken,
  HttpStreamDecoder,
  looksLikeHttp,
  MAX_HEAD,
  MAX_HEADS,
  MAX_VALUE,
} from "../../agent/hosts/http.js";
import type { HostStreamSink } from "../../agent/hosts/types.js";
import type { Direction } from "../../agent/reassembly/types.js";
import {
  assertNoCanary,
  chunk,
  mutatedNeverThrows,
  randomNeverThrows,
  splitEverywhere,
} from "./split-check.js";
import { feed } from "./streams.js";

const make = (s: HostStreamSink) => new HttpStreamDecoder(s);
const BASIC = Buffer.from("canaryadmin:CanarySecret42").toString("base64");
const COOKIE = "SESSIONID=canary-cookie-31337";
const NTLM1 = Buffer.from("NTLMSSP\0\x01\0\0\0\x07\x82\x08\xa2", "latin1");
const NTLM2 = Buffer.from("NTLMSSP\0\x02\0\0\0challenge", "latin1");

function tokensOf(chunks: Parameters<typeof feed>[1]): { dir: Direction; hex: string }[] {
  const got: { dir: Direction; hex: string }[] = [];
  feed(
    (s) =>
      new HttpStreamDecoder(s, { onAuthToken: (dir, tok) => got.push({ dir, hex: tok.toString("hex") }) }),
    chunks,
  );
  return got;
}

const exchange = [
  chunk(
    0,
    `GET /wado?x=1 HTTP/1.1\r\nHost: pacs\r\nUser-Agent: Mozilla/5.0 (Windows NT 10.0; Win64; x64)\r\nAuthorization: Basic ${BASIC}\r\nCookie: ${COOKIE}\r\n\r\n`,
  ),
  chunk(
    1,
    "HTTP/1.1 200 OK\r\nServer: Microsoft-IIS/8.5\r\nContent-Length: 10\r\nSet-Cookie: " +
      COOKIE +
      "\r\n\r\n0123456789",
  ),
  chunk(0, "POST /upload HTTP/1.1\r\nContent-Length: 5\r\nUser-Agent: dcm4che/5\r\n\r\nabcde"),
  chunk(1, "HTTP/1.1 204 No Content\r\nServer: Apache\r\n\r\n"),
  chunk(0, "HEAD / HTTP/1.1\r\n\r\n"),
  chunk(1, "HTTP/1.1 200 OK\r\nContent-Length: 999\r\n\r\n"),
  chunk(0, "GET /x HTTP/1.0\r\n\r\n"),
  chunk(1, "HTTP/1.0 200 OK\r\nServer: nginx/1.18.0 (Ubuntu)\r\n\r\nbody until close"),
];

test("request and response heads, bodies skipped by Content-Length, HEAD and 204 without body", (t) => {
  const s = splitEverywhere(t, make, exchange);
  t.deepEqual(
    s.events.map((x) => [x.dir, x.e]),
    [
      [0, { kind: "http-request", userAgent: "Mozilla/5.0 (Windows NT 10.0; Win64; x64)" }],
      [1, { kind: "http-response", server: "Microsoft-IIS/8.5" }],
      [0, { kind: "http-request", userAgent: "dcm4che/5" }],
      [1, { kind: "http-response", server: "Apache" }],
      [0, { kind: "http-request", userAgent: null }],
      [1, { kind: "http-response", server: null }],
      [0, { kind: "http-request", userAgent: null }],
      [1, { kind: "http-response", server: "nginx/1.18.0 (Ubuntu)" }],
    ],
  );
  t.deepEqual(s.anomalies, []);
  assertNoCanary(t, s, ["canaryadmin", "CanarySecret42", BASIC, "canary-cookie"]);
});

test("a body of unknown length or chunked stops the direction; both stopped is done", (t) => {
  const d = new HttpStreamDecoder({ event: () => {}, anomaly: () => {} });
  const req = Buffer.from("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n");
  d.data(0, req, 0, req.length, 0);
  t.false(d.done);
  const rsp = Buffer.from("HTTP/1.1 200 OK\r\n\r\nstream");
  d.data(1, rsp, 0, rsp.length, 0);
  t.true(d.done);
});

test("at most MAX_HEADS heads each way", (t) => {
  const many = Array.from({ length: MAX_HEADS + 3 }, () =>
    chunk(0, "GET / HTTP/1.1\r\nUser-Agent: a\r\n\r\n"),
  );
  t.is(feed(make, many).events.length, MAX_HEADS);
});

test("values: control characters stripped, at most MAX_VALUE characters", (t) => {
  const s = feed(make, [chunk(0, `GET / HTTP/1.1\r\nuser-agent:\t curl\x07/8 ${"x".repeat(400)}\r\n\r\n`)]);
  const ua = (s.events[0]!.e as { userAgent: string }).userAgent;
  t.is(ua.length, MAX_VALUE);
  t.true(ua.startsWith("curl/8 xx"));
});

test("NTLM and Negotiate tokens go to the callback, with their direction; Basic never does", (t) => {
  const got = tokensOf([
    chunk(0, `GET / HTTP/1.1\r\nAuthorization: NTLM ${NTLM1.toString("base64")}\r\n\r\n`),
    chunk(
      1,
      `HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Negotiate\r\nWWW-Authenticate: NTLM\r\nWWW-Authenticate: NTLM ${NTLM2.toString("base64")}\r\nContent-Length: 0\r\n\r\n`,
    ),
    chunk(
      0,
      `GET / HTTP/1.1\r\nProxy-Authorization: negotiate ${NTLM1.toString("base64")}\r\nAuthorization: Basic ${BASIC}\r\n\r\n`,
    ),
    chunk(1, `HTTP/1.1 200 OK\r\nWWW-Authenticate: Basic realm="x"\r\nContent-Length: 0\r\n\r\n`),
  ]);
  t.deepEqual(got, [
    { dir: 0, hex: NTLM1.toString("hex") },
    { dir: 1, hex: NTLM2.toString("hex") },
    { dir: 0, hex: NTLM1.toString("hex") },
  ]);
});

test("httpAuthToken", (t) => {
  t.deepEqual(httpAuthToken(`NTLM ${NTLM1.toString("base64")}`), NTLM1);
  t.deepEqual(httpAuthToken(` Negotiate   ${NTLM2.toString("base64")}, Basic realm="x"`), NTLM2);
  t.is(httpAuthToken("NTLM"), null);
  t.is(httpAuthToken(`Basic ${BASIC}`), null);
  t.is(httpAuthToken("NTLM not*base64"), null);
  t.is(httpAuthToken(`NTLM ${"A".repeat(20000)}`), null);
});

test("looksLikeHttp", (t) => {
  t.true(looksLikeHttp(Buffer.from("GET / HTTP/1.1"), 0, 14));
  t.true(looksLikeHttp(Buffer.from("..PROPFIND /"), 2, 12));
  t.true(looksLikeHttp(Buffer.from("HTTP/1.1 200"), 0, 12));
  t.false(looksLikeHttp(Buffer.from("GET"), 0, 3));
  t.false(looksLikeHttp(Buffer.from("RFB 003.008\n"), 0, 12));
  t.false(looksLikeHttp(Buffer.from("GETX / HTTP/1.1"), 0, 15));
});

test("anomalies: a head above the cap, a bad start line, a bad Content-Length", (t) => {
  const big = feed(make, [chunk(0, `GET / HTTP/1.1\r\nX: ${"a".repeat(MAX_HEAD)}\r\n\r\n`)]);
  t.deepEqual(
    big.anomalies.map((a) => a.code),
    ["hosts.http-head-too-large"],
  );
  t.deepEqual(
    feed(make, [chunk(1, "SSH-2.0-x\r\n\r\n")]).anomalies.map((a) => a.code),
    ["hosts.http-bad-message"],
  );
  const cl = feed(make, [
    chunk(
      0,
      `POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\nAuthorization: Basic ${BASIC}\r\n\r\n`,
    ),
  ]);
  t.deepEqual(
    cl.anomalies.map((a) => a.code),
    ["hosts.http-bad-message"],
  );
  assertNoCanary(t, cl, [BASIC]);
});

test("a gap inside a body of known length is skipped; elsewhere it stops the direction", (t) => {
  const s = feed(make, [
    chunk(1, "HTTP/1.1 200 OK\r\nServer: a\r\nContent-Length: 100\r\n\r\n0123"),
    { dir: 1, gap: 50, tsMicros: 0 },
    chunk(1, `${"z".repeat(46)}HTTP/1.1 200 OK\r\nServer: b\r\nContent-Length: 0\r\n\r\n`),
    { dir: 0, gap: 10, tsMicros: 0 },
    chunk(0, "GET / HTTP/1.1\r\n\r\n"),
  ]);
  t.deepEqual(
    s.events.map((x) => x.e),
    [
      { kind: "http-response", server: "a" },
      { kind: "http-response", server: "b" },
    ],
  );
});

test("random bytes and mutated exchanges never throw", (t) => {
  randomNeverThrows(t, make);
  mutatedNeverThrows(t, (s) => new HttpStreamDecoder(s, { onAuthToken: () => {} }), exchange);
});

test("a head of almost MAX_HEAD bytes sent one byte per segment is read once (linear, not quadratic)", (t) => {
  const head = Buffer.from(`GET / HTTP/1.1\r\nUser-Agent: slow\r\nX: ${"a".repeat(MAX_HEAD - 64)}\r\n\r\n`);
  const s = feed(make, [chunk(0, head)], (d) => Array.from({ length: d.length }, (_, i) => i));
  t.deepEqual(
    s.events.map((x) => x.e),
    [{ kind: "http-request", userAgent: "slow" }],
  );
});
