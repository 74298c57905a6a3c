// Whether the hub may start as configured, as far as security goes: its TLS files can be read,
// and it would not listen on the network without credentials (exposure.ts). The hub asks at start;
// `floorwatch config check` asks the same before anyone applies a file.
import { readFileSync } from 'node:fs';
import type { DeviceCredentials } from './credentials.ts';
import { exposureRefusal, type ExposureInput } from './exposure.ts';
import type { ApiTokens } from './tokens.ts';

export interface TlsFiles {
  cert: Buffer;
  key: Buffer;
  ca?: Buffer;
}

export class SecurityRefusal extends Error {
  override name = 'SecurityRefusal';
}

function readPem(field: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new SecurityRefusal(`security.tls.${field} names ${path}, which cannot be read: ${(err as Error).message}`);
  }
}

/** What the verdict reads of the configuration (security.tls, bind, security.allow_anonymous). */
export interface ListenSettings {
  bind: string;
  security: { allow_anonymous: boolean; tls?: { cert: string; key: string; ca?: string | undefined } | undefined };
}

/** The TLS files and how exposed the hub would be; throws SecurityRefusal when it must not start. */
export function startVerdict(
  config: ListenSettings,
  credentials: Pick<DeviceCredentials, 'any'>,
  tokens: Pick<ApiTokens, 'standing'>,
): { tls: TlsFiles | undefined; exposure: ExposureInput } {
  const tlsConfig = config.security.tls;
  const tls = tlsConfig && {
    cert: readPem('cert', tlsConfig.cert),
    key: readPem('key', tlsConfig.key),
    ...(tlsConfig.ca !== undefined && { ca: readPem('ca', tlsConfig.ca) }),
  };
  const exposure: ExposureInput = {
    bind: config.bind,
    allowAnonymous: config.security.allow_anonymous,
    deviceLogins: credentials.any() || tls?.ca !== undefined,
    apiTokens: tokens.standing(),
  };
  const refusal = exposureRefusal(exposure);
  if (refusal) throw new SecurityRefusal(refusal);
  return { tls, exposure };
}
