#!/usr/bin/env node
/**
 * CDK entry point: `cdk synth -c stage=10k` (default `1k`). Picks the stage from context and builds it;
 * everything else (context defaults, validation, stacks, cdk-nag) is in lib/blueprint.ts.
 *
 * CDK's built-in CloudFormation validation runs only with `-c validate=true` (CI, before a deploy):
 * it is most of a synth's time. cdk-nag runs on every synth.
 */
import { App } from 'aws-cdk-lib';
import { createBlueprintApp } from '../lib/blueprint';
import { CLI_CLOUDFORMATION_VALIDATION, parseBooleanContext, StageConfigError } from '../lib/config';
import { stageById } from '../stages';

/** Stage built when no `-c stage=` is given. */
const DEFAULT_STAGE = '1k';

// A throw-away app only to read the CLI's context (cdk.json and -c); it never synthesises.
const cliContext = new App({ autoSynth: false }).node;
const stage = String(cliContext.tryGetContext('stage') ?? DEFAULT_STAGE);
// An invalid value is left to createBlueprintApp, which reports it with every other problem.
const validate = parseBooleanContext(cliContext.tryGetContext('validate'));

try {
  createBlueprintApp({
    config: stageById(stage),
    ...(validate !== null ? { cloudFormationValidation: validate ?? CLI_CLOUDFORMATION_VALIDATION } : {}),
  }).synth();
} catch (error) {
  if (
    error instanceof StageConfigError ||
    (error instanceof Error && error.message.startsWith('Unknown stage'))
  ) {
    // A configuration mistake: the message says what to fix; a stack trace would only hide it.
    console.error(`Error: ${error.message}`);
    process.exit(1);
  }
  throw error;
}
