import { SETTINGS } from './config.js';

/**
 * Renders docs/configuration.md from the settings table, so the document can
 * never drift from the code (a test compares them; `npm run docs:config`
 * rewrites the file).
 */
export function renderConfigurationDoc(): string {
  const rows = SETTINGS.map((s) => {
    const def = s.default === undefined ? '(unset)' : `\`${s.default}\``;
    const secret =
      'secret' in s && s.secret
        ? ' Secret: may also be read from the file named by `' + s.env + '_FILE`.'
        : '';
    return `| \`${s.env}\` | \`${s.key}\` | ${def} | ${s.description}${secret} |`;
  });
  return [
    '# Hub configuration',
    '',
    'Generated from `hub/config.ts` by `npm run docs:config`; a test fails when this file is stale.',
    '',
    'Precedence, lowest first: built-in defaults, the JSON file named by `AIOPS_CONFIG_FILE`',
    '(keys as in the second column), environment variables, command-line flags (`--all-in-one`).',
    'Secrets may come from a file named by the variable with `_FILE` appended.',
    'All problems are reported together at start-up and the hub exits with status 2.',
    '',
    '| variable | file key | default | meaning |',
    '| --- | --- | --- | --- |',
    ...rows,
    '',
    'The agent has its own settings: see `docs/agent.md`.',
    '',
  ].join('\n');
}

if (process.argv[1]?.endsWith('config-doc.ts')) {
  const { writeFileSync } = await import('node:fs');
  writeFileSync(new URL('../docs/configuration.md', import.meta.url), renderConfigurationDoc());
}
