export * from './defaults';
export * from './deployment-context';
export * from './validate-stage-config';
