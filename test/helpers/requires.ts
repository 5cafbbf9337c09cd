/**
 * Prerequisites of tests that need root or outside tools, in one place.
 *
 *   const rootTest = requires("root", "netns", "tcpdump");
 *   rootTest.serial("the agent sees the mirrored traffic", async (t) => { ... });
 *
 * When everything is there, `rootTest` is ava's `test` (and `.serial` its `test.serial`). When something
 * is missing, the test is registered with ava's `test.skip` under a title that says why, e.g.
 * "needs root, tshark: the agent sees the mirrored traffic": it shows as skipped, never as passed, and
 * never throws. In CI (CI=true, or DICOMTAP_REQUIRE_PREREQUISITES=1, as .ci/run sets when it runs as
 * root and has installed every tool) a missing prerequisite fails the test instead, with what is missing:
 * a broken CI machine cannot hide tests behind skips.
 *
 * A file whose every test needs the same things can shadow ava's `test`:
 *
 *   const test = requires("mosquitto", "openssl");   // test(), test.serial(), test.before/after(.always)
 *
 * (its hooks register nothing when something is missing). `rootTest.missing` lists what is missing (empty
 * when the tests run); hooks of ava's own `test` use `rootTest.ok` to do nothing when their tests skip.
 */
import test, { type ExecutionContext, type TestFn } from "ava";
import { spawnSync } from "node:child_process";
import { accessSync, constants, existsSync } from "node:fs";
import { delimiter, join } from "node:path";
import { captureHelperPath } from "../../agent/capture/live.js";
import { NFT } from "./nft.js";

export type Prerequisite =
  | "root"
  | "netns"
  | "tcpdump"
  | "tshark"
  | "tcpreplay"
  | "mosquitto"
  | "dcmtk"
  | "orthanc"
  | "nmap"
  | "iptables"
  | "nft"
  | "tc"
  | "openssl"
  | "ethtool"
  | "samba"
  | "vsftpd"
  | "dnsmasq"
  | "dhclient"
  | "x11vnc"
  | "gnu-time"
  | "capture-helper"
  | `file:${string}`;

/** Executables each prerequisite needs (looked up in PATH and the sbin directories). */
const TOOLS: Partial<Record<Prerequisite, string[]>> = {
  tcpdump: ["tcpdump"],
  tshark: ["tshark"],
  tcpreplay: ["tcpreplay"],
  mosquitto: ["mosquitto"],
  dcmtk: ["storescp", "storescu", "echoscu", "findscu", "movescu", "getscu", "dump2dcm"],
  orthanc: ["Orthanc"],
  nmap: ["nmap"],
  iptables: ["iptables"],
  tc: ["tc"],
  openssl: ["openssl"],
  netns: ["ip", "unshare"],
  ethtool: ["ethtool"],
  // The OS lab's peers (scripts/lab/os-lab): Samba's server and client, vsftpd with curl as its client,
  // dnsmasq's DHCP server and isc-dhcp-client, x11vnc.
  samba: ["smbd", "smbpasswd", "smbclient"],
  vsftpd: ["vsftpd", "curl"],
  dnsmasq: ["dnsmasq"],
  dhclient: ["dhclient"],
  x11vnc: ["x11vnc"],
};

const SBIN = ["/usr/local/sbin", "/usr/sbin", "/sbin"];

/**
 * The full path of an executable, or null. Looks in PATH, then in the sbin directories, which an ordinary
 * user's PATH lacks on Debian although mosquitto and Orthanc live there: a directory found that way is
 * added to this process's PATH, so the tests and the helpers they spawn by name find the tool too.
 */
export function which(name: string): string | null {
  const path = (process.env.PATH ?? "").split(delimiter).filter((d) => d !== "");
  for (const dir of [...path, ...SBIN.filter((d) => !path.includes(d))]) {
    const p = join(dir, name);
    try {
      accessSync(p, constants.X_OK);
    } catch {
      continue;
    }
    if (!path.includes(dir)) process.env.PATH = [...path, dir].join(delimiter);
    return p;
  }
  return null;
}

const cache = new Map<Prerequisite, string | null>();

/** Why the prerequisite is not met ("root", "tshark (tshark not found)"...), or null when it is. */
function check(p: Prerequisite): string | null {
  if (cache.has(p)) return cache.get(p)!;
  let why: string | null = null;
  if (p === "root") {
    why = process.getuid?.() === 0 ? null : "root";
  } else if (p === "gnu-time") {
    why = existsSync("/usr/bin/time") ? null : "GNU time (/usr/bin/time)";
  } else if (p === "capture-helper") {
    why = captureHelperPath() !== null ? null : "the capture helper (scripts/build-native: gcc, libpcap-dev)";
  } else if (p === "nft") {
    // Not by PATH: node_modules/.bin has @vercel/nft's "nft" (test/helpers/nft.ts).
    why = NFT !== null ? null : "nft (nftables: /usr/sbin/nft not found)";
  } else if (p.startsWith("file:")) {
    why = existsSync(p.slice(5)) ? null : p.slice(5);
  } else {
    const absent = (TOOLS[p] ?? []).filter((x) => which(x) === null);
    if (absent.length > 0) why = `${p} (${absent.join(", ")} not found)`;
    else if (p === "netns") {
      // Root is not enough in a container without CAP_SYS_ADMIN: try to make a namespace.
      if (process.getuid?.() !== 0) why = "netns (root)";
      else if (
        spawnSync(which("unshare")!, ["--net", "true"], { stdio: "ignore", timeout: 10_000 }).status !== 0
      )
        why = "netns (unshare --net failed)";
    }
  }
  cache.set(p, why);
  return why;
}

/** What of `needs` is missing, in the order given; empty when the tests can run. */
export function missing(...needs: Prerequisite[]): string[] {
  // "netns (root)" says the same as "root": keep the shorter when both are missing.
  const out = needs.map(check).filter((m): m is string => m !== null);
  return out.includes("root") ? out.filter((m) => m !== "netns (root)") : out;
}

/**
 * True where a missing prerequisite is a failure: CI installs them all. DICOMTAP_REQUIRE_NATIVE=1 (set by
 * .ci/run, which builds it) makes the capture helper alone required.
 */
export function strict(needs: readonly Prerequisite[] = []): boolean {
  const ci = process.env.CI ?? "";
  return (
    (ci !== "" && ci !== "false" && ci !== "0") ||
    process.env.DICOMTAP_REQUIRE_PREREQUISITES === "1" ||
    (needs.includes("capture-helper") && process.env.DICOMTAP_REQUIRE_NATIVE === "1")
  );
}

type Impl<C> = (t: ExecutionContext<C>) => unknown;

export interface GatedTest<C = unknown> {
  (title: string, impl: Impl<C>): void;
  serial(title: string, impl: Impl<C>): void;
  /** ava's hooks when every prerequisite is met; otherwise they register nothing. */
  before: TestFn<C>["before"];
  after: TestFn<C>["after"];
  beforeEach: TestFn<C>["beforeEach"];
  afterEach: TestFn<C>["afterEach"];
  /** True when every prerequisite is met (hooks of plain `test` should do nothing otherwise). */
  readonly ok: boolean;
  readonly missing: readonly string[];
}

/** A hook that registers nothing, with the sub-forms files use (`after.always`, `before.skip`...). */
const noHook = Object.assign(() => undefined, { always: () => undefined, skip: () => undefined });

/** ava's `test` when `needs` are met; a named skip (or, in CI, a named failure) otherwise. */
export function requires<C = unknown>(...needs: Prerequisite[]): GatedTest<C> {
  const gaps = missing(...needs);
  const ava = test as TestFn<C>;
  const why = `needs ${gaps.join(", ")}`;
  const gated = (serial: boolean) => (title: string, impl: Impl<C>) => {
    if (gaps.length === 0) (serial ? ava.serial : ava)(title, impl);
    else if (strict(needs))
      (serial ? ava.serial : ava)(`${why}: ${title}`, (t) =>
        t.fail(`prerequisite missing in CI: ${why}; CI installs every tool and runs as root`),
      );
    else ava.skip(`${why}: ${title}`, impl);
  };
  const hook = <K extends "before" | "after" | "beforeEach" | "afterEach">(k: K): TestFn<C>[K] =>
    gaps.length === 0 ? ava[k] : (noHook as unknown as TestFn<C>[K]);
  return Object.assign(gated(false), {
    serial: gated(true),
    before: hook("before"),
    after: hook("after"),
    beforeEach: hook("beforeEach"),
    afterEach: hook("afterEach"),
    ok: gaps.length === 0,
    missing: gaps,
  });
}
