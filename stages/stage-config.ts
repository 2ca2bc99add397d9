/**
 * The stage model lives in `lib/config/stage-config.ts` (so that `lib/` never imports `stages/`); re-exported
 * here for stage files and callers that import it from `stages/`.
 */
export * from '../lib/config/stage-config';
