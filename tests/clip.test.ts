// Text cut to fit: within the length asked, the cut marked, and no character split in two.
import { describe, expect, it } from 'vitest';
import { clip } from '../hub/domain/clip.ts';

describe('clip', () => {
  it('keeps short text, and cuts long text to the length asked with an ellipsis', () => {
    expect(clip('co2', 3)).toBe('co2');
    expect(clip('temperature', 5)).toBe('temp…');
    expect(clip('x'.repeat(40_000), 300)).toHaveLength(300);
  });

  it('never leaves half of a character made of two UTF-16 units', () => {
    const cut = clip('ab😀cd', 4);
    expect(cut).toBe('ab…');
    expect(clip('abc😀', 5)).toBe('abc😀');
  });
});
