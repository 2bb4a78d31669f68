import { Writable } from 'node:stream';
import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { createLogger } from './logging.js';

describe('hub logger', () => {
  it('never writes query strings or bearer tokens of requests', async () => {
    const lines: string[] = [];
    const destination = new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(chunk.toString());
        done();
      },
    });
    const logger = createLogger({ level: 'info', destination });
    const app = Fastify({ loggerInstance: logger as never });
    app.get('/x', async () => ({ ok: true }));
    await app.inject({
      url: '/x?token=LEAK-QUERY-TOKEN&api_key=LEAK-KEY',
      headers: { authorization: 'Bearer LEAK-HEADER-TOKEN' },
    });
    logger.info(
      { token: 'LEAK-FIELD-TOKEN', nested: { authorization: 'Bearer LEAK-NESTED' } },
      'with secrets',
    );
    await app.close();
    const text = lines.join('');
    expect(text).toContain('/x?[query omitted]');
    expect(text).not.toMatch(/LEAK-/);
  });
});
