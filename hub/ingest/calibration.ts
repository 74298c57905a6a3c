// Calibration offsets per device and metric, added at ingest to what a sensor reports (in the
// metric's canonical unit: °C, dB, ppm…), the value as reported kept beside the calibrated one.
// Offsets come from the configuration file (devices[].calibration, taken on again at a reload) and
// from operators (PUT /api/v1/devices/{id}/calibration/{metric}, `floorwatch devices calibrate`),
// kept in data_dir/calibration.json with who set them and when. The file's offset for a metric is
// the one that holds: an operator may not set one over it.
import { join } from 'node:path';
import { MAX_CALIBRATION_OFFSET as MAX_OFFSET } from '../domain/reading.ts';
import { RecordFile } from '../security/record-file.ts';

export interface OperatorOffset {
  offset: number;
  by: string;
  at: number;
}

export interface OffsetView {
  offset: number;
  /** configuration: devices[].calibration in the file; operator: set through the API or the command line. */
  source: 'configuration' | 'operator';
  by?: string;
  at?: number;
}

/** Offsets from the configuration file: device → metric → offset. */
export type FileOffsets = ReadonlyMap<string, ReadonlyMap<string, number>>;

/** Operator offsets kept in all, so the file and memory stay bounded. */
const MAX_OPERATOR_OFFSETS = 100_000;

export class CalibrationError extends Error {
  override name = 'CalibrationError';
  constructor(
    readonly status: 400 | 409,
    message: string,
  ) {
    super(message);
  }
}

export class Calibration {
  private file: FileOffsets;
  private readonly operator = new Map<string, Map<string, OperatorOffset>>();
  private operatorCount = 0;
  private readonly records: RecordFile<Record<string, OperatorOffset>>;

  /** Devices whose record in calibration.json is not an object of offsets: left out, for the hub to tell. */
  readonly unreadable: string[] = [];

  constructor(dataDir: string, file: FileOffsets) {
    this.file = file;
    this.records = new RecordFile(join(dataDir, 'calibration.json'));
    // Read as what it may be, hand-edited or damaged: one device's record must not keep the hub from starting.
    for (const [device, metrics] of this.records.all() as Map<string, unknown>) {
      const kept = new Map<string, OperatorOffset>();
      if (typeof metrics !== 'object' || metrics === null || Array.isArray(metrics)) {
        this.unreadable.push(device);
        continue;
      }
      for (const [metric, o] of Object.entries(metrics)) {
        const offset = (o as Partial<OperatorOffset> | null)?.offset;
        if (typeof offset === 'number' && Number.isFinite(offset)) kept.set(metric, o as OperatorOffset);
        else if (!this.unreadable.includes(device)) this.unreadable.push(device);
      }
      this.operator.set(device, kept);
      this.operatorCount += kept.size;
    }
  }

  /** The configuration file's offsets, at start and at each reload. */
  declare(file: FileOffsets): void {
    this.file = file;
  }

  /** The offset to add to a reading of `metric` from `device`; undefined when it has none. Runs per reading. */
  offset(device: string, metric: string): number | undefined {
    return this.file.get(device)?.get(metric) ?? this.operator.get(device)?.get(metric)?.offset;
  }

  /** Every offset a device has, metric by metric. */
  of(device: string): Record<string, OffsetView> {
    const out: Record<string, OffsetView> = {};
    const set = (metric: string, view: OffsetView) =>
      Object.defineProperty(out, metric, { value: view, enumerable: true });
    for (const [metric, o] of this.operator.get(device) ?? []) set(metric, { ...o, source: 'operator' });
    for (const [metric, offset] of this.file.get(device) ?? []) set(metric, { offset, source: 'configuration' });
    return out;
  }

  /**
   * Sets an operator's offset (0 removes it) and saves it. Throws a CalibrationError for an
   * offset out of bounds, one the file sets, or one more than the bound on kept offsets.
   */
  set(device: string, metric: string, offset: number, by: string, at: number): OffsetView | undefined {
    if (!Number.isFinite(offset) || Math.abs(offset) > MAX_OFFSET)
      throw new CalibrationError(400, `offset must be a number from -${MAX_OFFSET} to ${MAX_OFFSET}`);
    const fromFile = this.file.get(device)?.get(metric);
    if (fromFile !== undefined)
      throw new CalibrationError(
        409,
        `the configuration file calibrates ${metric} of ${device} (offset ${fromFile}): change it there and reload`,
      );
    const metrics = this.operator.get(device) ?? new Map<string, OperatorOffset>();
    const had = metrics.has(metric);
    if (offset !== 0 && !had && this.operatorCount >= MAX_OPERATOR_OFFSETS)
      throw new CalibrationError(
        409,
        `${MAX_OPERATOR_OFFSETS} calibration offsets are kept, the most allowed: remove ones no longer needed (offset 0)`,
      );
    const next = new Map(metrics);
    if (offset === 0) next.delete(metric);
    else next.set(metric, { offset, by, at });
    this.records.update((records) => {
      if (next.size === 0) records.delete(device);
      else records.set(device, Object.fromEntries(next));
    });
    if (next.size === 0) this.operator.delete(device);
    else this.operator.set(device, next);
    this.operatorCount += next.size - metrics.size;
    return offset === 0 ? undefined : { offset, by, at, source: 'operator' };
  }
}
