#!/usr/bin/env node
// `aiops-agent` command: runs agent/main.ts through tsx (a runtime
// dependency), so the agent needs no build step.
import { register } from 'tsx/esm/api';

register();
await import('../main.ts');
