/**
 * A progress bar on stderr: redrawn in place on a terminal, and a line every 10% elsewhere
 * (logs and CI), so long runs always show where they are.
 */
export interface Progress {
  update(done: number, failed: number): void;
  finish(): void;
}

export function progressBar(
  label: string,
  total: number,
  stream: NodeJS.WriteStream = process.stderr,
): Progress {
  const start = performance.now();
  const tty = stream.isTTY === true;
  let lastDecile = -1;
  let lastDraw = 0;
  const line = (done: number, failed: number) => {
    const width = 30;
    const filled = total > 0 ? Math.round((done / total) * width) : width;
    const secs = (performance.now() - start) / 1000;
    return `${label} [${"#".repeat(filled)}${"-".repeat(width - filled)}] ${done}/${total}${failed ? ` (${failed} failed)` : ""} ${secs.toFixed(1)}s`;
  };
  return {
    update(done, failed) {
      if (tty) {
        const now = performance.now();
        if (now - lastDraw < 100 && done < total) return;
        lastDraw = now;
        stream.write(`\r${line(done, failed)}`);
        return;
      }
      const decile = total > 0 ? Math.floor((done * 10) / total) : 10;
      if (decile > lastDecile) {
        lastDecile = decile;
        stream.write(`${line(done, failed)}\n`);
      }
    },
    finish() {
      if (tty) stream.write("\n");
    },
  };
}
