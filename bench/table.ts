export type Align = 'left' | 'right';

/**
 * A Markdown table padded the way Prettier pads one, so `prettier --write BENCHMARKS.md` leaves
 * the generated file unchanged and the console shows the same aligned text.
 */
export function markdownTable(
  headers: readonly string[],
  aligns: readonly Align[],
  rows: readonly (readonly string[])[],
): string {
  const widths = headers.map((header, c) =>
    Math.max(3, header.length, ...rows.map((row) => row[c].length)),
  );
  const line = (cells: readonly string[]) =>
    `| ${cells.map((cell, c) => pad(cell, widths[c], aligns[c])).join(' | ')} |`;
  const rule = widths.map((w, c) =>
    aligns[c] === 'right' ? `${'-'.repeat(w - 1)}:` : '-'.repeat(w),
  );
  return [line(headers), `| ${rule.join(' | ')} |`, ...rows.map(line)].join('\n');
}

function pad(text: string, width: number, align: Align): string {
  return align === 'right' ? text.padStart(width) : text.padEnd(width);
}

/** Nanoseconds with thousands separators: `1,234`. */
export function ns(value: number): string {
  return Math.round(value).toLocaleString('en-US');
}

export function ratio(value: number, base: number | undefined): string {
  if (base === undefined || base <= 0) return '';
  return `${(value / base).toFixed(2)}x`;
}

export function bytes(value: number): string {
  return Math.round(value).toLocaleString('en-US');
}

export function megabytes(value: number): string {
  return (value / 1024 / 1024).toFixed(1);
}
