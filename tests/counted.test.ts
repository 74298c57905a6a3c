import { describe, expect, it } from 'vitest';
import { counted } from '../hub/domain/counted.ts';

describe('counted', () => {
  it('says one thing in the singular and any other count in the plural', () => {
    expect(counted(1, 'device')).toBe('1 device');
    expect(counted(0, 'device')).toBe('0 devices');
    expect(counted(20, 'device')).toBe('20 devices');
  });

  it('takes an irregular plural', () => {
    expect(counted(1, 'entry', 'entries')).toBe('1 entry');
    expect(counted(2, 'entry', 'entries')).toBe('2 entries');
  });
});
