/**
 * systemd readiness and watchdog notifications (sd_notify(3)) for `dicomtap run` under
 * systemd/dicomtap.service (Type=notify, WatchdogSec=).
 *
 * Node cannot open AF_UNIX datagram sockets, so one long-lived child, systemd/dicomtap-notify (Perl from
 * perl-base), turns each line written on its stdin into one datagram on $NOTIFY_SOCKET. Outside systemd
 * (no NOTIFY_SOCKET) every call is a no-op and no child is started.
 *
 * The watchdog ping runs on a timer of the event loop: if the loop blocks (a parser bug looping on one
 * packet), the pings stop and systemd restarts the service after WatchdogSec.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { installPath } from "../util/root.js";

/**
 * Where the helper sits: systemd/dicomtap-notify of the package root (util/root.ts finds it, installed in
 * /opt/dicomtap or in development).
 */
function defaultNotifyHelper(): string {
  try {
    return installPath("systemd", "dicomtap-notify");
  } catch {
    return "/opt/dicomtap/systemd/dicomtap-notify";
  }
}

export interface NotifierOptions {
  env?: NodeJS.ProcessEnv;
  helper?: string;
  pid?: number;
}

export class SystemdNotifier {
  private child: ChildProcess | null = null;
  private watchdogTimer: NodeJS.Timeout | null = null;
  /** Half the watchdog timeout, in ms, when systemd asked this process for pings; else null. */
  readonly watchdogIntervalMs: number | null;
  readonly enabled: boolean;

  constructor(opts: NotifierOptions = {}) {
    const env = opts.env ?? process.env;
    const pid = opts.pid ?? process.pid;
    this.enabled = typeof env.NOTIFY_SOCKET === "string" && env.NOTIFY_SOCKET !== "";
    // sd_watchdog_enabled(3): WATCHDOG_USEC is for us only if WATCHDOG_PID is unset or our PID.
    const usec = Number(env.WATCHDOG_USEC ?? "");
    const forUs = env.WATCHDOG_PID === undefined || Number(env.WATCHDOG_PID) === pid;
    this.watchdogIntervalMs =
      this.enabled && forUs && Number.isFinite(usec) && usec > 0
        ? Math.max(1, Math.floor(usec / 2000))
        : null;
    if (this.enabled) {
      this.child = spawn(opts.helper ?? defaultNotifyHelper(), [], {
        stdio: ["pipe", "ignore", "inherit"],
        env: { NOTIFY_SOCKET: env.NOTIFY_SOCKET!, PATH: env.PATH ?? "/usr/bin:/bin" },
      });
      this.child.on("error", (err) => {
        process.stderr.write(`dicomtap: systemd notify helper: ${err.message}\n`);
        this.child = null;
      });
      // The helper must never keep the agent alive on its own.
      this.child.unref();
      (this.child.stdin as unknown as { unref?: () => void } | null)?.unref?.();
    }
  }

  /** Sends KEY=VALUE fields (one datagram each). Values are single-line. */
  send(...fields: string[]): void {
    const c = this.child;
    if (c === null || c.stdin === null || c.stdin.destroyed) return;
    for (const f of fields) c.stdin.write(f.replace(/[\r\n]+/g, " ") + "\n");
  }

  ready(status?: string): void {
    this.send("READY=1", ...(status !== undefined ? [`STATUS=${status}`] : []));
  }

  status(text: string): void {
    this.send(`STATUS=${text}`);
  }

  stopping(): void {
    this.send("STOPPING=1");
  }

  watchdog(): void {
    this.send("WATCHDOG=1");
  }

  /** Starts the periodic WATCHDOG=1 when systemd asked for it (`healthy` may veto a ping). */
  startWatchdog(healthy: () => boolean = () => true): void {
    if (this.watchdogIntervalMs === null || this.watchdogTimer !== null) return;
    this.watchdogTimer = setInterval(() => {
      if (healthy()) this.watchdog();
    }, this.watchdogIntervalMs);
    this.watchdogTimer.unref();
  }

  /** Stops pinging and lets the helper exit (its stdin closes). */
  async close(): Promise<void> {
    if (this.watchdogTimer !== null) clearInterval(this.watchdogTimer);
    this.watchdogTimer = null;
    const c = this.child;
    this.child = null;
    if (c === null || c.exitCode !== null) return;
    const exited = new Promise<void>((r) => c.once("exit", () => r()));
    // Waiting on an unref'd child would let the event loop end first: hold it until the helper is gone.
    c.ref();
    c.stdin?.end();
    await exited;
  }
}
