/** One eta instance for every role's templates (config files: no HTML escaping, no trimming). */
import { fileURLToPath } from 'node:url';
import { Eta } from 'eta';

export const ROLES_DIR = fileURLToPath(new URL('../../roles/', import.meta.url));
const eta = new Eta({ views: ROLES_DIR, autoEscape: false, autoTrim: false, cache: true });

/** Render roles/<role>/templates/<name>.eta with `it` = data. */
export function renderTemplate(role: string, name: string, data: object): string {
  return eta.render(`./${role}/templates/${name}`, data);
}
