// A count as people read it in a log line, an alert or a report: "1 device", "20 devices".

/** `n` and the noun for it: `counted(1, 'device')` is "1 device"; irregular plurals are given. */
export function counted(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}
