// Names as they come from outside, for property tests of what is written into a database: the
// keys every object answers to, delimiters, quotes, InfluxQL's own syntax, and printable unicode.
import fc from 'fast-check';

/** Any such name, without the control characters and backslashes line protocol cannot carry. */
export const hostileName: fc.Arbitrary<string> = fc
  .array(
    fc.oneof(
      fc.constantFrom(
        '__proto__',
        'constructor',
        'toString',
        ' ',
        ',',
        '=',
        '"',
        "'",
        '$device',
        '/.*/',
        ';',
        'é',
        'Lärm',
        '噪音',
        '😀',
        'e\u0301',
        '#',
      ),
      fc.string({ unit: 'grapheme', minLength: 1, maxLength: 6 }),
    ),
    { minLength: 1, maxLength: 6 },
  )
  .map((parts) => parts.join(''))
  .filter((s) => !/[\u0000-\u001f\u007f\\]/.test(s));
