import { once } from 'node:events';
import { connect, createServer } from 'node:net';

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  await new Promise((r) => server.close(r));
  return port;
}

/** True when a TCP connection to 127.0.0.1:port is accepted. */
export function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** The environment that puts the RTMP, HTTP and gRPC listeners on 127.0.0.1 at these ports. */
export function listenersAt(ports: { rtmp: number; http: number; grpc: number }): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [prefix, port] of [['RTMP', ports.rtmp], ['RTMP_HTTP', ports.http], ['RTMP_GRPC', ports.grpc]] as const) {
    env[`${prefix}_HOST`] = '127.0.0.1';
    env[`${prefix}_PORT`] = String(port);
  }
  return env;
}
