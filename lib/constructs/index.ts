export * from './access-logs-bucket';
export * from './aurora-database';
export * from './aurora-proxy';
export * from './redis-cache';
export * from './shop-service';
export * from './stage-monitoring';
