/**
 * Progress of long model work on stderr: one line rewritten in place on a terminal, and a line
 * per tenth of the work otherwise (logs and CI keep a short record instead of thousands).
 */
export function progressReporter(label: string, stream: NodeJS.WriteStream = process.stderr) {
  let lastTenth = -1;
  return {
    update(done: number, total: number, detail = ""): void {
      const pct = total > 0 ? Math.floor((done / total) * 100) : 100;
      if (stream.isTTY) {
        stream.write(`\r${label} ${String(pct).padStart(3)}% ${detail}`.padEnd(80).slice(0, 100));
        return;
      }
      const tenth = Math.floor(pct / 10);
      if (tenth !== lastTenth) {
        lastTenth = tenth;
        stream.write(`${label} ${pct}% ${detail}\n`);
      }
    },
    done(): void {
      if (stream.isTTY) stream.write("\n");
    },
  };
}
