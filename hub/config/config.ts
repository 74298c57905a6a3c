// The hub's configuration: an optional floorwatch.yaml plus FLOORWATCH_* variables, checked at
// start. An error names the field, the value found and what is allowed, so a facilities engineer
// can fix the file without reading code. The rest of the hub reads its configuration from here;
// the fields are declared section by section (schema.ts lists the sections).
export { ms } from './duration.ts';
export { ConfigError, describeIssue } from './errors.ts';
export { loadConfig, type LoadOptions } from './load.ts';
export type { Config } from './schema.ts';
export type { SerialPortConfig } from './site.ts';
