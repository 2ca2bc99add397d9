export * from './data-stack';
export * from './network-stack';
export * from './service-stack';
export * from './shard-stack';
export * from './routing-stack';
export * from './routing-alarms-stack';
