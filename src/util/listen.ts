import type { AddressInfo, Server } from 'node:net';

/** Binds a net or http server; resolves with the bound address, rejects on EADDRINUSE and the like. */
export function listenOn(server: Server, host: string, port: number): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => reject(err);
    server.once('error', onError);
    server.listen({ host, port }, () => {
      server.off('error', onError);
      resolve(server.address() as AddressInfo);
    });
  });
}
