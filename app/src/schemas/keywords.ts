import type Ajv from 'ajv';
import type { DataValidateFunction, DataValidationCxt } from 'ajv/dist/types';

// 8-4-4-4-12 hex digits, either case. The JSON-schema `uuid` format also takes `urn:uuid:<id>` (which
// PostgreSQL rejects: a 500), while PostgreSQL also takes braces, no hyphens and upper case (which made one
// product several cache keys). One accepted form, one stored form.
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

// PostgreSQL text cannot hold NUL (the insert fails: a 500), and a lone UTF-16 surrogate cannot be encoded
// as UTF-8 (Node silently sends U+FFFD: stored data differs from what the client sent).
// eslint-disable-next-line no-control-regex
const NUL = /\u0000/;
// A high surrogate not followed by a low one, or a low one not preceded by a high one (no `u` flag, so the
// pattern sees UTF-16 code units). String#isWellFormed is ES2024, newer than the compile target.
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Whether `text` can be stored in PostgreSQL exactly as given (no NUL, no unpaired surrogate). */
export function isStorableText(text: string): boolean {
  return !NUL.test(text) && !LONE_SURROGATE.test(text);
}

/** Canonical form of an id accepted by {@link UUID}: lower case. */
export function canonicalUuid(id: string): string | null {
  return UUID.test(id) ? id.toLowerCase() : null;
}

function replaceInParent(cxt: DataValidationCxt | undefined, value: unknown) {
  if (cxt?.parentData !== undefined && cxt.parentDataProperty !== undefined) {
    (cxt.parentData as Record<string | number, unknown>)[cxt.parentDataProperty] = value;
  }
}

/**
 * Adds the request keywords of the shop to a validator:
 *
 * - `canonicalUuid: true`: a UUID in 8-4-4-4-12 form (any case), rewritten to lower case, so that every
 *   route, cache key and query sees one form; anything else fails naming the field.
 * - `storableText: true`: text PostgreSQL can store as sent (no NUL, no unpaired surrogate).
 */
export function addShopKeywords(ajv: Ajv): Ajv {
  ajv.addKeyword({
    keyword: 'canonicalUuid',
    type: 'string',
    schemaType: 'boolean',
    modifying: true,
    errors: true,
    compile: () => {
      const validate: DataValidateFunction = (data: string, cxt) => {
        const canonical = canonicalUuid(data);
        if (canonical === null) {
          validate.errors = [
            {
              keyword: 'canonicalUuid',
              message: 'must be a UUID written as 8-4-4-4-12 hexadecimal digits',
              params: {},
            },
          ];
          return false;
        }
        replaceInParent(cxt, canonical);
        return true;
      };
      return validate;
    },
  });
  ajv.addKeyword({
    keyword: 'storableText',
    type: 'string',
    schemaType: 'boolean',
    errors: true,
    compile: () => {
      const validate: DataValidateFunction = (data: string) => {
        if (isStorableText(data)) return true;
        validate.errors = [
          {
            keyword: 'storableText',
            message: 'must not contain NUL characters or unpaired UTF-16 surrogates',
            params: {},
          },
        ];
        return false;
      };
      return validate;
    },
  });
  return ajv;
}
