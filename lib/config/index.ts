export * from './defaults';
export * from './deployment-context';
export * from './monitoring-config';
export * from './validate-stage-config';
export * from './stage-config';
export * from './naming';
export * from './event-routes';
export * from './global-routing';
