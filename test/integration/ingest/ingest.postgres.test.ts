import { describeWithComponent, pgMissing, pgUrl } from '../../support/components.js';
import { defineIngestSuite } from './ingest-suite.js';

describeWithComponent('PostgreSQL', pgMissing, 'ingest server over PostgreSQL', () =>
  defineIngestSuite('postgres', pgUrl),
);
