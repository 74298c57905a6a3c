// Which web pages may use the hub from a browser. A browser names the page's origin in the Origin
// header of every WebSocket and of every cross-origin request; a page may use the hub when it is
// one of the hub's own (the scheme, host and port the request was sent to) or is listed under
// http.allowed_origins. A request without an Origin header does not come from a web page
// (mosquitto, mqtt.js, curl, Prometheus, the hub's own page reading its live feed) and passes.

/** An origin as browsers send it (`scheme://host[:port]`, default port left out); undefined when the text is not one. */
export function originOf(text: string): string | undefined {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return undefined;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return undefined;
  if (url.username !== '' || url.password !== '' || url.search !== '' || url.hash !== '' || url.pathname !== '/')
    return undefined;
  return url.origin;
}

export interface OriginCheck {
  /** The Origin header, when the request has one. */
  origin: string | undefined;
  /** The origin the request was sent to: the hub's scheme and the Host header. */
  own: string | undefined;
  /** http.allowed_origins, as originOf() gives them. */
  allowed: ReadonlySet<string>;
}

/** True when the request comes from a page that may use the hub, or from no page at all. */
export function originAllowed({ origin, own, allowed }: OriginCheck): boolean {
  if (origin === undefined) return true;
  const page = originOf(origin);
  // "null" (a sandboxed frame, a file) and anything unparsable is no origin anyone can allow.
  if (page === undefined) return false;
  return page === (own === undefined ? undefined : originOf(own)) || allowed.has(page);
}
