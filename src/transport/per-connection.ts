/** One object per NATS connection, made on first use and dropped with the connection. */
import type { NatsConnection } from "nats";

/** A getter of the connection's own `T`, made by `make` the first time it is asked for. */
export function perConnection<T extends object>(make: (nc: NatsConnection) => T): (nc: NatsConnection) => T {
  const made = new WeakMap<NatsConnection, T>();
  return (nc) => {
    let x = made.get(nc);
    if (x === undefined) {
      x = make(nc);
      made.set(nc, x);
    }
    return x;
  };
}
