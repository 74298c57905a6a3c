// How the API's routes declare what they take and what they answer: zod schemas for path,
// query, body and every status code, enforced by fastify-type-provider-zod and described from the
// same schemas at /docs. A request that breaks a schema is a 400 whose message says which
// parameter is wrong and what it takes: each schema words its own refusals (params.ts), and the
// formatter here only joins them.
import type { FastifyInstance, FastifySchemaValidationError } from 'fastify';
import { serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod';
import { z } from 'zod';

/** Zod validation and serialisation for every route registered on `app` after this. */
export function useZodSchemas(app: FastifyInstance): void {
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  app.setSchemaErrorFormatter(badRequest);
}

/** One message for every problem found, each naming its parameter; Fastify answers it with a 400. */
function badRequest(problems: FastifySchemaValidationError[]): Error {
  const messages = problems.map(({ instancePath, message = 'is not valid' }) => {
    // Every schema here names the parameter in its own words; this is for anything that does not.
    const where = instancePath.slice(1).replaceAll('/', '.');
    return where === '' || message.includes(where) ? message : `${where}: ${message}`;
  });
  return new Error([...new Set(messages)].join('; '));
}

/** The body of every refusal, whether Fastify, the access check or a route sends it. */
export const problem = z.object({
  statusCode: z.number().optional(),
  code: z
    .string()
    .optional()
    .describe('a machine-readable code, where the refusal has one (FST_ERR_VALIDATION for a bad parameter)'),
  error: z.string().describe('the HTTP status in words'),
  message: z.string().describe('what is wrong and what to do about it'),
});

/** A refusal, described for /docs. */
export const refusal = (description: string) => problem.describe(description);

export const BAD_REQUEST = refusal(
  'a parameter or the body is not valid: the message names it, shows what was given and says what is accepted',
);

/** What a route that reads the store answers during an outage (store-outage.ts). */
export const STORE_DOWN = refusal(
  'the reading store is down; nothing is lost, and the message says how many journal entries wait to be stored',
);

/** What the access check (security/api-access.ts) may answer before a route runs. */
export const ACCESS_REFUSALS = {
  401: refusal('no API token, or one the hub does not recognise (revoked or mistyped)'),
  403: refusal("the token's role does not allow this route, or the request came from a web page of another origin"),
  421: refusal('a hub without API tokens answers only to localhost, 127.0.0.1 and [::1]'),
  429: refusal(
    'more requests a minute than limits.api_requests_per_minute, from this address or with this token; Retry-After says when to try again',
  ),
};

/** Dotted paths of every field of T at every depth; arrays stand for their elements. */
type FieldPaths<T, Prefix extends string = ''> = T extends readonly (infer E)[]
  ? FieldPaths<E, Prefix>
  : T extends object
    ? { [K in keyof T & string]-?: `${Prefix}${K}` | FieldPaths<NonNullable<T[K]>, `${Prefix}${K}.`> }[keyof T & string]
    : never;

type Unmatched<A, B> = Exclude<FieldPaths<A>, FieldPaths<B>> | Exclude<FieldPaths<B>, FieldPaths<A>>;

/** Why a schema with output O cannot stand for answers of type T; unknown when it can. */
type Mismatch<T, O> = [Unmatched<T, O>] extends [never]
  ? [T] extends [O]
    ? unknown
    : { refusesSomeValuesOf: T }
  : { fieldsNotMatched: Unmatched<T, O> };

/**
 * The schema of an answer of type T. An answer is serialised through its schema, which leaves out
 * any field it does not name and turns a value it does not take into a 500: so the compiler checks
 * here that the schema names every field of T, optional ones and nested ones included, and none
 * that T lacks, and that it takes every value of T (a null where T has one, every member of a union).
 */
export function schemaOf<T>() {
  return <S extends z.ZodType<T>>(schema: S & Mismatch<T, z.output<S>>): S => schema;
}
