// A real S3-compatible server for the tests: @20minutes/s3rver (the maintained fork of s3rver that
// verifies AWS Signature Version 4; s3rver 3.7.1 on npm accepts any V4 signature from a known key id).
// s3rver ships one hard-coded key pair (S3RVER/S3RVER); this launcher replaces it with the key pair
// from the environment so the tests prove that a wrong secret is refused.
//   node s3server.js  with  S3_DIR, S3_PORT (0 = any), S3_ACCESS_KEY, S3_SECRET_KEY, S3_BUCKETS (a,b)
// Prints "port N" on stdout once it is listening.
'use strict';
const path = require('path');
const modules = process.env.S3_MODULES || path.join(__dirname, 'node_modules');
const S3rver = require(path.join(modules, '@20minutes/s3rver'));
const AWSAccount = require(path.join(modules, '@20minutes/s3rver/lib/models/account'));

const key = process.env.S3_ACCESS_KEY, secret = process.env.S3_SECRET_KEY;
if (!key || !secret || !process.env.S3_DIR) {
	console.error('s3server: S3_DIR, S3_ACCESS_KEY and S3_SECRET_KEY are required');
	process.exit(2);
}
AWSAccount.DUMMY_ACCOUNT.revokeAccessKey('S3RVER');
AWSAccount.DUMMY_ACCOUNT.createKeyPair(key, secret);

const server = new S3rver({
	address: '127.0.0.1',
	port: Number(process.env.S3_PORT || 0),
	directory: process.env.S3_DIR,
	silent: !process.env.S3_VERBOSE,
	vhostBuckets: false,
	configureBuckets: (process.env.S3_BUCKETS || '').split(',').filter(Boolean).map((name) => ({ name })),
});
server.run().then((addr) => {
	process.stdout.write(`port ${addr.port}\n`);
}, (err) => {
	console.error('s3server:', err.message);
	process.exit(1);
});
for (const sig of ['SIGTERM', 'SIGINT'])
	process.on(sig, () => server.close().finally(() => process.exit(0)));
