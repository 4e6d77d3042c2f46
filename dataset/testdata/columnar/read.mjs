// Reads a Parquet file (with hyparquet) or an Arrow IPC file (with
// apache-arrow) that aegpu's writer wrote, and prints it as JSON:
// {"names": [...], "groups": row groups or record batches, "codec": the
// Parquet codec of the first column, "columns": {name: [values]}}, a
// fixed-size list's values as arrays. Run by dataset/columnar's writer
// tests: node read.mjs FILE
import { readFileSync } from 'node:fs';
import { tableFromIPC } from 'apache-arrow';
import { parquetMetadata, parquetReadObjects } from 'hyparquet';

const path = process.argv[2];
const bytes = readFileSync(path);
const buf = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
let out;
if (path.endsWith('.parquet')) {
  const meta = parquetMetadata(buf);
  const rows = await parquetReadObjects({ file: buf });
  const top = rows.length ? Object.keys(rows[0]) : [];
  const columns = {};
  for (const n of top) columns[n] = rows.map((r) => (ArrayBuffer.isView(r[n]) ? Array.from(r[n]) : r[n]));
  out = { names: top, groups: meta.row_groups.length,
    codec: meta.row_groups[0]?.columns[0]?.meta_data?.codec ?? '', columns };
} else {
  const table = tableFromIPC(bytes);
  const names = table.schema.fields.map((f) => f.name);
  const columns = {};
  for (const n of names) {
    const col = table.getChild(n);
    const vals = [];
    for (let i = 0; i < col.length; i++) {
      const v = col.get(i);
      vals.push(v !== null && typeof v === 'object' ? Array.from(v) : v);
    }
    columns[n] = vals;
  }
  out = { names, types: table.schema.fields.map((f) => String(f.type)), groups: table.batches.length, codec: '', columns };
}
process.stdout.write(JSON.stringify(out));
