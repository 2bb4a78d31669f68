/**
 * `npm ci` runs this (postinstall): prepares the embedded store's data
 * directory template (data-dir-template.ts) so the first `npm start` does
 * not spend seconds in initdb. Best effort: it never fails the install; a
 * hub without the template runs initdb itself.
 */
import { ensureTemplate } from './data-dir-template.js';

try {
  const started = performance.now();
  const { path, written } = await ensureTemplate();
  if (written) {
    console.log(
      `aiops-nextgen: embedded database template prepared in ${Math.round(performance.now() - started)} ms (${path})`,
    );
  }
} catch (err) {
  console.warn(
    `aiops-nextgen: no embedded database template (${(err as Error).message}); the hub will run initdb`,
  );
}
