/**
 * The small command-line walker every subcommand uses (analyze, run, doctor, console): words in order,
 * an option's value taken from the next word or refused with the subcommand's own usage error.
 */

/** Where the agent and doctor read their configuration unless --config says otherwise (DESIGN.md §3). */
export const DEFAULT_CONFIG_PATH = "/etc/dicomtap/config.json";

export class ArgWalker {
  private i = -1;

  constructor(
    private readonly argv: readonly string[],
    private readonly usage: (message: string) => Error,
  ) {}

  /** The next word, or undefined at the end. */
  next(): string | undefined {
    return this.argv[++this.i];
  }

  /** The word after `option`, which must be there. */
  value(option: string): string {
    const v = this.argv[++this.i];
    if (v === undefined) throw this.usage(`${option} needs a value`);
    return v;
  }

  /** Every word not read yet (after "--"). */
  rest(): string[] {
    const r = this.argv.slice(this.i + 1);
    this.i = this.argv.length;
    return r;
  }
}
