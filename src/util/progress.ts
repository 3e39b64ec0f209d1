/**
 * Progress display for long work (architecture.md §4.5): on a TTY a single redrawn bar
 * with rate and ETA; otherwise (logs, CI, pipes) plain lines at most every `intervalMs`, so a
 * captured log stays short.
 */

export interface ProgressOptions {
  /** What is being counted, shown before the bar ("epoch 3/20"). */
  label: string;
  /** Units in all; 0 or unknown shows counts without a bar. */
  total: number;
  /** Unit name for the rate ("steps", "outfits"). */
  unit?: string;
  /** Where to draw (default process.stderr). */
  stream?: NodeJS.WriteStream | NodeJS.WritableStream;
  /** Plain mode: minimum time between lines (default 10 s). */
  intervalMs?: number;
  /** Force TTY or plain mode (default: the stream's isTTY). */
  tty?: boolean;
  /** Suppress all output. */
  silent?: boolean;
  /** Clock, for tests. */
  now?: () => number;
}

export class Progress {
  private done = 0;
  private readonly start: number;
  private lastDraw = -Infinity;
  private readonly stream: NodeJS.WritableStream;
  private readonly tty: boolean;
  private readonly now: () => number;
  private finished = false;
  /** The count at the last drawn line, so `finish` does not repeat an identical final line. */
  private drawnAt = -1;

  constructor(private readonly opts: ProgressOptions) {
    this.stream = opts.stream ?? process.stderr;
    this.tty = opts.tty ?? Boolean((this.stream as NodeJS.WriteStream).isTTY);
    this.now = opts.now ?? (() => performance.now());
    this.start = this.now();
  }

  /** Advances by `n` units; `detail` (e.g. the running loss) is shown after the rate. */
  tick(n = 1, detail = ''): void {
    this.done += n;
    const t = this.now();
    const interval = this.tty ? 100 : (this.opts.intervalMs ?? 10_000);
    if (t - this.lastDraw >= interval || this.done >= this.opts.total) {
      this.lastDraw = t;
      this.draw(detail);
    }
  }

  /** Ends the display with a final line (`summary` replaces the bar on a TTY). */
  finish(summary?: string): void {
    if (this.finished || this.opts.silent) return;
    this.finished = true;
    if (summary === undefined && !this.tty && this.drawnAt === this.done) return;
    const line = summary ?? this.line('');
    this.stream.write(this.tty ? `\r\x1b[2K${line}\n` : `${line}\n`);
  }

  /** The text of the current state (shared by both modes). */
  line(detail: string): string {
    const elapsed = (this.now() - this.start) / 1000;
    const rate = elapsed > 0 ? this.done / elapsed : 0;
    const unit = this.opts.unit ?? 'it';
    const total = this.opts.total;
    let text = `${this.opts.label} `;
    if (total > 0) {
      const frac = Math.min(1, this.done / total);
      if (this.tty) {
        const width = 24;
        const filled = Math.round(frac * width);
        text += `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] `;
      }
      text += `${this.done}/${total} ${unit}`;
      const eta = rate > 0 ? (total - this.done) / rate : NaN;
      text += ` ${rate.toFixed(rate < 10 ? 2 : 0)} ${unit}/s ETA ${formatSeconds(eta)}`;
    } else {
      text += `${this.done} ${unit} ${rate.toFixed(2)} ${unit}/s`;
    }
    return detail ? `${text} ${detail}` : text;
  }

  private draw(detail: string): void {
    if (this.opts.silent) return;
    const line = this.line(detail);
    this.drawnAt = this.done;
    this.stream.write(this.tty ? `\r\x1b[2K${line}` : `${line}\n`);
  }
}

export function formatSeconds(s: number): string {
  if (!Number.isFinite(s)) return '?';
  const total = Math.max(0, Math.round(s));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const sec = total % 60;
  return h > 0 ? `${h}h${String(m).padStart(2, '0')}m` : m > 0 ? `${m}m${String(sec).padStart(2, '0')}s` : `${sec}s`;
}
