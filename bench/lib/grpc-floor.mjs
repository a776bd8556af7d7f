// The floor for gRPC round trips: a bare @grpc/grpc-js server in its own process whose one
// unary method answers at once with `bytes` fixed bytes (about a HealthCheckResponse) and that
// has nothing else to do, measured beside proxy-rtmp under the same machine load. Prints its
// port on stdout. Usage: node grpc-floor.mjs <full.Service/Method path> <bytes>
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { Server, ServerCredentials } = require('@grpc/grpc-js');
const [method, bytes] = process.argv.slice(2);
const answer = Buffer.alloc(Number(bytes), 0x2a);
const identity = (b) => b;
const server = new Server();
const definition = { path: method, requestStream: false, responseStream: false, requestSerialize: identity, requestDeserialize: identity, responseSerialize: identity, responseDeserialize: identity };
server.addService({ answer: definition }, { answer: (_call, callback) => callback(null, answer) });
server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, port) => {
  if (err) throw err;
  process.stdout.write(`${port}\n`);
});
process.on('SIGTERM', () => server.tryShutdown(() => process.exit(0)));
