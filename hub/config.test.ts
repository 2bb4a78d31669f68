import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadHubConfig } from './config.js';
import { renderConfigurationDoc } from './config-doc.js';
import { ConfigError } from './errors.js';

describe('loadHubConfig', () => {
  it('gives working defaults with an empty environment', () => {
    const config = loadHubConfig({});
    expect(config.httpAddress).toEqual({ host: '127.0.0.1', port: 8080 });
    expect(config.databaseUrl).toBeUndefined();
    expect(config.retentionDays).toBe(30);
    expect(config.allInOne).toBe(false);
  });

  it('lets the environment override the config file, and the file override defaults', () => {
    const dir = mkdtempSync(join(tmpdir(), 'aiops-config-'));
    const file = join(dir, 'hub.json');
    writeFileSync(file, JSON.stringify({ retentionDays: 7, logLevel: 'debug' }));
    const config = loadHubConfig({ AIOPS_CONFIG_FILE: file, AIOPS_LOG_LEVEL: 'warn' });
    expect(config.retentionDays).toBe(7);
    expect(config.logLevel).toBe('warn');
  });

  it('reads secrets from *_FILE', () => {
    const dir = mkdtempSync(join(tmpdir(), 'aiops-config-'));
    const file = join(dir, 'token');
    writeFileSync(file, 's3cret-token\n');
    expect(loadHubConfig({ AIOPS_ADMIN_TOKEN_FILE: file }).adminToken).toBe('s3cret-token');
  });

  it('reports every problem at once', () => {
    let error: unknown;
    try {
      loadHubConfig({
        AIOPS_HTTP_ADDRESS: 'nope',
        AIOPS_RETENTION_DAYS: '0',
        AIOPS_ALL_IN_ONE: 'maybe',
        AIOPS_DATABASE_URL: 'mysql://x',
        AIOPS_LOG_LEVEL: 'loud',
      });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems;
    expect(problems).toHaveLength(5);
    expect(problems.join('\n')).toMatch(/AIOPS_HTTP_ADDRESS.*host:port/);
    expect(problems.join('\n')).toMatch(/AIOPS_RETENTION_DAYS.*minimum 1/);
  });

  it('rejects unknown keys in the config file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'aiops-config-'));
    const file = join(dir, 'hub.json');
    writeFileSync(file, JSON.stringify({ retentionDayz: 7 }));
    expect(() => loadHubConfig({ AIOPS_CONFIG_FILE: file })).toThrow(/unknown setting "retentionDayz"/);
  });

  it('refuses Redis fan-out without a shared database', () => {
    expect(() => loadHubConfig({ AIOPS_REDIS_URL: 'redis://127.0.0.1:6379' })).toThrow(
      /needs AIOPS_DATABASE_URL/,
    );
    expect(
      loadHubConfig({ AIOPS_REDIS_URL: 'redis://127.0.0.1:6379', AIOPS_DATABASE_URL: 'postgres://h/db' })
        .redisUrl,
    ).toBe('redis://127.0.0.1:6379');
  });

  it('reads comma lists and refuses half-configured TLS and OIDC', () => {
    expect(
      loadHubConfig({ AIOPS_CORS_ORIGINS: 'https://a.example, https://b.example,' }).corsOrigins,
    ).toEqual(['https://a.example', 'https://b.example']);
    expect(() => loadHubConfig({ AIOPS_HTTP_TLS_CERT_FILE: '/x.crt' })).toThrow(/must be set together/);
    expect(() => loadHubConfig({ AIOPS_OIDC_ISSUER: 'https://idp.example' })).toThrow(/must be set together/);
  });

  it('parses bracketed IPv6 listen addresses', () => {
    expect(loadHubConfig({ AIOPS_GRPC_ADDRESS: '[::1]:9000' }).grpcAddress).toEqual({
      host: '::1',
      port: 9000,
    });
  });
});

describe('docs/configuration.md', () => {
  it('matches the settings table (run `npm run docs:config` to regenerate)', () => {
    const doc = readFileSync(new URL('../docs/configuration.md', import.meta.url), 'utf8');
    expect(doc).toBe(renderConfigurationDoc());
  });
});
