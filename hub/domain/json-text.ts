// JSON text from outside the hub's own process (Redis, another hub): read without throwing, since
// a parse error thrown in an event handler escapes to the process, and one in a loop repeats.

/** The object the text holds; undefined when it is not JSON or not an object. */
export function jsonObject(text: string): Record<string, unknown> | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;
}
