/** How admin prints results: aligned tables for people, JSON for scripts. */
import Table from 'cli-table3';

export interface Output {
  json: boolean;
  write(text: string): void;
}

/** Prints rows as a table (or the raw value as JSON when --json is set). */
export function printTable(
  output: Output,
  value: unknown,
  head: string[],
  rows: (string | number)[][],
): void {
  if (output.json) {
    output.write(`${JSON.stringify(value, null, 2)}\n`);
    return;
  }
  const table = new Table({
    head,
    style: { head: [], border: [], compact: true },
    chars: {
      top: '',
      'top-mid': '',
      'top-left': '',
      'top-right': '',
      bottom: '',
      'bottom-mid': '',
      'bottom-left': '',
      'bottom-right': '',
      left: '',
      'left-mid': '',
      mid: '',
      'mid-mid': '',
      right: '',
      'right-mid': '',
      middle: '  ',
    },
  });
  table.push(...rows.map((row) => row.map(String)));
  output.write(`${table.toString()}\n`);
}

/** Prints a one-line message (or a JSON object). */
export function printMessage(output: Output, value: unknown, message: string): void {
  output.write(output.json ? `${JSON.stringify(value, null, 2)}\n` : `${message}\n`);
}

/** Bytes in a short human form (binary units). */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(unit === 0 ? 0 : 1)} ${units[unit]}`;
}
