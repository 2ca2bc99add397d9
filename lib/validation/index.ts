export * from './control-tower-rules';
