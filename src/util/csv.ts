/**
 * Writing RFC 4180 CSV: a field holding a comma, a double quote, CR or LF is enclosed in double
 * quotes, with its double quotes doubled; other fields are written as they are. Lines end with LF
 * (readers such as csv-parse accept LF and CRLF alike).
 */
export function csvField(value: string): string {
  return /[",\r\n]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}

/** One CSV line (without its line break). */
export function csvLine(fields: readonly string[]): string {
  return fields.map(csvField).join(',');
}
