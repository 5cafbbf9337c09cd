/**
 * Event-loop delay of the thread that owns the monitor (issue 8 "Bursts", issue 10 "Health must not
 * stall capture"). A stall of the loop is time in which nothing reads the capture: the kernel ring has to
 * hold the packets, and loses them when it cannot. The health payload reports the delay so an operator
 * (and the benchmark) can see a stall before it shows as kernel drops.
 *
 * perf_hooks.monitorEventLoopDelay arms a libuv timer every `resolution` ms and records, in
 * nanoseconds, the time between two firings, the period included: an idle loop shows ~10.1 ms at a
 * 10 ms resolution. The delay is that minus the resolution (as Elastic's APM agent
 * does; open-telemetry/opentelemetry-js-contrib#2794), so an idle loop reads ~0.1 ms and a 60 ms stall
 * ~60 ms. The timer is unref'd by Node, so a started monitor alone does not keep the process alive;
 * stop() disables it all the same, so nothing samples after the agent's shutdown.
 */
import { monitorEventLoopDelay, type IntervalHistogram } from "node:perf_hooks";

/** Delay percentiles of one window, in milliseconds (two decimals). */
export interface LoopDelay {
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

/** 10 ms: fine enough to see a 20 ms stall, cheap enough (100 wake-ups a second) for a Pi. */
const RESOLUTION_MS = 10;

/**
 * The delay percentiles of a monitorEventLoopDelay histogram armed at `resolutionMs`, or null before its
 * first sample. Use this (or EventLoopMonitor) in every thread, so that the main and capture figures of
 * one health record mean the same.
 */
function loopDelayOf(h: IntervalHistogram, resolutionMs = RESOLUTION_MS): LoopDelay | null {
  if (h.count === 0) return null;
  const ms = (ns: number): number => Math.round(Math.max(ns / 1e6 - resolutionMs, 0) * 100) / 100;
  return { p50Ms: ms(h.percentile(50)), p99Ms: ms(h.percentile(99)), maxMs: ms(h.max) };
}

export class EventLoopMonitor {
  private readonly h: IntervalHistogram;
  private running = false;

  constructor(private readonly resolutionMs = RESOLUTION_MS) {
    this.h = monitorEventLoopDelay({ resolution: resolutionMs });
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.h.enable();
  }

  stop(): void {
    if (!this.running) return;
    this.running = false;
    this.h.disable();
  }

  get started(): boolean {
    return this.running;
  }

  /**
   * The delay since the previous take() (or start()), and a new window from now. Null when the window
   * has no sample: the monitor is stopped, or less than one resolution has passed.
   */
  take(): LoopDelay | null {
    const d = loopDelayOf(this.h, this.resolutionMs);
    this.h.reset();
    return d;
  }
}
