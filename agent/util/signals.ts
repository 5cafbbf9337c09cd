/**
 * The end of a foreground service's life (`dicomtap run`, `dicomtap central`): systemd stops a unit with
 * SIGTERM and a person at a terminal with ^C (SIGINT). Both mean "stop cleanly", so both resolve one promise;
 * the handlers are removed then, so a second signal during the stop gets Node's default (exit at once).
 */
export function signalled(): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      process.off("SIGINT", done);
      process.off("SIGTERM", done);
      resolve();
    };
    process.on("SIGINT", done);
    process.on("SIGTERM", done);
  });
}
