// Writes the Parquet and Arrow IPC fixtures of dataset/ (see package.json)
// into the folder given (default: this one). The Go tests check the values;
// TestColumnarFixturesReproduce checks that this script still writes the
// committed files. Run from this folder: npm install && node gen.mjs
import { writeFileSync as write } from 'node:fs';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import * as A from 'apache-arrow';

const require = createRequire(import.meta.url);
const outDir = process.argv[2] ?? '.';
const writeFileSync = (name, data) => write(join(outDir, name), data);
const pw = require('parquet-wasm/node');

function parquet(name, table, { codec = pw.Compression.SNAPPY, rowGroup = 1 << 20 } = {}) {
  const props = new pw.WriterPropertiesBuilder()
    .setCompression(codec)
    .setMaxRowGroupSize(rowGroup)
    .build();
  const wasmTable = pw.Table.fromIPCStream(A.tableToIPC(table, 'stream'));
  writeFileSync(name, pw.writeParquet(wasmTable, props));
}

function arrowFile(name, table) {
  writeFileSync(name, A.tableToIPC(table, 'file'));
}

// npy writes a float32 C-order .npy file by hand (a third writer).
function npy(name, rows, cols, values) {
  let dict = `{'descr': '<f4', 'fortran_order': False, 'shape': (${rows}, ${cols}), }`;
  while ((10 + dict.length + 1) % 64 !== 0) dict += ' ';
  dict += '\n';
  const head = Buffer.alloc(10);
  Buffer.from('\x93NUMPY', 'latin1').copy(head);
  head[6] = 1; head[7] = 0; head.writeUInt16LE(dict.length, 8);
  writeFileSync(name, Buffer.concat([head, Buffer.from(dict, 'latin1'), Buffer.from(new Float32Array(values).buffer)]));
}

const vec = (values, type) => A.vectorFromArray(values, type);

// decimal128(9, 2) from integers in hundredths.
function decimals(hundredths) {
  const words = new Uint32Array(4 * hundredths.length);
  hundredths.forEach((v, i) => {
    const big = BigInt.asUintN(128, BigInt(v));
    for (let w = 0; w < 4; w++) words[4 * i + w] = Number((big >> BigInt(32 * w)) & 0xffffffffn);
  });
  const type = new A.Decimal(2, 9, 128);
  return A.makeVector(A.makeData({ type, length: hundredths.length, data: words }));
}

// types: one column of every physical type, 6 rows; see columnar_test.go.
function typesTable() {
  const emb = new A.FixedSizeList(3, new A.Field('item', new A.Float32(), true));
  return new A.Table({
    f32: vec([1.5, null, -2, 3, 4.25, 0], new A.Float32()),
    f64: vec([0.5, -1, 2, null, 1e10, 3], new A.Float64()),
    f16: vec([1, -2, 0.5, 0, 65504, -0.25], new A.Float16()),
    i8: vec([-128, 127, 0, 1, -1, 5], new A.Int8()),
    i16: vec([-32768, 32767, 0, 1, -1, 6], new A.Int16()),
    i32: vec([-2147483648, 2147483647, 0, 1, -1, 7], new A.Int32()),
    i64: vec([-(2n ** 40n), 2n ** 40n, 0n, 1n, -1n, 8n], new A.Int64()),
    u8: vec([0, 255, 1, 2, 3, 4], new A.Uint8()),
    u16: vec([0, 65535, 1, 2, 3, 4], new A.Uint16()),
    u32: vec([0, 4294967295, 1, 2, 3, 4], new A.Uint32()),
    u64: vec([0n, 2n ** 40n, 1n, 2n, 3n, 4n], new A.Uint64()),
    b: vec([true, false, true, null, false, true], new A.Bool()),
    dec: decimals([12345, -250, 0, 1, -1, 99999999]),
    name: vec(['a', 'b', 'c', 'd', 'e', 'f'], new A.Utf8()),
    id: vec(['r0', 'r1', 'r2', 'r3', 'r4', 'r5'], new A.Utf8()),
    emb: vec([[1, 2, 3], [4, 5, 6], null, [7, null, 9], [10, 11, 12], [13, 14, 15]], emb),
  });
}

// grid: 100 rows × 4 float32 columns, v = r*4 + c + 0.25, and int64 ids r*10.
const gridRows = 100, gridCols = 4;
function gridValues() {
  const out = [];
  for (let r = 0; r < gridRows; r++) for (let c = 0; c < gridCols; c++) out.push(r * gridCols + c + 0.25);
  return out;
}
function gridTable(r0, r1) {
  const cols = {};
  for (let c = 0; c < gridCols; c++) {
    const v = [];
    for (let r = r0; r < r1; r++) v.push(r * gridCols + c + 0.25);
    cols[`f_${c}`] = vec(v, new A.Float32());
  }
  const ids = [];
  for (let r = r0; r < r1; r++) ids.push(BigInt(r * 10));
  cols.id = vec(ids, new A.Int64());
  return new A.Table(cols);
}

const types = typesTable();
parquet('types.parquet', types);
arrowFile('types.arrow', types);
arrowFile('types.feather', types);

parquet('grid.parquet', gridTable(0, gridRows), { rowGroup: 16 });
const batches = [];
for (let r = 0; r < gridRows; r += 16) batches.push(...gridTable(r, Math.min(r + 16, gridRows)).batches);
arrowFile('grid.arrow', new A.Table(batches));
npy('grid.npy', gridRows, gridCols, gridValues());
for (const [codec, c] of [['none', pw.Compression.UNCOMPRESSED], ['snappy', pw.Compression.SNAPPY],
  ['gzip', pw.Compression.GZIP], ['zstd', pw.Compression.ZSTD]]) {
  parquet(`grid_${codec}.parquet`, gridTable(0, gridRows), { codec: c, rowGroup: 32 });
}

const nulls = new A.Table({
  x: vec([1, null, 3, NaN, 5], new A.Float64()),
  y: vec([null, 2, 3, 4, 5], new A.Int32()),
  id: vec(['a', 'b', 'c', 'd', 'e'], new A.Utf8()),
});
parquet('nulls.parquet', nulls);
arrowFile('nulls.arrow', nulls);

parquet('strings.parquet', new A.Table({ s: vec(['x', 'y'], new A.Utf8()), t: vec(['1', '2'], new A.Utf8()) }));
parquet('norows.parquet', new A.Table({ f: vec([], new A.Float32()) }));
