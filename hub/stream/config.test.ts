import { describe, expect, it } from 'vitest';
import { ConfigError } from '../errors.js';
import { DEFAULT_STREAM_CONFIG, resolveStreamConfig } from './config.js';

describe('resolveStreamConfig', () => {
  it('overlays overrides on the defaults', () => {
    expect(resolveStreamConfig({ flushIntervalMs: 20 })).toEqual({
      ...DEFAULT_STREAM_CONFIG,
      flushIntervalMs: 20,
    });
  });

  it('reports every problem at once', () => {
    try {
      resolveStreamConfig({ flushIntervalMs: 0, maxBufferedBytes: Number.NaN, pongTimeoutMs: 1, path: 'x' });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).problems).toHaveLength(4);
    }
  });
});
