// Where a connection comes from, as the unit the hub limits: an IPv4 address, or an IPv6 /64,
// since one IPv6 host is commonly handed a whole /64 and could otherwise change address at will.
import { isIP } from 'node:net';

export function sourceOf(address: string): string {
  const mapped = address.startsWith('::ffff:') ? address.slice('::ffff:'.length) : address;
  if (isIP(mapped) === 4) return mapped;
  const plain = mapped.split('%')[0] ?? mapped;
  if (isIP(plain) !== 6) return address;
  const [head = '', tail = ''] = plain.split('::');
  const groups = (part: string) => (part === '' ? [] : part.split(':'));
  // A dotted IPv4 tail ("::ffff:10.0.0.1" and the like) stands for two groups.
  const width = (list: string[]) => list.reduce((n, g) => n + (g.includes('.') ? 2 : 1), 0);
  const before = groups(head);
  const after = groups(tail);
  const all = [...before, ...Array<string>(8 - width(before) - width(after)).fill('0'), ...after];
  return `${all
    .slice(0, 4)
    .map((g) => Number.parseInt(g, 16).toString(16))
    .join(':')}::/64`;
}
