/**
 * `HOST:PORT` as operators write it for islb's listeners (HTTP, the gateway): `127.0.0.1:9464`,
 * `[::1]:9464`, `0.0.0.0:9464`, or a bare port or `:PORT` (both on loopback).
 */
import { isIP } from "node:net";

export interface ListenAddress {
  host: string;
  port: number;
}

/** Parses a listen address; throws with what is wrong. */
export function parseListen(text: string): ListenAddress {
  const s = text.trim();
  let host = "127.0.0.1";
  let port: string;
  const v6 = /^\[([0-9a-fA-F:.]+)\]:(\d+)$/.exec(s);
  if (v6 !== null) {
    host = v6[1] as string;
    port = v6[2] as string;
  } else if (/^:?\d+$/.test(s)) {
    port = s.replace(/^:/, "");
  } else {
    const i = s.lastIndexOf(":");
    if (i <= 0 || s.indexOf(":") !== i)
      throw new Error(`listen address ${JSON.stringify(text)} is not HOST:PORT (e.g. 127.0.0.1:9464, [::1]:9464)`);
    host = s.slice(0, i);
    port = s.slice(i + 1);
  }
  const n = Number(port);
  if (!/^\d+$/.test(port) || n > 65535)
    throw new Error(`listen address ${JSON.stringify(text)}: port must be 0..65535`);
  return { host, port: n };
}

/** The address as a URL host part. */
export function formatHost(a: ListenAddress): string {
  return a.host.includes(":") ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}

/** True for addresses only this machine can reach. */
export function isLoopback(host: string): boolean {
  if (host === "localhost") return true;
  if (isIP(host) === 4) return host.startsWith("127.");
  return host === "::1";
}
