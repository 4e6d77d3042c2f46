// Runs ONNX models with ONNX Runtime (the onnxruntime-node package) for
// autoencoder's ONNX tests (onnx_runtime_test.go).
//
//   node onnx_run.js RUNS.json
//   node onnx_run.js --probe      (prints the runtime's version)
//
// RUNS.json is [{"model": path, "feeds": {name: {"dims": [...], "data": [...]}}}, …];
// it prints [{name: {"dims": [...], "data": [...]}, …}, …], every output
// of every run, as JSON. The package is found through the environment
// variable AEGPU_ONNXRUNTIME_NODE (a directory where
// `npm install onnxruntime-node` ran), else node's own module search.
'use strict';
const fs = require('fs');
const path = require('path');

function loadOrt() {
  const dir = process.env.AEGPU_ONNXRUNTIME_NODE;
  if (dir) {
    return require(require.resolve('onnxruntime-node', { paths: [path.resolve(dir)] }));
  }
  return require('onnxruntime-node');
}

async function main() {
  const ort = loadOrt();
  if (process.argv[2] === '--probe') {
    process.stdout.write(ort.env.versions.common + '\n');
    return;
  }
  const runs = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
  const results = [];
  for (const run of runs) {
    const session = await ort.InferenceSession.create(run.model, { intraOpNumThreads: 1, interOpNumThreads: 1 });
    const feeds = {};
    for (const [name, t] of Object.entries(run.feeds)) {
      feeds[name] = new ort.Tensor('float32', Float32Array.from(t.data), t.dims);
    }
    const out = await session.run(feeds);
    const res = {};
    for (const name of session.outputNames) {
      res[name] = { dims: out[name].dims.map(Number), data: Array.from(out[name].data) };
    }
    results.push(res);
    await session.release();
  }
  process.stdout.write(JSON.stringify({ version: ort.env.versions.common, results }));
}

main().catch((e) => {
  process.stderr.write(String(e && e.stack || e) + '\n');
  process.exit(1);
});
