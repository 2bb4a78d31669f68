// Types for the systeminformation modules the host collector imports one by
// one instead of the package index (host-collector.ts says why). The
// functions are the package's own, with its published types.
declare module 'systeminformation/lib/memory.js' {
  import type * as si from 'systeminformation';
  export const mem: typeof si.mem;
}
declare module 'systeminformation/lib/filesystem.js' {
  import type * as si from 'systeminformation';
  export const fsSize: typeof si.fsSize;
}
declare module 'systeminformation/lib/cpu.js' {
  import type * as si from 'systeminformation';
  export const cpuTemperature: typeof si.cpuTemperature;
}
