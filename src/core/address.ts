/** host:port as every flag, plan and target writes it: a name or IPv4, or [IPv6], then the port digits. */
const HOST_PORT = /^([A-Za-z0-9.-]+|\[[0-9a-fA-F:]+\]):(\d{1,5})$/;

/** Host and port of a host:port text, or undefined when it is not one (the port's range is the caller's to check). */
export function splitHostPort(v: string): { host: string; port: number } | undefined {
  const m = HOST_PORT.exec(v);
  return m ? { host: m[1]!, port: Number(m[2]) } : undefined;
}
