/** eta for configuration files: no HTML escaping, no trimming; one instance per templates folder. */
import { fileURLToPath } from 'node:url';
import { Eta } from 'eta';

/**
 * A renderer for the `templates/` folder beside a module: roles call
 * `const render = templates(import.meta.url)` and then `render('squid.conf.eta', data)`.
 */
export function templates(moduleUrl: string): (name: string, data: object) => string {
  const eta = new Eta({ views: fileURLToPath(new URL('./templates/', moduleUrl)), autoEscape: false, autoTrim: false, cache: true });
  return (name, data) => eta.render(`./${name}`, data);
}
