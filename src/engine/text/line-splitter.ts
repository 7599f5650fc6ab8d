/**
 * Cuts a stream of UTF-8 bytes into lines (a line ends at "\n"; a "\r" before it is dropped),
 * whatever the chunking: a line or a character split across chunks is joined first. The
 * server-sent-event readers of the llama-server and remote backends read their lines from it.
 */
export class LineSplitter {
  private buffer = "";
  private readonly decoder = new TextDecoder("utf-8");

  /** Feeds bytes; returns the lines they complete. */
  push(chunk: Uint8Array): string[] {
    this.buffer += this.decoder.decode(chunk, { stream: true });
    const lines: string[] = [];
    let at: number;
    while ((at = this.buffer.indexOf("\n")) !== -1) {
      lines.push(this.buffer.slice(0, at).replace(/\r$/, ""));
      this.buffer = this.buffer.slice(at + 1);
    }
    return lines;
  }

  /** The text after the last line end, not a line yet. */
  get rest(): string {
    return this.buffer;
  }
}
