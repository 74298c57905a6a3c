// Why a message or a value was refused. The reason codes label the /metrics counter; the
// detail is the sentence an operator reads.

import { clip } from '../domain/clip.ts';

export const REJECTION_REASONS = [
  'payload_too_large',
  'invalid_json',
  'invalid_payload',
  'invalid_senml',
  'invalid_id',
  'invalid_metric',
  'invalid_value',
  'out_of_range',
  'invalid_unit',
  'invalid_timestamp',
  'too_many_metrics',
  'too_many_components',
  'undeclared_device',
  'device_mismatch',
  'too_many_devices',
] as const;

export type RejectionReason = (typeof REJECTION_REASONS)[number];

/**
 * The longest detail: one quotes what was sent (a unit, a name, a value), which may be tens of
 * kilobytes, and a message of many values may be refused once for each.
 */
export const DETAIL_CHARS = 300;

/** Thrown by parsers and validation; carries the reason code and a readable detail. */
export class Rejection extends Error {
  readonly detail: string;

  constructor(
    readonly reason: RejectionReason,
    detail: string,
  ) {
    const cut = clip(detail, DETAIL_CHARS);
    super(cut);
    this.detail = cut;
    this.name = 'Rejection';
  }
}
