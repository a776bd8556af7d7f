/** Public surface of the configuration module. */
export {
  DEFAULT_CONFIG,
  LOG_FORMATS,
  LOG_LEVELS,
  MAX_LADDER_RUNGS,
  parseResolution,
  type Config,
  type ConfigKey,
  type GrpcConfig,
  type HttpConfig,
  type LimitsConfig,
  type LogConfig,
  type RtmpConfig,
  type RungConfig,
  type TranscodeConfig,
} from './schema.ts';
export { ENV_VARS, type EnvVar } from './env.ts';
export { loadConfig, type LoadConfigOptions } from './load.ts';
export { formatConfigYaml } from './format.ts';
