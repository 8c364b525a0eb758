'use strict';
// The suites, one `node --test` process each, one after the other (they
// share one server; the failover suites restart and fail it over), those last.
const { spawnSync } = require('child_process');
const path = require('path');

const suites = ['messages', 'worker', 'reply', 'stream', 'producer', 'failover', 'standby'];
let failed = 0;
for (const s of suites) {
  const r = spawnSync(process.execPath, ['--test', path.join(__dirname, `${s}.test.js`)], { stdio: 'inherit' });
  if (r.status !== 0) {
    failed++;
    console.log(`# suite ${s} failed`);
  }
}
process.exit(failed ? 1 : 0);
