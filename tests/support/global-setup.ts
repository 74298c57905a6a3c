// One InfluxDB for the whole run: test files share it, each in a database of its own.

// Brings 'vitest' into this file's resolution so the augmentation below can find it.
import type {} from 'vitest';
import type { TestProject } from 'vitest/node';
import { startInfluxd } from './influxd.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    /** http://127.0.0.1:PORT of the shared influxd; append `/<database>` for a store URL. */
    influxUrl: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const influx = await startInfluxd();
  project.provide('influxUrl', influx.url);
  return async () => {
    await influx.dispose();
  };
}
