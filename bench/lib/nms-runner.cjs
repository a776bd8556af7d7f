// Runs Node-Media-Server (installed into bench/.peers, never a project dependency)
// with RTMP only: no HTTP, no RTMPS, no recording. Usage: node nms-runner.cjs <nms dir> <port> <store dir>
'use strict';
const [dir, port, store] = process.argv.slice(2);
const NodeMediaServer = require(dir);
const nms = new NodeMediaServer({ bind: '127.0.0.1', rtmp: { port: Number(port) }, store: { path: store } }, `${store}/config.json`);
nms.run();
const stop = () => nms.stop().finally(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
