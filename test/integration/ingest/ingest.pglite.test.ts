import { describe } from 'vitest';
import { defineIngestSuite } from './ingest-suite.js';

describe('ingest server over the embedded store (PGlite)', () => defineIngestSuite('pglite'));
