import { createRequire } from 'node:module';

/**
 * Loads a dependency when it is first needed instead of at start-up. For
 * modules only some nodes use (the YAML parser for a YAML config file,
 * proto-loader for the kubelet PodResources API): a module that is never
 * loaded costs the agent no memory. agent/build.ts leaves these modules out
 * of the bundle, so they resolve from node_modules beside it at run time.
 */
export const lazyRequire = createRequire(import.meta.url);
