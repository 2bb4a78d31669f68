import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../errors.js';
import { assertSafeListeners, isLoopbackHost } from './listen-guard.js';

describe('listen guard', () => {
  it('knows loopback addresses', () => {
    for (const h of ['127.0.0.1', '127.1.2.3', 'localhost', '::1', '[::1]', '::ffff:127.0.0.1'])
      expect(isLoopbackHost(h), h).toBe(true);
    for (const h of ['0.0.0.0', '::', '10.0.0.5', 'hub.example', '::ffff:10.0.0.1', '128.0.0.1'])
      expect(isLoopbackHost(h), h).toBe(false);
  });

  it('refuses plain text on a reachable address, naming every offending listener', () => {
    try {
      assertSafeListeners([
        { name: 'HTTP API', host: '0.0.0.0', tls: false, allowInsecure: false },
        { name: 'gRPC ingest', host: '::', tls: false, allowInsecure: false },
      ]);
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).problems).toHaveLength(2);
      expect((err as ConfigError).message).toMatch(/HTTP API would listen on 0\.0\.0\.0 without TLS/);
    }
  });

  it('allows TLS anywhere, plain text on loopback, and plain text with the explicit flag', () => {
    expect(() =>
      assertSafeListeners([
        { name: 'a', host: '0.0.0.0', tls: true, allowInsecure: false },
        { name: 'b', host: '127.0.0.1', tls: false, allowInsecure: false },
        { name: 'c', host: '0.0.0.0', tls: false, allowInsecure: true },
      ]),
    ).not.toThrow();
  });
});
