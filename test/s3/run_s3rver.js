// SPDX-License-Identifier: Apache-2.0
// Start s3rver (the test S3 server, pinned in package-lock.json) on
// ADDRESS:PORT (0 = a free port) with DIR as its data directory, and write
// the bound port to PORT_FILE once it listens.  Run it with
// `node --openssl-legacy-provider`: s3rver encrypts ListObjectsV2
// continuation tokens with DES, which OpenSSL 3 keeps in its legacy
// provider; without it every listing longer than one page fails.
//
// usage: node --openssl-legacy-provider run_s3rver.js DIR ADDRESS PORT PORT_FILE
'use strict';

const fs = require('fs');
const S3rver = require('s3rver');

const [dir, address, port, portFile] = process.argv.slice(2);
if (!portFile) {
  console.error('usage: run_s3rver.js DIR ADDRESS PORT PORT_FILE');
  process.exit(2);
}

new S3rver({
  directory: dir,
  address,
  port: Number(port),
  silent: true,
  vhostBuckets: false,
})
  .run()
  .then(({ port: bound }) => {
    fs.writeFileSync(portFile + '.tmp', `${bound}\n`);
    fs.renameSync(portFile + '.tmp', portFile);
  })
  .catch(err => {
    console.error(`run_s3rver: ${err.message}`);
    process.exit(1);
  });

process.on('SIGTERM', () => process.exit(0));
