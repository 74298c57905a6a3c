// "Did you mean …?" for a misspelt field or variable: the names the schema allows where the typo
// sits, and the closest of them, so a facilities engineer sees the fix rather than a list.
import type { z } from 'zod';

/** The field names the schema allows at this path ([] where it allows any, or the path leads nowhere). */
export function fieldsAt(schema: z.core.$ZodType, path: readonly PropertyKey[]): string[] {
  let node: z.core.$ZodType | undefined = schema;
  let rest = [...path];
  while (node) {
    const def = node._zod.def as z.core.$ZodTypeDef & Record<string, unknown>;
    const step = rest[0];
    switch (def.type) {
      case 'object': {
        const shape = def.shape as Record<string, z.core.$ZodType>;
        if (step === undefined) return Object.keys(shape);
        node = typeof step === 'string' && Object.hasOwn(shape, step) ? shape[step] : undefined;
        rest = rest.slice(1);
        break;
      }
      case 'array':
        if (step === undefined) return [];
        node = def.element as z.core.$ZodType;
        rest = rest.slice(1);
        break;
      case 'record': {
        // A record keyed by an enum (rule overrides by requirement) allows the enum's names.
        const keys = (def.keyType as z.core.$ZodType)._zod.def as z.core.$ZodTypeDef & { entries?: object };
        if (step === undefined) return keys.type === 'enum' && keys.entries ? Object.keys(keys.entries) : [];
        node = def.valueType as z.core.$ZodType;
        rest = rest.slice(1);
        break;
      }
      case 'pipe':
        node = def.in as z.core.$ZodType;
        break;
      case 'optional':
      case 'nullable':
      case 'default':
      case 'prefault':
      case 'readonly':
      case 'catch':
        node = def.innerType as z.core.$ZodType;
        break;
      default:
        return [];
    }
  }
  return [];
}

/** Edits (insert, delete, substitute) between two words. */
function distance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      row.push(Math.min((previous[j] ?? 0) + 1, (row[j - 1] ?? 0) + 1, (previous[j - 1] ?? 0) + cost));
    }
    previous = row;
  }
  return previous[b.length] ?? 0;
}

/** The candidate closest to the word, if it is close enough to be a typo of it (a third of its letters). */
export function nearest(word: string, candidates: readonly string[]): string | undefined {
  const lower = word.toLowerCase();
  let best: { name: string; d: number } | undefined;
  for (const name of candidates) {
    const d = distance(lower, name.toLowerCase());
    if (d < (best?.d ?? Infinity)) best = { name, d };
  }
  return best && best.d <= Math.max(2, Math.floor(word.length / 3)) ? best.name : undefined;
}
