/** Where the demo writes: stdout in a terminal, a buffer in tests. */
export interface Output {
  write(text: string): void;
  /** True when `\r` can redraw the current line (a terminal). */
  readonly interactive: boolean;
}

export const stdoutOutput: Output = {
  write: (text) => void process.stdout.write(text),
  interactive: Boolean(process.stdout.isTTY),
};

const WIDTH = 24;

/**
 * A one-line progress bar: redrawn in place in a terminal, printed once when done otherwise
 * (so logs and CI output stay readable).
 */
export class ProgressBar {
  private done = 0;
  private lastDraw = 0;

  constructor(
    private readonly out: Output,
    private readonly label: string,
    private readonly total: number,
  ) {
    this.draw();
  }

  tick(detail = ''): void {
    this.done++;
    const now = Date.now();
    if (this.done === this.total || now - this.lastDraw > 40) {
      this.lastDraw = now;
      this.draw(detail);
    }
  }

  finish(detail = ''): void {
    this.done = this.total;
    this.draw(detail, true);
  }

  private draw(detail = '', final = false): void {
    if (!this.out.interactive && !final) return;
    const filled = this.total === 0 ? WIDTH : Math.round((this.done / this.total) * WIDTH);
    const bar = `${'█'.repeat(filled)}${'░'.repeat(WIDTH - filled)}`;
    const line = `  ${this.label.padEnd(22)} ${bar} ${String(this.done).padStart(3)}/${this.total} ${detail}`;
    this.out.write(this.out.interactive ? `\r\x1b[2K${line}${final ? '\n' : ''}` : `${line}\n`);
  }
}

/** Waits `ms`, showing a countdown bar. */
export async function countdown(out: Output, label: string, ms: number): Promise<void> {
  const steps = Math.max(1, Math.round(ms / 100));
  const bar = new ProgressBar(out, label, steps);
  for (let i = 0; i < steps; i++) {
    await new Promise((resolve) => setTimeout(resolve, ms / steps));
    bar.tick(`${((ms * (steps - i - 1)) / steps / 1000).toFixed(1)} s left`);
  }
  bar.finish('waited');
}
